"""Sample data: the synthetic EMU + WISE radio galaxy cut-out (File > Open Sample).

The simulator's fixed demo cut-out (:func:`napari_radiogal.sky.demo_cutout`) is written once
as a radio and a WISE W1 FITS file into the user cache folder and then opened with the
plugin's own FITS reader, so the sample behaves exactly like the user's files: WCS, beam and
noise in the layer metadata, north up, IR reprojected onto the radio grid, an autosave
sidecar next to the radio file, and exports that name real input files.

The folder is ``$RADIOGAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/napari-radiogal``, else
``~/.cache/napari-radiogal``; files are rewritten when the package version or the simulator
changes.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["sample_cutout", "sample_paths", "cache_dir", "demo_truth"]

RADIO_NAME = "radiogal_demo_emu.fits"
IR_NAME = "radiogal_demo_wise_w1.fits"


def cache_dir() -> Path:
    """The user cache folder of napari-radiogal (created on demand)."""
    env = os.environ.get("RADIOGAL_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "napari-radiogal"


def sample_paths() -> tuple[Path, Path]:
    """Paths of the demo radio and IR FITS files, written on first use.

    Returns
    -------
    (Path, Path)
        The radio (EMU-like, Jy/beam) and infrared (WISE W1-like) FITS files.
    """
    from napari_radiogal import __version__

    folder = cache_dir() / "sample"
    radio, ir = folder / RADIO_NAME, folder / IR_NAME
    stamp = folder / "VERSION"
    if radio.exists() and ir.exists() and _stamp_is_current(stamp, __version__):
        return radio, ir
    from napari_radiogal.sky import demo_cutout, write_cutout_fits

    # write_cutout_fits writes each file atomically, so a second napari never reads half
    # a file; the stamp goes last, so an interrupted write is redone next time
    write_cutout_fits(demo_cutout(), radio, ir)
    stamp.write_text(__version__)
    log.info("wrote the demo cut-out to %s", folder)
    return radio, ir


def _stamp_is_current(stamp: Path, version: str) -> bool:
    """The files were written by this version, and after the simulator's last change."""
    import napari_radiogal.sky as sky

    if not stamp.exists() or stamp.read_text().strip() != version:
        return False
    newest_source = max(p.stat().st_mtime for p in Path(sky.__file__).parent.glob("*.py"))
    return stamp.stat().st_mtime >= newest_source


def sample_cutout():
    """npe2 sample-data command: the demo radio + WISE cut-out as two aligned Image layers."""
    from ._reader import read_fits_paths

    radio, ir = sample_paths()
    return read_fits_paths([str(radio), str(ir)])


def demo_truth(image_id: int = 1):
    """The simulator's ground truth of the demo cut-out as a :class:`CocoDataset`.

    Used by the screenshot script and the tests before a trained default model exists.
    """
    from napari_radiogal.annotations import CocoDataset
    from napari_radiogal.sky import demo_cutout

    cutout = demo_cutout()
    radio, ir = sample_paths()
    record = cutout.to_image_record(
        image_id, file_name=radio.name, radio_file=radio.name, ir_file=ir.name
    )
    return CocoDataset(
        images=[record],
        instances=list(cutout.to_instances(image_id)),
        info={"description": "ground truth of the synthetic demo cut-out (napari-radiogal sky)"},
    )
