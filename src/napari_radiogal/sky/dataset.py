"""Writing simulated cut-outs: FITS pairs and COCO ground truth.

Layout of a data set root (what ``radiogal simulate`` writes)::

    ROOT/radio/sky<seed>_<index>.fits      ASKAP-style 4-axis radio image (Jy/beam)
    ROOT/ir/sky<seed>_<index>.fits         W1 image on its own grid (AllWISE or unWISE style)
    ROOT/annotations/{train,val,test}.json COCO: RLE masks, host keypoints, classes, info

Paths inside the JSON are relative to ROOT. File names carry the seed, so a training split
and a test split drawn with *different seeds* can share one root without collisions (the
benchmark does exactly that; see ``only_split``).

Reproducibility: cut-out ``i`` of seed ``s`` is drawn from its own generator
``SeedSequence(s).spawn(n)[i]`` (so the number of worker processes does not matter), and
FITS headers and JSON carry no dates: the same seed writes byte-identical files. The
intended class of each cut-out's main source comes from exact per-split quotas of the class
mix (:func:`primary_classes`), so the achieved mix is close to the requested one even for
small splits; it depends on ``n`` and the split, so cut-out ``i`` may change with them.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from napari_radiogal._version import __version__
from napari_radiogal.annotations import CocoDataset, ImageRecord, Instance
from napari_radiogal.classes import RADIOGALAXYNET
from napari_radiogal.errors import ConfigError
from napari_radiogal.io.atomic import atomic_path
from napari_radiogal.sky.config import SkyConfig
from napari_radiogal.sky.cutout import SimulatedCutout, simulate_cutout

__all__ = [
    "write_cutout_fits",
    "write_dataset",
    "split_sizes",
    "primary_classes",
    "SPLIT_NAMES",
    "summarise",
]

log = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "val", "test")


def write_cutout_fits(
    cutout: SimulatedCutout, radio_path: str | os.PathLike, ir_path: str | os.PathLike
) -> tuple[Path, Path]:
    """Write a cut-out's radio and W1 images as FITS files (atomically, no dates).

    The radio file is ``(1, 1, H, W)`` float32 with the ASKAP-style 4-axis header (RA---SIN,
    DEC--SIN, FREQ, STOKES; BUNIT, BMAJ/BMIN/BPA); the W1 file is ``(H', W')`` float32 with
    the AllWISE or unWISE header of ``cutout.infrared_fits_header``.

    Returns
    -------
    (Path, Path)
        The radio and IR paths.
    """
    radio_path, ir_path = Path(radio_path), Path(ir_path)
    data = np.ascontiguousarray(cutout.radio.data, dtype=np.float32)[None, None]
    _atomic_fits(fits.PrimaryHDU(data=data, header=cutout.radio_fits_header.copy()), radio_path)
    ir = np.ascontiguousarray(cutout.infrared.data, dtype=np.float32)
    _atomic_fits(fits.PrimaryHDU(data=ir, header=cutout.infrared_fits_header.copy()), ir_path)
    return radio_path, ir_path


def _atomic_fits(hdu: fits.PrimaryHDU, path: Path) -> None:
    """Write next to ``path`` and rename (permissions follow the umask: data sets are shared)."""
    with atomic_path(path, suffix=".fits") as tmp:
        hdu.writeto(tmp, overwrite=True, output_verify="exception", checksum=False)


def split_sizes(n: int, fractions: Sequence[float], *, at_least_one: bool = False) -> list[int]:
    """Split ``n`` images by ``fractions`` (largest remainder, so the sizes sum to ``n``).

    With ``at_least_one``, every part of positive fraction gets at least one image when
    ``n`` allows it (each taken from the largest part): a 5-image data set still has the
    val split that ``radiogal train --val`` needs.

    Examples
    --------
    >>> split_sizes(10, (0.7, 0.1, 0.2))
    [7, 1, 2]
    >>> split_sizes(5, (1, 0, 0))
    [5, 0, 0]
    >>> split_sizes(5, (0.7, 0.1, 0.2)), split_sizes(5, (0.7, 0.1, 0.2), at_least_one=True)
    ([4, 0, 1], [3, 1, 1])
    """
    f = np.asarray(fractions, dtype=np.float64)
    if f.ndim != 1 or f.size == 0 or np.any(f < 0) or not np.isfinite(f).all() or f.sum() <= 0:
        raise ConfigError(
            f"split fractions must be non-negative numbers, not all zero; got {list(fractions)}"
        )
    exact = n * f / f.sum()
    sizes = np.floor(exact).astype(int)
    remainder = n - int(sizes.sum())
    order = np.argsort(-(exact - sizes), kind="stable")
    sizes[order[:remainder]] += 1
    wanted = f > 0
    if at_least_one and n >= int(wanted.sum()):
        for i in np.flatnonzero(wanted & (sizes == 0)):
            sizes[int(np.argmax(sizes))] -= 1
            sizes[i] = 1
    return [int(s) for s in sizes]


def primary_classes(config: SkyConfig, sizes: Sequence[int], seed: int) -> list[str]:
    """Intended class of each cut-out's main source: the mix as exact quotas per split.

    Independent draws would let a 100-image split miss the mix by several per cent; instead
    each split gets ``split_sizes(size, weights)`` of every class, shuffled with a generator
    derived from ``seed`` (separate from the cut-outs' own streams). A second extended source,
    when there is one, still draws its class freely.
    """
    names = list(config.class_weights)
    weights = [config.class_weights[k] for k in names]
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x6D6978]))  # "mix"
    out: list[str] = []
    for size in sizes:
        if size == 0:
            continue
        quota = split_sizes(size, weights)
        part = [name for name, q in zip(names, quota, strict=True) for _ in range(q)]
        out.extend(part[i] for i in rng.permutation(size))
    return out


@dataclass
class _Written:
    index: int
    image: ImageRecord
    instances: list[Instance]


def _simulate_and_write(
    root: Path,
    seed_seq: np.random.SeedSequence,
    index: int,
    image_id: int,
    stem: str,
    config: SkyConfig,
    primary: str,
) -> _Written:
    cutout = simulate_cutout(np.random.default_rng(seed_seq), config, primary=primary)
    radio_rel = f"radio/{stem}.fits"
    ir_rel = f"ir/{stem}.fits"
    write_cutout_fits(cutout, root / radio_rel, root / ir_rel)
    record = cutout.to_image_record(
        image_id, file_name=radio_rel, radio_file=radio_rel, ir_file=ir_rel
    )
    record.extra["sim"]["index"] = index
    return _Written(index, record, cutout.to_instances(image_id))


def _worker(args) -> _Written:
    return _simulate_and_write(*args)


def write_dataset(
    out_dir: str | os.PathLike,
    n: int,
    seed: int,
    config: SkyConfig = SkyConfig(),  # noqa: B008 - frozen, safe as a default
    split: Sequence[float] = (0.7, 0.1, 0.2),
    balanced: bool = False,
    progress: Callable[[int, int], None] | None = None,
    *,
    only_split: str | None = None,
    workers: int = 1,
) -> dict[str, Path]:
    """Simulate ``n`` cut-outs and write FITS pairs and COCO files under ``out_dir``.

    Parameters
    ----------
    out_dir : path-like
        Data set root (created if needed).
    n : int
        Number of cut-outs.
    seed : int
        Master seed; cut-out ``i`` uses ``SeedSequence(seed).spawn(n)[i]``.
    config : SkyConfig
        The sky (all difficulty knobs); its values are recorded in every JSON's ``info``.
    split : sequence of 3 floats
        Fractions of train / val / test (cut-outs are assigned in index order). Splits of
        size 0 get no JSON file, so ``(1, 0, 0)`` writes ``train.json`` only.
    balanced : bool
        Equal class weights instead of ``config.class_mix``.
    progress : callable(done, total), optional
        Called after every cut-out.
    only_split : {"train", "val", "test"}, optional
        Put all ``n`` cut-outs into this one split (overrides ``split``); e.g. a test set
        drawn with another seed than the training set.
    workers : int
        Worker processes (1 = in this process). The output does not depend on it.

    Returns
    -------
    dict
        ``{split name: path of its JSON}`` for the splits written.
    """
    from napari_radiogal.io.coco import write_coco

    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n must be a positive number of cut-outs, got {n!r}")
    if balanced:
        config = config.balanced()
    if only_split is not None:
        if only_split not in SPLIT_NAMES:
            raise ConfigError(f"only_split must be one of {SPLIT_NAMES}, got {only_split!r}")
        fractions = [1.0 if name == only_split else 0.0 for name in SPLIT_NAMES]
    else:
        fractions = [float(f) for f in split]
        if len(fractions) != 3:
            raise ConfigError(f"split needs three fractions (train, val, test), got {list(split)}")
    sizes = split_sizes(int(n), fractions, at_least_one=True)
    root = Path(out_dir)
    for sub in ("radio", "ir", "annotations"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    seeds = np.random.SeedSequence(int(seed)).spawn(int(n))
    primaries = primary_classes(config, sizes, int(seed))
    width = max(6, len(str(n - 1)))
    jobs = [
        (root, seeds[i], i, i + 1, f"sky{seed}_{i:0{width}d}", config, primaries[i])
        for i in range(n)
    ]

    results: list[_Written] = []
    if workers <= 1:
        for done, job in enumerate(jobs, start=1):
            results.append(_simulate_and_write(*job))
            if progress is not None:
                progress(done, n)
    else:
        with concurrent.futures.ProcessPoolExecutor(max_workers=int(workers)) as pool:
            for done, written in enumerate(pool.map(_worker, jobs, chunksize=8), start=1):
                results.append(written)
                if progress is not None:
                    progress(done, n)

    paths: dict[str, Path] = {}
    start = 0
    for name, size in zip(SPLIT_NAMES, sizes, strict=True):
        part = results[start : start + size]
        start += size
        if size == 0:
            continue
        images = [w.image for w in part]
        instances = [inst for w in part for inst in w.instances]
        info = _info(
            config,
            seed=int(seed),
            n=int(n),
            split=name,
            fractions=fractions,
            balanced=balanced,
            first=part[0].index,
            last=part[-1].index,
            instances=instances,
        )
        dataset = CocoDataset(images=images, instances=instances, scheme=RADIOGALAXYNET, info=info)
        paths[name] = write_coco(root / "annotations" / f"{name}.json", dataset, backup=False)
        log.info(
            "%s: %d images, %d sources, classes %s",
            name,
            len(images),
            len(instances),
            info["class_counts"],
        )
    return paths


def summarise(instances: Sequence[Instance]) -> dict[str, Any]:
    """Achieved class counts and fractions, intended-class agreement, multi-component share."""
    scheme = RADIOGALAXYNET
    counts = Counter(scheme.name_of_id(i.category_id) for i in instances)
    total = max(1, len(instances))
    sims = [i.extra.get("sim", {}) for i in instances]
    matched = sum(
        1
        for i, s in zip(instances, sims, strict=True)
        if s.get("intended") == scheme.name_of_id(i.category_id)
    )
    multi = sum(1 for s in sims if s.get("n_components", 1) > 1)
    return {
        "class_counts": {name: int(counts.get(name, 0)) for name in scheme.names},
        "class_fractions": {name: round(counts.get(name, 0) / total, 4) for name in scheme.names},
        "intended_class_matched": round(matched / total, 4),
        "multi_component_fraction": round(multi / total, 4),
        "n_sources": len(instances),
    }


def _info(
    config: SkyConfig,
    *,
    seed: int,
    n: int,
    split: str,
    fractions: list[float],
    balanced: bool,
    first: int,
    last: int,
    instances: list[Instance],
) -> dict[str, Any]:
    weights = config.class_weights
    info: dict[str, Any] = {
        "description": "napari-radiogal synthetic EMU Pilot Survey + WISE W1 sky "
        "(simulated data, ground truth measured with the rules of "
        "Gupta et al. 2023, PASA 40, e044)",
        "software": {
            "name": "napari-radiogal",
            "version": __version__,
            "module": "napari_radiogal.sky",
        },
        "seed": seed,
        "n_images_total": n,
        "split": split,
        "split_fractions": dict(zip(SPLIT_NAMES, fractions, strict=True)),
        "image_index_range": [first, last],
        "balanced": bool(balanced),
        "class_mix_requested": {k: round(v, 6) for k, v in weights.items()},
        "sky_config": config.to_dict(),
    }
    info.update(summarise(instances))
    return info
