"""Many FITS files at once: expand files, folders and globs; pair radio with infrared images.

What ``radiogal predict a.fits b.fits``, ``radiogal predict cutouts/`` and
``radiogal predict "sky/*.fits"`` read, and how the infrared (WISE W1) image of each radio
image is found:

1. **Which file is which**: :func:`~napari_radiogal.io.surveys.fits_kind` reads each header
   (``BUNIT`` in Jy, a beam or a frequency axis: radio; a zero point ``MAGZP``, ``BUNIT``
   in DN / nanomaggies, a WISE ``TELESCOP``: infrared; the file name as a last clue).
2. **Which infrared goes with which radio image**, in this order:

   * an explicit table (``--pairs PAIRS.csv``: columns ``radio`` and ``ir``, paths relative
     to the table's folder; an empty ``ir`` = radio only);
   * **by sky**: the infrared image whose footprint contains the radio image's centre, the
     one whose centre is nearest if several do. One infrared image may serve several radio
     images (a W1 tile under many radio cut-outs);
   * **by name**, for images without a celestial WCS: the infrared file whose stem is the
     radio stem with an ``_ir``, ``_w1``, ``_wise`` (or ``-``) suffix, or both stems equal
     once ``_radio`` / ``_ir`` (...) are removed.

   A radio image with no infrared image runs radio-only (hosts from the radio core); an
   infrared image that serves no radio image is reported.

:func:`pair_by_name` is the header-free shortcut of the napari image browser, for folders of
thousands of cut-outs: when the names alone pair every file (``NAME.fits`` or
``NAME_radio.fits`` with ``NAME_w1.fits``, and so on), no file is opened.

Only headers are read here (memory-mapped, no pixel data), so pairing a folder of a
thousand cut-outs takes a second.
"""

from __future__ import annotations

import csv
import glob
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_radiogal.errors import ConfigError
from napari_radiogal.io.export import is_catalogue_output
from napari_radiogal.io.paths import fits_stem, is_fits_path
from napari_radiogal.io.surveys import fits_kind

__all__ = [
    "ImagePair",
    "expand_fits_inputs",
    "pair_by_name",
    "pair_images",
    "read_image_header",
]

log = logging.getLogger(__name__)

#: Name suffixes that mark one image of a radio / infrared pair (compared in lower case).
KIND_SUFFIXES = ("_radio", "-radio", "_ir", "-ir", "_w1", "-w1", "_wise", "-wise", "_irac")
#: The entries of :data:`KIND_SUFFIXES` that mark the radio image.
RADIO_SUFFIXES = ("_radio", "-radio")


@dataclass(frozen=True)
class ImagePair:
    """A radio image and the infrared image that goes with it (``None``: radio only)."""

    radio: Path
    infrared: Path | None = None


def read_image_header(path: str | os.PathLike):
    """The header of the HDU the readers read by default (the largest image,
    :func:`~napari_radiogal.io.fits.reader.image_hdus`), else of the primary HDU.

    Only headers are read.

    Parameters
    ----------
    path : path-like
        A FITS file.

    Returns
    -------
    astropy.io.fits.Header
        A copy, usable after the file is closed.
    """
    from astropy.io import fits

    from napari_radiogal.io.fits.reader import image_hdus

    with fits.open(path, memmap=True) as hdul:
        images = image_hdus(hdul)
        return (images[0][1] if images else hdul[0]).header.copy()


def _fits_inputs_in(folder: Path) -> list[Path]:
    """The FITS images directly in ``folder`` (not its sub-folders, not our own catalogue
    outputs), sorted by name."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and is_fits_path(p) and not is_catalogue_output(p)
    )


def _empty_folder_hint(folder: Path) -> str:
    """What to give instead of a folder without FITS files of its own (sub-folders are not
    searched: a survey tree would be read whole by mistake)."""
    if (folder / "annotations").is_dir():
        return f" It looks like a data set (it holds annotations/): use --data {folder}."
    subfolders = [p for p in sorted(folder.iterdir()) if p.is_dir() and _fits_inputs_in(p)][:3]
    if not subfolders:
        return ""
    names = ", ".join(p.name for p in subfolders)
    return (
        f" Sub-folders with FITS files: {names}; give them instead: "
        + " ".join(str(p) for p in subfolders)
        + "."
    )


def expand_fits_inputs(items: Iterable[str | os.PathLike]) -> list[Path]:
    """Files, folders and glob patterns as one sorted list of FITS files.

    Parameters
    ----------
    items : iterable of path-like or str
        A FITS file; a folder (its FITS files, not its sub-folders); or a glob pattern
        (``*``, ``?``, ``[...]``; expanded here too, for shells that do not, and for quoted
        patterns).

    Returns
    -------
    list of Path
        Each file once, in the order the items were given (a folder's or pattern's files
        sorted by name).

    Raises
    ------
    ConfigError
        An item that does not exist, matches nothing, or is not a FITS file.
    """
    out: list[Path] = []
    for item in items:
        text = os.fspath(item)
        path = Path(text)
        if path.is_dir():
            found = _fits_inputs_in(path)
            if not found:
                raise ConfigError(
                    f"{path}: the folder holds no FITS file (.fits, .fits.gz ...)."
                    + _empty_folder_hint(path)
                )
        elif path.is_file():
            if not is_fits_path(path):
                raise ConfigError(
                    f"{path}: not a FITS file by its name (.fits, .fit, .fts, .fits.gz, "
                    ".fits.fz); for a COCO data set use --data."
                )
            found = [path]
        elif glob.has_magic(text):
            found = sorted(
                Path(p) for p in glob.glob(text) if is_fits_path(p) and not is_catalogue_output(p)
            )
            if not found:
                raise ConfigError(f"{text}: the pattern matches no FITS file.")
        else:
            raise ConfigError(f"{path}: no such file or folder.")
        out += [p for p in found if p not in out]
    return out


def pair_images(
    paths: Sequence[str | os.PathLike], *, pairs_csv: str | os.PathLike | None = None
) -> list[ImagePair]:
    """Sort FITS files into radio images, each with its infrared image (module docstring).

    Parameters
    ----------
    paths : sequence of path-like
        FITS files (:func:`expand_fits_inputs`); ignored when ``pairs_csv`` is given.
    pairs_csv : path-like, optional
        A table with columns ``radio`` and ``ir`` that says it explicitly.

    Returns
    -------
    list of ImagePair
        One per radio image, in the order of ``paths`` (or of the table).

    Raises
    ------
    ConfigError
        No radio image among the files; a table without the columns or naming missing files.
    """
    if pairs_csv is not None:
        return _pairs_from_table(Path(pairs_csv))
    headers = {Path(p): read_image_header(p) for p in paths}  # each file's header once
    kinds = {p: fits_kind(h, p) for p, h in headers.items()}
    radios = [p for p, k in kinds.items() if k == "radio"]
    irs = [p for p, k in kinds.items() if k == "infrared"]
    if not radios:
        raise ConfigError(
            f"none of the {len(kinds)} FITS file(s) looks like a radio image (all read as "
            "infrared by their headers: MAGZP, BUNIT DN/nanomaggies, TELESCOP WISE). Give the "
            "radio images too, or say which is which with --pairs PAIRS.csv."
        )
    footprints = {p: _footprint(headers[p]) for p in irs}
    pairs = [ImagePair(r, _infrared_for(r, _footprint(headers[r]), footprints)) for r in radios]
    unused = sorted(set(irs) - {p.infrared for p in pairs})
    if unused:
        log.warning(
            "%d infrared image(s) match no radio image by sky or by name and are not used: %s",
            len(unused),
            ", ".join(p.name for p in unused),
        )
    return pairs


def _pairs_from_table(path: Path) -> list[ImagePair]:
    if not path.is_file():
        raise ConfigError(f"--pairs {path}: no such file.")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    columns = set(rows[0]) if rows else set()
    if not {"radio", "ir"} <= columns:
        raise ConfigError(
            f"--pairs {path}: expected a CSV table with the columns 'radio' and 'ir' (one "
            f"row per radio image; an empty ir = radio only); found columns {sorted(columns)}."
        )
    pairs, missing = [], []
    for row in rows:
        radio = path.parent / row["radio"].strip()
        ir = path.parent / row["ir"].strip() if (row["ir"] or "").strip() else None
        missing += [str(p) for p in (radio, ir) if p is not None and not p.is_file()]
        pairs.append(ImagePair(radio, ir))
    if missing:
        raise ConfigError(f"--pairs {path}: these files do not exist: {', '.join(missing)}.")
    return pairs


def _footprint(header):
    """``(wcs, (ny, nx))`` of an image header's celestial WCS, or ``None`` when it has none."""
    from astropy.wcs import WCS

    try:
        wcs = WCS(header).celestial
    except Exception:  # a malformed WCS is "no WCS" here: the reader says why, later
        return None
    if not wcs.has_celestial or wcs.naxis != 2:
        return None
    return wcs, (int(header.get("NAXIS2", 0)), int(header.get("NAXIS1", 0)))


def _infrared_for(radio: Path, radio_footprint, footprints: dict) -> Path | None:
    """The infrared image of ``radio``: by sky if both have a WCS, else by name."""
    centre = _sky_centre(radio_footprint)
    if centre is not None:
        best, best_distance = None, np.inf
        for ir, fp in footprints.items():
            if fp is None:
                continue
            wcs, (ny, nx) = fp
            x, y = wcs.world_to_pixel(centre)
            if not (-0.5 <= x <= nx - 0.5 and -0.5 <= y <= ny - 0.5):
                continue
            distance = np.hypot(x - (nx - 1) / 2, y - (ny - 1) / 2)
            if distance < best_distance:
                best, best_distance = ir, distance
        if best is not None:
            return best
    return _by_name(radio, [ir for ir, fp in footprints.items() if fp is None or centre is None])


def _sky_centre(fp):
    if fp is None:
        return None
    wcs, (ny, nx) = fp
    return wcs.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)


def _bare(stem: str) -> str:
    """A stem without one trailing :data:`KIND_SUFFIXES` entry (lower case)."""
    low = stem.lower()
    for suffix in KIND_SUFFIXES:
        if low.endswith(suffix):
            return low[: -len(suffix)]
    return low


def _by_name(radio: Path, candidates: list[Path]) -> Path | None:
    bare = _bare(fits_stem(radio))
    for ir in candidates:
        if _bare(fits_stem(ir)) == bare:
            return ir
    return None


def pair_by_name(paths: Sequence[str | os.PathLike]) -> list[ImagePair] | None:
    """Pair radio and infrared files by their names alone, when the names decide.

    No file is opened. The names decide when every file has exactly one partner with the
    same stem once a :data:`KIND_SUFFIXES` entry is removed, and one of the two carries an
    infrared suffix (``_ir``, ``_w1``, ``_wise``, ``_irac``, or with ``-``): ``a.fits`` or
    ``a_radio.fits`` goes with ``a_w1.fits``.

    Parameters
    ----------
    paths : sequence of path-like
        FITS files (:func:`expand_fits_inputs`).

    Returns
    -------
    list of ImagePair or None
        One pair per radio file, in the order of ``paths``; ``None`` when the names do not
        pair every file (a radio-only image, an infrared tile under several cut-outs): then
        :func:`pair_images` decides from the headers.

    Raises
    ------
    ConfigError
        Names that pair ambiguously: one stem shared by two infrared files, or by more
        than one radio file and an infrared file.

    Examples
    --------
    >>> pair_by_name(["a.fits", "a_w1.fits", "b_radio.fits", "b_w1.fits"])
    [ImagePair(radio=PosixPath('a.fits'), infrared=PosixPath('a_w1.fits')), \
ImagePair(radio=PosixPath('b_radio.fits'), infrared=PosixPath('b_w1.fits'))]
    >>> pair_by_name(["a.fits", "b.fits"]) is None
    True
    """
    groups: dict[str, list[Path]] = {}
    for p in map(Path, paths):
        groups.setdefault(_bare(fits_stem(p)), []).append(p)
    pairs = []
    for group in groups.values():
        irs = [p for p in group if _named_infrared(p)]
        radios = [p for p in group if not _named_infrared(p)]
        if irs and (len(irs) > 1 or len(radios) > 1):
            raise ConfigError(
                f"ambiguous radio/infrared pairing by name: {', '.join(p.name for p in group)} "
                "share one name once the suffix is removed. The rule: NAME.fits (or "
                "NAME_radio.fits) goes with one NAME_w1.fits (or _ir, _wise, _irac). Rename "
                "the files, or list the pairs in a pairs.csv table (columns radio and ir)."
            )
        if len(irs) != 1 or len(radios) != 1:
            return None
        pairs.append(ImagePair(radios[0], irs[0]))
    return pairs


def _named_infrared(path: Path) -> bool:
    """Whether a file name ends with an infrared entry of :data:`KIND_SUFFIXES`."""
    low = fits_stem(path).lower()
    return any(low.endswith(s) for s in KIND_SUFFIXES if s not in RADIO_SUFFIXES)
