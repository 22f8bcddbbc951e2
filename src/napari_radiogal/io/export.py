"""Output files of a segmentation: one table of formats, each a file suffix and a writer.

Every export of the package goes through here: ``radiogal predict`` and
:meth:`~napari_radiogal.inference.Prediction.write`, the napari export button and the napari
"Save Selected Layers" writers. They hand over data-model objects only:

* ``dataset``: a :class:`~napari_radiogal.annotations.CocoDataset`, written as COCO JSON;
* ``catalogue``: an astropy :class:`~astropy.table.Table` (one row per instance), as ECSV;
* ``regions``: :class:`regions.Regions` (outlines and hosts), as a DS9 region file, or
  CASA CRTF.

The catalogue is also written as a FITS binary table and a VOTable (``radiogal survey``);
both keep the table's scalar ``meta`` entries only (nested provenance stays in the ECSV).

:data:`OUTPUT_FORMATS` maps a format name to its :class:`OutputFormat`; a new format is one
more row there. Every file is written to a
temporary file in its folder and renamed into place (:mod:`napari_radiogal.io.atomic`), so a
crash never leaves a half-written file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from napari_radiogal.io.atomic import atomic_copy, atomic_path, atomic_write_text

__all__ = [
    "OutputFormat",
    "OUTPUT_FORMATS",
    "DEFAULT_FORMATS",
    "output_paths",
    "write_output",
    "write_outputs",
    "write_table",
    "keep_backup",
]

log = logging.getLogger(__name__)

#: What a format writes: the COCO dataset, the catalogue table or the regions.
Content = Literal["dataset", "catalogue", "regions"]


@dataclass(frozen=True)
class OutputFormat:
    """One output file type.

    Attributes
    ----------
    name : str
        Key in :data:`OUTPUT_FORMATS` and in the ``{name: Path}`` that the writers return.
    suffix : str
        File name suffix, with its dot (``STEM + suffix``).
    content : {"dataset", "catalogue", "regions"}
        Which of the objects handed to :func:`write_outputs` the file holds.
    write : callable
        ``write(path, obj, backup)`` writes ``obj`` to ``path`` atomically; with ``backup``
        an existing ``path`` is first kept as ``NAME.bak``.
    description : str
        One line for help texts.
    """

    name: str
    suffix: str
    content: Content
    write: Callable[[Path, Any, bool], Any]
    description: str


def keep_backup(path: str | os.PathLike) -> Path | None:
    """Keep an existing file as ``NAME.bak`` (replacing an older one) before it is overwritten.

    Returns
    -------
    Path or None
        The backup, or ``None`` when ``path`` did not exist.
    """
    path = Path(path)
    if not path.exists():
        return None
    bak = path.with_name(path.name + ".bak")
    atomic_copy(path, bak)
    log.info("kept the previous %s as %s", path.name, bak.name)
    return bak


def write_table(table: Any, path: str | os.PathLike, *, backup: bool = False) -> Path:
    """Write an astropy Table as ECSV atomically (temp file in the same folder, then rename).

    Parameters
    ----------
    table : astropy.table.Table
    path : path-like
    backup : bool
        Keep an existing file as ``NAME.bak`` first (see :func:`keep_backup`).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    if backup:
        keep_backup(path)
    with atomic_path(path, suffix=".ecsv") as tmp:
        table.write(tmp, format="ascii.ecsv", overwrite=True)
    return path


def _write_coco_json(path: Path, dataset: Any, backup: bool) -> Path:
    from napari_radiogal.io.coco import write_coco

    # write_coco validates the dataset before it touches the backup
    return write_coco(path, dataset, backup=backup)


def _write_ecsv(path: Path, table: Any, backup: bool) -> Path:
    return write_table(table, path, backup=backup)


def _scalar_meta(table: Any) -> Any:
    """A copy of the table whose ``meta`` keeps str / int / float / bool values only."""
    out = table.copy(copy_data=False)
    out.meta = {k: v for k, v in table.meta.items() if isinstance(v, (str, int, float, bool))}
    return out


def _write_fits_table(path: Path, table: Any, backup: bool) -> Path:
    import warnings

    from astropy.io.fits.verify import VerifyWarning

    if backup:
        keep_backup(path)
    with atomic_path(path, suffix=".fits") as tmp, warnings.catch_warnings():
        # meta keys longer than 8 characters become HIERARCH cards, as intended
        warnings.simplefilter("ignore", VerifyWarning)
        _scalar_meta(table).write(tmp, format="fits", overwrite=True)
    return path


def _write_votable(path: Path, table: Any, backup: bool) -> Path:
    if backup:
        keep_backup(path)
    with atomic_path(path, suffix=".vot") as tmp:
        _scalar_meta(table).write(tmp, format="votable", overwrite=True)
    return path


def _write_ds9(path: Path, regions: Any, backup: bool) -> Path:
    text = regions.serialize(format="ds9")
    if backup:
        keep_backup(path)
    return atomic_write_text(path, text)


def _write_crtf(path: Path, regions: Any, backup: bool) -> Path:
    text = regions.serialize(format="crtf")
    if backup:
        keep_backup(path)
    return atomic_write_text(path, text)


#: Format name -> :class:`OutputFormat`, in the order :func:`write_outputs` writes them.
OUTPUT_FORMATS: dict[str, OutputFormat] = {
    fmt.name: fmt
    for fmt in (
        OutputFormat("coco", ".json", "dataset", _write_coco_json, "COCO JSON annotations"),
        OutputFormat("catalogue", ".ecsv", "catalogue", _write_ecsv, "ECSV catalogue"),
        OutputFormat("regions", ".reg", "regions", _write_ds9, "DS9 regions"),
        OutputFormat(
            "catalogue_fits", ".fits", "catalogue", _write_fits_table, "FITS table catalogue"
        ),
        OutputFormat("catalogue_votable", ".vot", "catalogue", _write_votable, "VOTable catalogue"),
        OutputFormat("regions_crtf", ".crtf", "regions", _write_crtf, "CASA CRTF regions"),
    )
}

#: The files ``radiogal predict`` and the napari export write.
DEFAULT_FORMATS: tuple[str, ...] = ("coco", "catalogue", "regions")


def _format(name: str) -> OutputFormat:
    try:
        return OUTPUT_FORMATS[name]
    except KeyError:
        raise ValueError(
            f"unknown output format {name!r}; use one of {list(OUTPUT_FORMATS)}"
        ) from None


def output_paths(
    out_dir: str | os.PathLike, stem: str, formats: Sequence[str] = DEFAULT_FORMATS
) -> dict[str, Path]:
    """Where :func:`write_outputs` puts each format: ``{name: out_dir / (stem + suffix)}``.

    Examples
    --------
    >>> {k: p.name for k, p in output_paths("out", "field").items()}
    {'coco': 'field.json', 'catalogue': 'field.ecsv', 'regions': 'field.reg'}
    """
    out = Path(out_dir)
    return {name: out / f"{stem}{_format(name).suffix}" for name in formats}


def write_output(path: str | os.PathLike, name: str, obj: Any, *, backup: bool = False) -> Path:
    """Write one object in one format to an exact path (atomically).

    Parameters
    ----------
    path : path-like
        The file (its suffix is not checked: the napari writers keep what the user typed).
    name : str
        A key of :data:`OUTPUT_FORMATS`.
    obj : CocoDataset, astropy.table.Table or regions.Regions
        What the format's ``content`` says.
    backup : bool
        Keep an existing file as ``NAME.bak`` first.

    Returns
    -------
    Path
    """
    path = Path(path)
    _format(name).write(path, obj, backup)
    return path


def write_outputs(
    out_dir: str | os.PathLike,
    stem: str,
    *,
    dataset: Any = None,
    catalogue: Any = None,
    regions: Any = None,
    formats: Sequence[str] = DEFAULT_FORMATS,
    backup: Collection[str] = (),
) -> dict[str, Path]:
    """Write ``STEM + suffix`` in ``out_dir`` for each of ``formats``.

    Parameters
    ----------
    out_dir : path-like
        Created if needed.
    stem : str
        File name without suffix.
    dataset : CocoDataset, optional
        For the ``"dataset"`` formats (COCO JSON).
    catalogue : astropy.table.Table, optional
        For the ``"catalogue"`` formats (ECSV).
    regions : regions.Regions, optional
        For the ``"regions"`` formats (DS9).
    formats : sequence of str
        Keys of :data:`OUTPUT_FORMATS`, written in this order.
    backup : collection of str
        Formats whose existing file is kept as ``NAME.bak`` (the napari export keeps the
        hand-corrected COCO file; the catalogue and regions are derived from it).

    Returns
    -------
    dict
        ``{name: Path}`` in the order of ``formats``.

    Raises
    ------
    ValueError
        For an unknown format, or when the object a format needs was not given.
    """
    contents = {"dataset": dataset, "catalogue": catalogue, "regions": regions}
    paths = output_paths(out_dir, stem, formats)
    for name in formats:
        what = OUTPUT_FORMATS[name].content
        if contents[what] is None:
            raise ValueError(
                f"the {name!r} format writes the {what}; pass {what}=... or leave {name!r} "
                "out of formats"
            )
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for name, path in paths.items():
        write_output(path, name, contents[OUTPUT_FORMATS[name].content], backup=name in backup)
    return paths
