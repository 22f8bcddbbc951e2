"""Output files of a segmentation: one table of formats, each a file suffix and a writer.

Every export of the package goes through here: ``radiogal predict`` and
:meth:`~napari_radiogal.inference.Prediction.write`, ``radiogal survey``, the napari export
button and the napari "Save Selected Layers" writers. They hand over data-model objects
only:

* ``dataset``: a :class:`~napari_radiogal.annotations.CocoDataset`, written as COCO JSON;
* ``catalogue``: an astropy :class:`~astropy.table.Table` (one row per instance, columns
  of :mod:`napari_radiogal.io.catalogue`), as ECSV, FITS binary table (``TUCDn`` /
  ``TCOMMn`` cards beside astropy's own header) and VOTable (``FIELD ucd``); the FITS table
  and the VOTable keep the table's scalar ``meta`` entries only (nested provenance stays in
  the ECSV and the COCO file);
* ``regions``: :class:`regions.Regions` (outlines and hosts), as a DS9 region file and as
  CASA CRTF (what CARTA reads, :func:`crtf_regions`), in the frame of the image's WCS.

:data:`OUTPUT_FORMATS` maps a format name to its :class:`OutputFormat`; a new format is one
more row there. Every file is written to a temporary file and renamed into place
(:mod:`napari_radiogal.io.atomic`), and :func:`write_outputs` publishes a whole set at once
(:mod:`napari_radiogal.io.outputset`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from napari_radiogal.io.atomic import atomic_copy, atomic_path, atomic_write_text

__all__ = [
    "OutputFormat",
    "OUTPUT_FORMATS",
    "DEFAULT_FORMATS",
    "COMBINED_NAMES",
    "parse_formats",
    "is_catalogue_output",
    "crtf_regions",
    "crtf_text",
    "output_names",
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
        an existing ``path`` is first kept as ``NAME.bak`` (the single-file writers).
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
    with atomic_path(path, suffix=".fits") as tmp:
        with warnings.catch_warnings():
            # meta keys longer than 8 characters become HIERARCH cards, as intended
            warnings.simplefilter("ignore", VerifyWarning)
            _scalar_meta(table).write(tmp, format="fits", overwrite=True)
        _add_column_cards(tmp, table)
    return path


def _add_column_cards(path: Path, table: Any) -> None:
    """``TUCDn`` and ``TCOMMn`` cards (the convention TOPCAT / STIL read and write).

    astropy keeps UCDs and descriptions in its own serialised header comments, which only
    astropy reads back; these cards say the same to every FITS reader.
    """
    from astropy.io import fits

    with fits.open(path, mode="update") as hdul:
        header = hdul[1].header
        for n, name in enumerate(table.colnames, start=1):
            column = table[name]
            ucd = (column.meta or {}).get("ucd")
            if ucd:
                header[f"TUCD{n}"] = ucd
            if column.description:
                header[f"TCOMM{n}"] = column.description


def _write_votable(path: Path, table: Any, backup: bool) -> Path:
    # astropy writes column.meta["ucd"] as the FIELD's ucd and the unit in VOUnit syntax
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


#: CRTF frame of an astropy frame name (CASA / CARTA take the image's own frame).
_CRTF_FRAMES = {"icrs": "icrs", "fk5": "fk5", "fk4": "fk4", "galactic": "galactic"}


def crtf_regions(regions: Any) -> tuple[Any, str]:
    """The regions as CASA / CARTA read them, and the CRTF frame to write them in.

    CASA's parser (casacore ``AnnotationBase``) takes colours as a name or six hex digits
    without ``#``, shows ``label`` (not DS9's ``text``) and draws a point as a ``symbol``;
    the frame is the one of the regions (the image's ``RADESYS``), ``image`` for pixel
    regions.

    Parameters
    ----------
    regions : regions.Regions
        Outlines and hosts with ``visual["color"]`` (``#rrggbb``), ``visual["marker"]`` and
        ``meta["text"]``.

    Returns
    -------
    (regions.Regions, str)
    """
    from regions import Regions, SkyRegion

    frame = "image"
    out = []
    for region in regions:
        if isinstance(region, SkyRegion) and frame == "image":
            coord = getattr(region, "center", None) or getattr(region, "vertices", None)
            frame = _CRTF_FRAMES.get(coord.frame.name, "icrs")
        visual = {}
        if region.visual.get("color"):
            visual["color"] = str(region.visual["color"]).lstrip("#").lower()
        if region.visual.get("marker"):
            visual["symbol"] = region.visual["marker"]
        meta = {}
        if region.meta.get("text"):
            meta["label"] = region.meta["text"]
        copy = region.copy()
        copy.meta, copy.visual = meta, visual
        out.append(copy)
    return Regions(out), frame


def crtf_text(regions: Any, frame: str) -> str:
    """CRTF text of regions, the text ``regions`` writes, at survey scale.

    ``regions`` (0.12) transforms every polygon vertex to the output frame on its own: 1.2 ms
    a vertex, over 20 minutes for the outlines of a 10k x 10k mosaic's 3,700 sources (longer
    than segmenting the mosaic). Here a polygon's vertices are converted in one call, for
    the two shapes the package writes (polygons, and points with or without a symbol) in
    the output sky frame with only ``label`` / ``color`` / ``symbol`` set; any other region
    goes through ``regions`` itself. The tests check that the text is byte for byte the one
    ``regions`` writes.

    Parameters
    ----------
    regions : regions.Regions
        As :func:`crtf_regions` returns them.
    frame : str
        The CRTF frame (:func:`crtf_regions`).

    Returns
    -------
    str
    """
    from regions import PointSkyRegion, PolygonSkyRegion, Regions

    # the header (and its frame name) as regions writes it
    lines = Regions([]).serialize(format="crtf", coordsys=frame).splitlines()
    for region in regions:
        coord = None
        if (
            isinstance(region, (PolygonSkyRegion, PointSkyRegion))
            and frame in _CRTF_FRAMES.values()
            and set(region.meta) <= {"label"}
            and set(region.visual) <= {"color", "symbol"}
            and all(str(v) for v in (*region.meta.values(), *region.visual.values()))
        ):
            coord = region.vertices if isinstance(region, PolygonSkyRegion) else region.center
        if coord is None or coord.frame.name != frame:
            text = Regions([region]).serialize(format="crtf", coordsys=frame)
            lines.extend(text.splitlines()[2:])  # without its header
            continue
        sph = coord.spherical
        lon, lat = sph.lon.deg, sph.lat.deg
        if isinstance(region, PolygonSkyRegion):
            pairs = ", ".join(f"[{x:.6f}deg, {y:.6f}deg]" for x, y in zip(lon, lat, strict=True))
            line = f"poly[{pairs}]"
        elif "symbol" in region.visual:
            line = f"symbol[[{float(lon):.6f}deg, {float(lat):.6f}deg], {region.visual['symbol']}]"
        else:
            line = f"point[[{float(lon):.6f}deg, {float(lat):.6f}deg]]"
        meta = [f"label='{region.meta['label']}'"] if region.meta.get("label") else []
        if "color" in region.visual:
            meta.append(f"color={region.visual['color']}")
        lines.append(", ".join([line, *meta]))
    return "\n".join(lines) + "\n"


def _write_crtf(path: Path, regions: Any, backup: bool) -> Path:
    casa, frame = crtf_regions(regions)
    text = crtf_text(casa, frame)
    if backup:
        keep_backup(path)
    return atomic_write_text(path, text)


#: Format name -> :class:`OutputFormat`, in the order :func:`write_outputs` writes them.
OUTPUT_FORMATS: dict[str, OutputFormat] = {
    fmt.name: fmt
    for fmt in (
        OutputFormat("coco", ".json", "dataset", _write_coco_json, "COCO JSON annotations"),
        OutputFormat("catalogue", ".ecsv", "catalogue", _write_ecsv, "ECSV catalogue"),
        # .cat.fits: never the name of the radio image STEM.fits beside it
        OutputFormat(
            "catalogue_fits", ".cat.fits", "catalogue", _write_fits_table, "FITS table catalogue"
        ),
        OutputFormat("catalogue_votable", ".vot", "catalogue", _write_votable, "VOTable catalogue"),
        OutputFormat("regions", ".reg", "regions", _write_ds9, "DS9 regions"),
        OutputFormat("regions_crtf", ".crtf", "regions", _write_crtf, "CASA / CARTA CRTF regions"),
    )
}

#: The files every prediction writer writes unless told otherwise: all of them (they cost
#: little beside the inference, and each tool reads its own: TOPCAT the VOTable, CARTA the
#: CRTF, DS9 the .reg, astropy / pandas the ECSV, radiogal evaluate the COCO file).
DEFAULT_FORMATS: tuple[str, ...] = tuple(OUTPUT_FORMATS)

#: File names of a set covering many images (``radiogal predict`` over several files or
#: ``--data``): one COCO file, one catalogue, one region file.
COMBINED_NAMES: dict[str, str] = {
    "coco": "predictions.json",
    "catalogue": "catalogue.ecsv",
    "catalogue_fits": "catalogue.fits",
    "catalogue_votable": "catalogue.vot",
    "regions": "regions.reg",
    "regions_crtf": "regions.crtf",
}


def is_catalogue_output(path: str | os.PathLike) -> bool:
    """Whether a FITS file is one of our catalogue tables (``*.cat.fits``, ``catalogue.fits``),
    which a folder of images given to ``radiogal predict`` must not take for an image.

    Examples
    --------
    >>> is_catalogue_output("out/field.cat.fits"), is_catalogue_output("field.fits")
    (True, False)
    """
    name = Path(path).name.lower()
    return name.endswith(OUTPUT_FORMATS["catalogue_fits"].suffix) or name in {
        COMBINED_NAMES["catalogue_fits"]
    }


def parse_formats(text: str) -> tuple[str, ...]:
    """Format names from a comma-separated list (``all``: every format).

    Accepts the names of :data:`OUTPUT_FORMATS` and the short names ``json``, ``ecsv``,
    ``fits``, ``vot`` / ``votable``, ``reg`` / ``ds9`` and ``crtf``.

    Examples
    --------
    >>> parse_formats("json,ecsv,reg")
    ('coco', 'catalogue', 'regions')
    >>> parse_formats("all") == DEFAULT_FORMATS
    True
    """
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    if names == ["all"]:
        return DEFAULT_FORMATS
    out = []
    for name in names:
        full = _SHORT_NAMES.get(name, name)
        _format(full)
        if full not in out:
            out.append(full)
    if not out:
        raise ValueError(f"no output format in {text!r}; use e.g. json,ecsv,vot,reg or all")
    return tuple(out)


_SHORT_NAMES = {
    "json": "coco",
    "ecsv": "catalogue",
    "fits": "catalogue_fits",
    "vot": "catalogue_votable",
    "votable": "catalogue_votable",
    "reg": "regions",
    "ds9": "regions",
    "crtf": "regions_crtf",
}


def _format(name: str) -> OutputFormat:
    try:
        return OUTPUT_FORMATS[name]
    except KeyError:
        raise ValueError(
            f"unknown output format {name!r}; use one of {list(OUTPUT_FORMATS)} "
            f"(or {', '.join(_SHORT_NAMES)})"
        ) from None


def output_names(stem: str, formats: Sequence[str] = DEFAULT_FORMATS) -> dict[str, str]:
    """File names of a set: ``{format name: stem + suffix}``.

    Examples
    --------
    >>> output_names("field", ["coco", "catalogue_fits", "regions"])
    {'coco': 'field.json', 'catalogue_fits': 'field.cat.fits', 'regions': 'field.reg'}
    """
    return {name: f"{stem}{_format(name).suffix}" for name in formats}


def output_paths(
    out_dir: str | os.PathLike,
    stem: str,
    formats: Sequence[str] = DEFAULT_FORMATS,
    *,
    names: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Where :func:`write_outputs` puts each format: ``{name: out_dir / file name}``.

    Parameters
    ----------
    out_dir : path-like
    stem : str
    formats : sequence of str
    names : mapping, optional
        File name of each format (e.g. :data:`COMBINED_NAMES`) instead of ``stem + suffix``.

    Examples
    --------
    >>> {k: p.name for k, p in output_paths("out", "field", ["coco", "regions"]).items()}
    {'coco': 'field.json', 'regions': 'field.reg'}
    """
    out = Path(out_dir)
    files = output_names(stem, formats) if names is None else {n: names[n] for n in formats}
    return {name: out / file for name, file in files.items()}


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
    names: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Write the output set ``STEM + suffix`` in ``out_dir`` for each of ``formats``, as one.

    The files are staged, committed and published together (:func:`~napari_radiogal.io.
    outputset.write_set`) under the folder's lock: a crash leaves the previous set or the
    new one, never a mix. An existing set is kept as ``NAME.bak`` (every file of it,
    including formats not written this time, which are then removed).

    Parameters
    ----------
    out_dir : path-like
        Created if needed.
    stem : str
        File name without suffix; also the set's name.
    dataset : CocoDataset, optional
        For the ``"dataset"`` formats (COCO JSON).
    catalogue : astropy.table.Table, optional
        For the ``"catalogue"`` formats (ECSV, FITS table, VOTable).
    regions : regions.Regions, optional
        For the ``"regions"`` formats (DS9, CRTF).
    formats : sequence of str
        Keys of :data:`OUTPUT_FORMATS`, written in this order.
    names : mapping, optional
        File name of every format (e.g. :data:`COMBINED_NAMES`) instead of ``stem + suffix``.

    Returns
    -------
    dict
        ``{name: Path}`` in the order of ``formats``.

    Raises
    ------
    ValueError
        For an unknown format, or when the object a format needs was not given (before
        anything is written).
    StorageError
        When another process is writing into ``out_dir``.
    """
    from napari_radiogal.io.outputset import write_set

    contents = {"dataset": dataset, "catalogue": catalogue, "regions": regions}
    paths = output_paths(out_dir, stem, formats, names=names)
    for name in formats:
        what = OUTPUT_FORMATS[name].content
        if contents[what] is None:
            raise ValueError(
                f"the {name!r} format writes the {what}; pass {what}=... or leave {name!r} "
                "out of formats"
            )

    def writer(name: str) -> Callable[[Path], Any]:
        return lambda path: write_output(path, name, contents[OUTPUT_FORMATS[name].content])

    every = output_paths(out_dir, stem, list(OUTPUT_FORMATS), names=names)
    write_set(
        out_dir,
        stem,
        {path.name: writer(name) for name, path in paths.items()},
        also_retire=[p.name for p in every.values()],
    )
    return paths
