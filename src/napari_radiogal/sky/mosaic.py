"""A simulated EMU-like mosaic with its W1 mosaic, a component catalogue and ground truth.

The benchmark of ``radiogal survey`` needs a large image whose every extended source is
known. :func:`write_mosaic` tiles simulated cut-outs (:func:`~napari_radiogal.sky.
simulate_cutout`, one per tile, each with its own seed) into one radio mosaic of
``size x size`` pixels on a single SIN grid at the cut-out's 2"/px, with a blanked (NaN)
border as real tiles have. Sources are kept away from tile edges (``edge_fraction = 0``), so
each truth source lies whole in its tile. Written, with the memory of one tile:

* ``radio.fits``: 2-D float32 Jy/beam, BMAJ/BMIN/BPA, celestial WCS;
* ``w1.fits``: the W1 tiles reprojected onto the radio grid (AllWISE DN, MAGZP 20.5);
* ``components.ecsv``: a Selavy-like component catalogue (``component_id``,
  ``ra_deg_cont``, ``dec_deg_cont``, ``flux_int`` in mJy, ``flux_peak``): one component per
  5 sigma island of each tile, extended and compact sources alike;
* ``truth.json``: COCO ground truth, one image per tile (``extra["window"] = [row0, col0,
  height, width]`` in mosaic pixels), masks and hosts in tile pixels, host RA/Dec on the
  mosaic's WCS.

Same size and seed, same bytes.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from napari_radiogal.sky.config import SkyConfig
from napari_radiogal.sky.cutout import simulate_cutout

__all__ = ["MosaicFiles", "mosaic_config", "mosaic_wcs", "write_mosaic"]

#: Centre of the simulated mosaic (inside the EMU Pilot Survey footprint), degrees.
MOSAIC_CENTRE_DEG = (320.0, -55.0)


@dataclass(frozen=True)
class MosaicFiles:
    """The files of a simulated mosaic and what they hold.

    Attributes
    ----------
    radio, infrared, components, truth : Path
    n_tiles : int
        Simulated cut-outs tiled into the mosaic.
    n_sources : int
        Extended truth sources.
    n_components : int
        Rows of the component catalogue.
    """

    radio: Path
    infrared: Path
    components: Path
    truth: Path
    n_tiles: int
    n_sources: int
    n_components: int


def mosaic_config() -> SkyConfig:
    """The cut-out sky of a mosaic: the default EMU sky with sources inside their tile, one
    beam position angle and one infrared convention (so tiles join without seams in kind)."""
    return dataclasses.replace(SkyConfig(), edge_fraction=0.0, beam_pa_deg=0.0, unwise_fraction=0.0)


def mosaic_wcs(size: int, pixel_scale_arcsec: float) -> WCS:
    """The SIN grid of a ``size x size`` mosaic centred on :data:`MOSAIC_CENTRE_DEG`.

    Examples
    --------
    >>> w = mosaic_wcs(100, 2.0)
    >>> [round(float(v), 6) for v in w.pixel_to_world_values(49.5, 49.5)]
    [320.0, -55.0]
    """
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = list(MOSAIC_CENTRE_DEG)
    wcs.wcs.crpix = [(size + 1) / 2, (size + 1) / 2]
    wcs.wcs.cdelt = [-pixel_scale_arcsec / 3600.0, pixel_scale_arcsec / 3600.0]
    wcs.wcs.radesys = "ICRS"
    wcs.pixel_shape = (size, size)
    return wcs


def _fits_header(wcs: WCS, size: int, cards: dict) -> fits.Header:
    header = fits.Header()
    header["SIMPLE"] = True
    header["BITPIX"] = -32
    header["NAXIS"] = 2
    header["NAXIS1"] = size
    header["NAXIS2"] = size
    header.extend(wcs.to_header(), update=True)
    for key, value in cards.items():
        header[key] = value
    return header


class _MappedFits:
    """A 2-D float32 FITS file created at full size and filled through a memory map."""

    def __init__(self, path: Path, header: fits.Header, size: int) -> None:
        self.path = path
        text = header.tostring().encode("ascii")
        data_bytes = size * size * 4
        padded = -(-data_bytes // 2880) * 2880
        with open(path, "wb") as fh:
            fh.write(text)
            fh.seek(len(text) + padded - 1)
            fh.write(b"\0")
        self.data = np.memmap(path, dtype=">f4", mode="r+", offset=len(text), shape=(size, size))
        for start in range(0, size, 256):  # blank everything, a band of rows at a time
            self.data[start : start + 256] = np.nan

    def close(self) -> None:
        self.data.flush()
        del self.data


def write_mosaic(
    out_dir: str | os.PathLike,
    size: int,
    *,
    seed: int = 0,
    config: SkyConfig | None = None,
    border: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MosaicFiles:
    """Simulate a radio + W1 mosaic with a component catalogue and COCO ground truth.

    Parameters
    ----------
    out_dir : path-like
        Created if needed; ``radio.fits``, ``w1.fits``, ``components.ecsv`` and
        ``truth.json`` are written there.
    size : int
        Mosaic side in pixels (at least one tile plus the border).
    seed : int
        Tile ``k`` is drawn from ``numpy.random.default_rng([seed, k])``.
    config : SkyConfig, optional
        The sky of each tile (default :func:`mosaic_config`; its ``size`` is the tile side).
    border : int, optional
        Blanked (NaN) margin in pixels (default: a quarter of a tile).
    progress : callable(done, total), optional
        After each tile.

    Returns
    -------
    MosaicFiles
    """
    from napari_radiogal.errors import ConfigError

    cfg = mosaic_config() if config is None else config
    tile = int(cfg.size)
    border = tile // 4 if border is None else int(border)
    per_side = (int(size) - 2 * border) // tile
    if per_side < 1:
        raise ConfigError(
            f"--mosaic {size}: a mosaic needs at least one {tile} px tile plus a {border} px "
            f"border on each side, i.e. at least {tile + 2 * border} px."
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wcs = mosaic_wcs(int(size), cfg.pixel_scale_arcsec)
    beam = {
        "BMAJ": cfg.beam_major_arcsec / 3600.0,
        "BMIN": cfg.beam_minor_arcsec / 3600.0,
        "BPA": float(cfg.beam_pa_deg or 0.0),
    }
    paths = {name: out / name for name in ("radio.fits", "w1.fits")}
    tmp = {name: p.with_name(f".{p.name}.partial") for name, p in paths.items()}
    radio = _MappedFits(
        tmp["radio.fits"], _fits_header(wcs, size, {"BUNIT": "Jy/beam", **beam}), size
    )
    ir = _MappedFits(tmp["w1.fits"], _fits_header(wcs, size, {"BUNIT": "DN", "MAGZP": 20.5}), size)
    truth_images, truth_instances, components = [], [], []
    n_tiles = per_side * per_side
    for k in range(n_tiles):
        row0 = border + (k // per_side) * tile
        col0 = border + (k % per_side) * tile
        cut = simulate_cutout(np.random.default_rng([seed, k]), cfg)
        radio.data[row0 : row0 + tile, col0 : col0 + tile] = cut.radio.data
        ir.data[row0 : row0 + tile, col0 : col0 + tile] = _ir_on_tile(cut)
        image, instances = _tile_truth(cut, k, row0, col0, wcs)
        truth_images.append(image)
        truth_instances.extend(instances)
        components.extend(_tile_components(cut, row0, col0, wcs))
        if progress is not None:
            progress(k + 1, n_tiles)
    radio.close()
    ir.close()
    for name in paths:
        os.replace(tmp[name], paths[name])
    truth_path = _write_truth(out / "truth.json", truth_images, truth_instances, size, seed, cfg)
    components_path = _write_components(out / "components.ecsv", components)
    return MosaicFiles(
        radio=paths["radio.fits"],
        infrared=paths["w1.fits"],
        components=components_path,
        truth=truth_path,
        n_tiles=n_tiles,
        n_sources=len(truth_instances),
        n_components=len(components),
    )


def _ir_on_tile(cut) -> np.ndarray:
    """The tile's W1 image reprojected onto its radio grid (NaN where it has no data)."""
    from napari_radiogal.errors import InputImageWarning
    from napari_radiogal.io.align import reproject_to_grid

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputImageWarning)  # W1 covers the tile (by design)
        return reproject_to_grid(cut.infrared, cut.radio).data


def _tile_truth(cut, k: int, row0: int, col0: int, wcs: WCS):
    from napari_radiogal.annotations import ImageRecord

    tile = cut.radio.shape[0]
    image = ImageRecord(
        id=k + 1,
        file_name=f"tile_{k:06d}",
        height=tile,
        width=tile,
        radio_file="radio.fits",
        ir_file="w1.fits",
        noise_sigma=float(cut.noise_sigma),
        extra={"window": [row0, col0, tile, tile]},
    )
    instances = []
    for inst in cut.to_instances(k + 1):
        if inst.host is not None:
            ra, dec = wcs.pixel_to_world_values(inst.host[0] + col0, inst.host[1] + row0)
            inst = dataclasses.replace(
                inst, host_ra=round(float(ra) % 360.0, 8), host_dec=round(float(dec), 8)
            )
        instances.append(inst)
    return image, instances


def _tile_components(cut, row0: int, col0: int, wcs: WCS) -> list[tuple]:
    """``(x, y, ra, dec, flux_mjy, peak_mjy)`` of each 5 sigma island of a tile."""
    from scipy import ndimage

    from napari_radiogal.stats import islands

    data = np.asarray(cut.radio.data, dtype=np.float64)
    labels = islands(data, 5.0 * float(cut.noise_sigma))
    n = int(labels.max())
    if n == 0:
        return []
    index = np.arange(1, n + 1)
    weights = np.where(labels > 0, np.clip(data, 0.0, None), 0.0)
    centres = ndimage.center_of_mass(weights, labels, index)
    sums = ndimage.sum(data, labels, index)
    peaks = ndimage.maximum(data, labels, index)
    beam_px = cut.radio.beam.area_pixels(float(cut.radio.pixel_scale_arcsec))
    out = []
    for (y, x), total, peak in zip(centres, sums, peaks, strict=True):
        ra, dec = wcs.pixel_to_world_values(x + col0, y + row0)
        out.append((float(ra) % 360.0, float(dec), 1e3 * total / beam_px, 1e3 * peak))
    return out


def _write_components(path: Path, rows: list[tuple]) -> Path:
    from astropy.table import Table

    from napari_radiogal.io.export import write_table

    table = Table(
        rows=rows or None,
        names=("ra_deg_cont", "dec_deg_cont", "flux_int", "flux_peak"),
        dtype=(np.float64,) * 4,
    )
    table.add_column([f"c{i:07d}" for i in range(1, len(table) + 1)], name="component_id", index=0)
    for name, unit in (
        ("ra_deg_cont", "deg"),
        ("dec_deg_cont", "deg"),
        ("flux_int", "mJy"),
        ("flux_peak", "mJy/beam"),
    ):
        table[name].unit = unit
    for name in ("ra_deg_cont", "dec_deg_cont"):
        table[name].info.format = ".8f"
    return write_table(table, path)


def _write_truth(path: Path, images, instances, size: int, seed: int, cfg: SkyConfig) -> Path:
    from napari_radiogal.annotations import CocoDataset
    from napari_radiogal.io.coco import write_coco

    for i, inst in enumerate(instances, start=1):
        inst.id = i
    info = {
        "description": "napari-radiogal simulated mosaic ground truth",
        "mosaic_size": int(size),
        "seed": int(seed),
        "sky": dataclasses.asdict(cfg),
    }
    dataset = CocoDataset(images=images, instances=instances, info=info)
    return write_coco(path, dataset, backup=False)
