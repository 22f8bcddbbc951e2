"""Component catalogues of source finders (Selavy, PyBDSF, Aegean...) as survey input.

:func:`read_components` reads any table astropy can read (ECSV, CSV, FITS table, VOTable)
and finds its position, flux and id columns by name: the spellings of the common source
finders are tried in order (:data:`RA_COLUMNS`, ...), case-insensitively, and each can be
named explicitly instead. Everything else in the table is ignored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_radiogal.errors import ConfigError

__all__ = [
    "Components",
    "read_components",
    "RA_COLUMNS",
    "DEC_COLUMNS",
    "FLUX_COLUMNS",
    "ID_COLUMNS",
]

#: Right ascension column names tried in order (Selavy, PyBDSF, Aegean, VizieR, generic).
RA_COLUMNS = ("ra_deg_cont", "RA", "ra", "RAJ2000", "RA_deg", "ra_deg", "_RAJ2000")
#: Declination column names tried in order.
DEC_COLUMNS = ("dec_deg_cont", "DEC", "dec", "DEJ2000", "Dec_deg", "dec_deg", "_DEJ2000")
#: Integrated flux density column names tried in order.
FLUX_COLUMNS = ("flux_int", "Total_flux", "int_flux", "S_int", "Sint", "flux")
#: Component id column names tried in order (row numbers when none is found).
ID_COLUMNS = ("component_id", "Source_id", "uuid", "island", "id", "ID", "name", "Name")


@dataclass(frozen=True)
class Components:
    """The components of a catalogue: ids, sky positions and fluxes.

    Attributes
    ----------
    ids : ndarray of str, shape (N,)
    ra, dec : ndarray of float64, shape (N,)
        Degrees (ICRS / FK5 J2000 as the catalogue gives them).
    flux : ndarray of float64, shape (N,)
        Integrated flux density in the catalogue's unit (NaN without a flux column); only
        its order matters (brightest components get windows first).
    path : Path
        The catalogue file.
    """

    ids: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    flux: np.ndarray
    path: Path

    def __len__(self) -> int:
        return len(self.ids)


def _find_column(
    names: list[str], wanted: str | None, candidates: tuple[str, ...], what: str, path: Path
) -> str | None:
    """The table's column for ``what``: ``wanted`` if given (must exist), else a candidate."""
    lower = {n.lower(): n for n in names}
    if wanted is not None:
        if wanted in names:
            return wanted
        if wanted.lower() in lower:
            return lower[wanted.lower()]
        raise ConfigError(f"{path}: no column {wanted!r} for the {what}; the table has {names}.")
    for name in candidates:
        if name.lower() in lower:
            return lower[name.lower()]
    return None


def read_components(
    path: str | os.PathLike,
    *,
    ra_column: str | None = None,
    dec_column: str | None = None,
    flux_column: str | None = None,
    id_column: str | None = None,
) -> Components:
    """Read a source finder's component catalogue.

    Parameters
    ----------
    path : path-like
        ECSV, CSV, FITS binary table or VOTable (by suffix, as astropy decides).
    ra_column, dec_column, flux_column, id_column : str, optional
        Column names; by default the first of :data:`RA_COLUMNS`, :data:`DEC_COLUMNS`,
        :data:`FLUX_COLUMNS`, :data:`ID_COLUMNS` that the table has (any case). Positions
        with a unit (e.g. ``hourangle``, ``rad``) are converted to degrees.

    Returns
    -------
    Components

    Raises
    ------
    ConfigError
        Unreadable file, no RA/Dec column (the message lists the table's columns and the
        option to name them), a named column missing, non-finite positions, or duplicate ids.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astropy.table import Table
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "selavy.csv"
    >>> Table({"RAJ2000": [10.0], "DEJ2000": [-30.0], "Total_flux": [2.5]}).write(p)
    >>> c = read_components(p)
    >>> c.ids.tolist(), c.ra.tolist(), c.flux.tolist()
    (['1'], [10.0], [2.5])
    """
    from astropy.table import Table

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"component catalogue {path}: no such file.")
    from astropy.io.registry import IORegistryError

    try:
        table = Table.read(path)
    except (IORegistryError, OSError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise ConfigError(
            f"component catalogue {path}: astropy cannot read it as a table ({exc}); expected "
            "ECSV, CSV, a FITS table or a VOTable."
        ) from exc
    names = list(table.colnames)
    ra_name = _find_column(names, ra_column, RA_COLUMNS, "right ascension", path)
    dec_name = _find_column(names, dec_column, DEC_COLUMNS, "declination", path)
    if ra_name is None or dec_name is None:
        raise ConfigError(
            f"component catalogue {path}: no recognisable RA/Dec columns among {names}; "
            f"expected one of {list(RA_COLUMNS)} and of {list(DEC_COLUMNS)}, or name them "
            "with --ra-column / --dec-column (ra_column=, dec_column=)."
        )
    flux_name = _find_column(names, flux_column, FLUX_COLUMNS, "flux", path)
    id_name = _find_column(names, id_column, ID_COLUMNS, "component id", path)
    ra, dec = _degrees(table[ra_name]), _degrees(table[dec_name])
    bad = ~(np.isfinite(ra) & np.isfinite(dec))
    if bad.any():
        raise ConfigError(
            f"component catalogue {path}: {int(bad.sum())} row(s) have no finite "
            f"{ra_name}/{dec_name} (first: row {int(np.flatnonzero(bad)[0])})."
        )
    n = len(table)
    ids = (
        np.array([str(v) for v in table[id_name]])
        if id_name is not None
        else np.array([str(i) for i in range(1, n + 1)])
    )
    if len(set(ids.tolist())) != n:
        raise ConfigError(
            f"component catalogue {path}: the ids in column {id_name!r} are not unique; "
            "name another column with --id-column."
        )
    flux = (
        np.asarray(table[flux_name], dtype=np.float64)
        if flux_name is not None
        else np.full(n, np.nan)
    )
    return Components(ids=ids, ra=ra % 360.0, dec=dec, flux=flux, path=path)


def _degrees(column) -> np.ndarray:
    """A position column in degrees (its unit converted when it has an angular one)."""
    import astropy.units as u

    unit = getattr(column, "unit", None)
    values = np.ma.filled(np.ma.asarray(column, dtype=np.float64), np.nan)
    if unit is not None:
        try:
            return (np.asarray(values) * unit).to_value(u.deg)
        except u.UnitConversionError:
            pass  # e.g. a dimensionless "deg"-less column: taken as degrees
    return np.asarray(values, dtype=np.float64)
