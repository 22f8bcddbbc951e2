"""Tiny synthetic training sets for the training tests (FITS pairs + COCO with masks).

Two classes that a network can tell apart from image-level labels: ``single`` (one round
blob) and ``double`` (two blobs, like FR-II lobes). Radio in Jy/beam with 30 uJy/beam noise,
infrared with a host blob, both on the same simple TAN grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from napari_radiogal.annotations import CocoDataset, ImageRecord, Instance
from napari_radiogal.classes import ClassScheme
from napari_radiogal.io.coco import write_coco

SCHEME = ClassScheme(names=("single", "double"), coco_ids=(1, 2), name="toy")


def _wcs(size: int) -> WCS:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [320.0, -55.0]
    w.wcs.crpix = [size / 2 + 0.5, size / 2 + 0.5]
    w.wcs.cdelt = [-2.0 / 3600, 2.0 / 3600]
    return w


def _blob(size, cy, cx, sigma):
    yy, xx = np.mgrid[:size, :size]
    return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))


def make_toy_dataset(
    root: Path, n: int = 8, size: int = 64, seed: int = 0, name: str = "train"
) -> Path:
    """Write ``n`` cut-outs and ``annotations/<name>.json``; returns the JSON path."""
    rng = np.random.default_rng(seed)
    (root / "radio").mkdir(parents=True, exist_ok=True)
    (root / "ir").mkdir(parents=True, exist_ok=True)
    header = _wcs(size).to_header()
    header["BUNIT"] = "Jy/beam"
    header["BMAJ"] = header["BMIN"] = 13 / 3600
    header["BPA"] = 0.0
    images, instances = [], []
    for i in range(n):
        cls = 1 + i % 2
        cy, cx = rng.uniform(size * 0.35, size * 0.65, 2)
        if cls == 1:
            model = _blob(size, cy, cx, rng.uniform(3, 5))
        else:
            sep, ang = rng.uniform(10, 16), rng.uniform(0, np.pi)
            dy, dx = sep * np.sin(ang), sep * np.cos(ang)
            model = _blob(size, cy + dy, cx + dx, 3) + _blob(size, cy - dy, cx - dx, 3)
        peak = rng.uniform(2e-3, 6e-3)
        radio = (model * peak + rng.normal(0, 30e-6, (size, size))).astype(np.float32)
        ir = (100 + rng.normal(0, 1, (size, size)) + 300 * _blob(size, cy, cx, 1.5)).astype(
            np.float32
        )
        stem = f"img{i:03d}"
        fits.PrimaryHDU(radio, header).writeto(root / "radio" / f"{stem}.fits", overwrite=True)
        fits.PrimaryHDU(ir, _wcs(size).to_header()).writeto(
            root / "ir" / f"{stem}.fits", overwrite=True
        )
        images.append(
            ImageRecord(
                id=i + 1,
                file_name=f"radio/{stem}.fits",
                height=size,
                width=size,
                radio_file=f"radio/{stem}.fits",
                ir_file=f"ir/{stem}.fits",
            )
        )
        mask = model > 0.05
        instances.append(
            Instance.from_mask(mask, image_id=i + 1, category_id=cls, host=(float(cx), float(cy)))
        )
    path = root / "annotations" / f"{name}.json"
    write_coco(path, CocoDataset(images=images, instances=instances, scheme=SCHEME))
    return path


#: A recipe of one or two epochs per stage on 64 px cut-outs (``--set`` overrides): a whole
#: CAM -> ReCAM -> IRNet run takes seconds on a CPU. Mechanics only, never accuracy.
TINY_RECIPE = (
    "backbone=resnet18",
    "log_every_steps=1",
    "cam.epochs=2",
    "cam.batch_size=4",
    "cam.crop_size=64",
    "cam.scale_range=[1.0, 1.0]",
    "recam.epochs=1",
    "recam.batch_size=4",
    "recam.crop_size=64",
    "recam.scale_range=[1.0, 1.0]",
    "irn.epochs=1",
    "irn.batch_size=4",
    "irn.canvas_size=96",
    "irn.radius=5",
    "pseudo_labels.scales=[1.0]",
)
