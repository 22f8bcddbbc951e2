"""The catalogue columns, in one place: name, unit, UCD, description and type of each.

Three catalogues are built from these definitions: the one of ``radiogal predict`` (one row
per instance of one or many images, :func:`napari_radiogal.inference.catalogue`), the one
of ``radiogal survey`` (one row per consolidated source of a mosaic) and the napari export
(the prediction's columns plus ``reviewed`` and ``drawn``). Each picks its columns from
:data:`COLUMNS` by name (:data:`PREDICTION_COLUMNS`, :data:`SURVEY_COLUMNS`,
:data:`ANNOTATION_COLUMNS`) and :func:`catalogue_table` turns rows into an astropy
:class:`~astropy.table.Table` whose columns carry the unit, the description and the UCD
(``column.meta["ucd"]``, written by astropy as the VOTable ``FIELD ucd`` and kept in the
FITS and ECSV headers).

Pixel positions are ``(x, y)`` = ``(col, row)``, 0-based, at pixel centres; sky positions
are degrees in the frame of the image's WCS (its ``RADESYS``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "CatalogueColumn",
    "COLUMNS",
    "PREDICTION_COLUMNS",
    "ANNOTATION_COLUMNS",
    "SURVEY_COLUMNS",
    "DEFAULT_NAME_PREFIX",
    "SCORE_DESCRIPTION",
    "source_name",
    "catalogue_table",
]

#: Prefix of the IAU-style source names (``RG Jhhmmss.s+ddmmss``).
DEFAULT_NAME_PREFIX = "RG"

#: What the ``score`` column is, said where a catalogue user sees it.
SCORE_DESCRIPTION = (
    "detection score in [0, 1], for ranking (COCO AP) and thresholds, not a probability: "
    "the image-level class probability times the peak, inside the mask, of the instance's "
    "class activation map after the random walk (each class map normalised to peak 1); "
    "an island no class map claimed scores below every claimed instance of its image; "
    "NaN for an instance drawn by hand (see drawn)"
)


@dataclass(frozen=True)
class CatalogueColumn:
    """One catalogue column.

    Attributes
    ----------
    name : str
    unit : str or None
        An astropy unit string (``"deg"``, ``"pix2"``, ``"Jy/beam"``), ``None`` when
        dimensionless.
    ucd : str
        IVOA Unified Content Descriptor (UCD1+), e.g. ``"pos.eq.ra;meta.main"``.
    description : str
    dtype : {"float", "int", "str", "bool"}
    """

    name: str
    unit: str | None
    ucd: str
    description: str
    dtype: str = "float"


def _columns(*columns: CatalogueColumn) -> dict[str, CatalogueColumn]:
    return {c.name: c for c in columns}


_PIX_X = "pos.cartesian.x;instr.pixel"
_PIX_Y = "pos.cartesian.y;instr.pixel"

#: Every catalogue column, by name.
COLUMNS: dict[str, CatalogueColumn] = _columns(
    CatalogueColumn(
        "name",
        None,
        "meta.id;meta.main",
        "IAU-style source name from the centroid's position, truncated: PREFIX "
        "Jhhmmss.s+ddmmss (empty without a sky position)",
        "str",
    ),
    CatalogueColumn("source_id", None, "meta.id", "row number, 1..N in (RA, Dec) order", "int"),
    CatalogueColumn("image_id", None, "meta.id", "COCO id of the image", "int"),
    CatalogueColumn("file_name", None, "meta.file", "image file", "str"),
    CatalogueColumn("id", None, "meta.id", "instance id (COCO annotation id)", "int"),
    CatalogueColumn("class", None, "src.morph.type", "predicted class", "str"),
    CatalogueColumn("category_id", None, "meta.code.class", "COCO category id of the class", "int"),
    CatalogueColumn("score", None, "meta.code.qual", SCORE_DESCRIPTION),
    CatalogueColumn(
        "class_probability",
        None,
        "stat.probability",
        "image-level classifier probability (sigmoid) of the class, for the image (or the "
        "survey window) the instance was found in; NaN for an instance drawn by hand",
    ),
    CatalogueColumn("x", "pix", _PIX_X, "brightness-weighted centroid of the mask, column"),
    CatalogueColumn("y", "pix", _PIX_Y, "brightness-weighted centroid of the mask, row"),
    CatalogueColumn(
        "ra", "deg", "pos.eq.ra;meta.main", "right ascension of the brightness-weighted centroid"
    ),
    CatalogueColumn(
        "dec", "deg", "pos.eq.dec;meta.main", "declination of the brightness-weighted centroid"
    ),
    CatalogueColumn("host_x", "pix", _PIX_X, "host galaxy, column (NaN: no host)"),
    CatalogueColumn("host_y", "pix", _PIX_Y, "host galaxy, row (NaN: no host)"),
    CatalogueColumn("host_ra", "deg", "pos.eq.ra", "host galaxy, right ascension"),
    CatalogueColumn("host_dec", "deg", "pos.eq.dec", "host galaxy, declination"),
    CatalogueColumn(
        "host_from",
        None,
        "meta.code",
        "how the host was found: ir (peak of CAM x infrared), displacement (radio-only "
        "centre), radio core, radio centroid (brightness-weighted), or none",
        "str",
    ),
    CatalogueColumn(
        "found_by",
        None,
        "meta.code",
        "which step found the source: class map (a cluster of a class activation map) or "
        "radio island (an island no class map claimed, ranked after them; "
        "InferenceConfig.unclaimed_islands), none for one drawn by hand",
        "str",
    ),
    CatalogueColumn(
        "flux",
        "Jy",
        "phot.flux.density;em.radio",
        "integrated flux density: sum of the mask's Jy/beam divided by the beam area in pixels",
    ),
    CatalogueColumn(
        "peak_flux", "Jy/beam", "phot.flux.density;stat.max", "brightest pixel of the mask"
    ),
    CatalogueColumn(
        "las",
        "arcsec",
        "phys.angSize",
        "largest angular size: longest distance between two mask pixel centres",
    ),
    CatalogueColumn("las_pix", "pix", "phys.angSize;instr.pixel", "largest angular size in pixels"),
    CatalogueColumn("area", "pix2", "phys.angArea;instr.pixel", "mask area (pixels)", "int"),
    CatalogueColumn("bbox_x", "pix", _PIX_X, "mask box: first column (COCO box x)", "int"),
    CatalogueColumn("bbox_y", "pix", _PIX_Y, "mask box: first row (COCO box y)", "int"),
    CatalogueColumn("bbox_w", "pix", "phys.angSize;instr.pixel", "mask box: width", "int"),
    CatalogueColumn("bbox_h", "pix", "phys.angSize;instr.pixel", "mask box: height", "int"),
    CatalogueColumn(
        "n_components",
        None,
        "meta.number",
        "components of the source: the catalogue components it absorbed (survey with a "
        "component catalogue), else the 8-connected parts of the mask (2 for detached lobes)",
        "int",
    ),
    CatalogueColumn(
        "component_ids",
        None,
        "meta.id.cross",
        "ids of the catalogue components absorbed, space-separated",
        "str",
    ),
    CatalogueColumn(
        "window", None, "meta.id.part", "survey window the source was taken from (0-based)", "int"
    ),
    CatalogueColumn("window_row0", "pix", _PIX_Y, "first mosaic row of that window", "int"),
    CatalogueColumn("window_col0", "pix", _PIX_X, "first mosaic column of that window", "int"),
    CatalogueColumn(
        "cut", None, "meta.code", "true when the mask touches an inner edge of its window", "bool"
    ),
    CatalogueColumn(
        "merged_parts",
        None,
        "meta.number",
        "windows a source larger than a window was joined from",
        "int",
    ),
    CatalogueColumn(
        "reviewed", None, "meta.code", "checked (and corrected) by a human in napari", "bool"
    ),
    CatalogueColumn(
        "drawn",
        None,
        "meta.code",
        "drawn by hand in napari: no model score or class probability (NaN)",
        "bool",
    ),
)

#: The columns of ``radiogal predict``'s catalogue, in order.
PREDICTION_COLUMNS: tuple[str, ...] = (
    "name",
    "image_id",
    "file_name",
    "id",
    "class",
    "category_id",
    "score",
    "class_probability",
    "x",
    "y",
    "ra",
    "dec",
    "host_x",
    "host_y",
    "host_ra",
    "host_dec",
    "host_from",
    "found_by",
    "flux",
    "peak_flux",
    "las",
    "las_pix",
    "area",
    "bbox_x",
    "bbox_y",
    "bbox_w",
    "bbox_h",
    "n_components",
)

#: The napari export's: the prediction's, and what a human did.
ANNOTATION_COLUMNS: tuple[str, ...] = (*PREDICTION_COLUMNS, "reviewed", "drawn")

#: The columns of ``radiogal survey``'s catalogue, in order.
SURVEY_COLUMNS: tuple[str, ...] = (
    "name",
    "source_id",
    "ra",
    "dec",
    "class",
    "category_id",
    "score",
    "class_probability",
    "host_ra",
    "host_dec",
    "host_from",
    "found_by",
    "flux",
    "peak_flux",
    "las",
    "area",
    "n_components",
    "component_ids",
    "x",
    "y",
    "host_x",
    "host_y",
    "bbox_x",
    "bbox_y",
    "bbox_w",
    "bbox_h",
    "window",
    "window_row0",
    "window_col0",
    "cut",
    "merged_parts",
)

_DTYPES: dict[str, Any] = {"float": np.float64, "int": np.int64, "str": str, "bool": bool}


def source_name(ra: float, dec: float, prefix: str = DEFAULT_NAME_PREFIX) -> str:
    """IAU-style name of a position: ``PREFIX Jhhmmss.s+ddmmss``, truncated (not rounded).

    Parameters
    ----------
    ra, dec : float
        Degrees (J2000 / ICRS).
    prefix : str
        Acronym before the position (the IAU's "acronym"); ``""`` gives ``Jhhmmss.s+ddmmss``.

    Returns
    -------
    str
        ``""`` when a coordinate is not finite.

    Examples
    --------
    >>> source_name(150.0, 2.2)
    'RG J100000.0+021200'
    >>> source_name(10.68458, -41.26917, prefix="EMU")
    'EMU J004244.2-411609'
    """
    if not (math.isfinite(ra) and math.isfinite(dec)):
        return ""
    # round to 1e-6 of the last digit first so that 150.0 deg is 10h00m00.0s, not 09h59m59.9s
    tenths = math.floor(round((ra % 360.0) / 15.0 * 36000.0, 6)) % (24 * 36000)
    hours, rest = divmod(tenths, 36000)
    minutes, rest = divmod(rest, 600)
    arcsec = math.floor(round(abs(dec) * 3600.0, 6))
    degrees, rest_d = divmod(arcsec, 3600)
    arcmin, arcsec = divmod(rest_d, 60)
    sign = "-" if dec < 0 else "+"
    position = (
        f"J{hours:02d}{minutes:02d}{rest // 10:02d}.{rest % 10}{sign}"
        f"{degrees:02d}{arcmin:02d}{arcsec:02d}"
    )
    return f"{prefix} {position}" if prefix else position


def catalogue_table(
    rows: Sequence[Mapping[str, Any]],
    names: Sequence[str],
    *,
    name_prefix: str = DEFAULT_NAME_PREFIX,
    meta: Mapping[str, Any] | None = None,
) -> Any:
    """An astropy Table of ``rows`` with the columns ``names`` of :data:`COLUMNS`.

    Parameters
    ----------
    rows : sequence of mapping
        One mapping per row with a value for every name but ``name`` (computed from ``ra``
        and ``dec`` by :func:`source_name`).
    names : sequence of str
        Keys of :data:`COLUMNS`, in table order.
    name_prefix : str
        Prefix of the source names.
    meta : mapping, optional
        Table metadata (e.g. ``{"provenance": {...}}``).

    Returns
    -------
    astropy.table.Table
        Each column with its unit, description and ``meta["ucd"]``; an empty table (0 rows)
        keeps the columns and their types.

    Examples
    --------
    >>> t = catalogue_table([{"ra": 150.0, "dec": 2.2, "area": 12}], ["name", "ra", "area"])
    >>> str(t["name"][0]), str(t["area"].unit), t["ra"].meta["ucd"]
    ('RG J100000.0+021200', 'pix2', 'pos.eq.ra;meta.main')
    """
    from astropy.table import Column, Table

    table = Table(meta=dict(meta or {}))
    for name in names:
        spec = COLUMNS[name]
        dtype = _DTYPES[spec.dtype]
        if name == "name":
            values = [source_name(float(r["ra"]), float(r["dec"]), name_prefix) for r in rows]
        else:
            values = [r[name] for r in rows]
        data = np.array(values, dtype=dtype) if rows else np.zeros(0, dtype=dtype)
        table[name] = Column(
            data, unit=spec.unit, description=spec.description, meta={"ucd": spec.ucd}
        )
    return table
