"""The RadioGalaxyNET / Gal-CAM data layout: byte-packed PNGs plus COCO annotations.

The public data set (Gupta et al. 2023; CSIRO DAP doi 10.25919/btk3-vx79) ships its
cut-outs *already pre-processed* (paper section 3.1, ALGORITHM.md section 1.2) and packed
into 3-channel 8-bit PNGs:

* **R** = infrared (WISE W1), quantised to 8 bits: ``ir = R / 255``;
* **G** = low byte and **B** = high byte of the 16-bit radio value:
  ``radio = (256 * B + G) / 65535``.

Both decoded arrays are float32 in ``[0, 1]``: log-scaled, min-max normalised island
images, not Jy/beam, so they must not be pre-processed again. Only a lossless format works
(JPEG would destroy the byte packing); :func:`encode_radiogalaxynet_rgb` is the exact inverse
of the decoding for values on the 16-bit (radio) and 8-bit (IR) grids.

Layout read by :func:`read_radiogalaxynet`::

    root/annotations/instances_{split}2017.json
    root/{split}2017/*.png

(``instances_{split}.json`` / ``{split}.json`` and ``root/{split}/`` are accepted as well.)
Each :class:`~napari_radiogal.annotations.ImageRecord` gets ``file_name`` relative to
``root`` (e.g. ``"train2017/0001.png"``, resolvable with
:func:`napari_radiogal.io.paths.resolve_image_path`) and
``extra = {"layout": "radiogalaxynet", "split": split}``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from napari_radiogal.annotations import CocoDataset
from napari_radiogal.errors import CocoFormatError, InputImageError, InputImageWarning
from napari_radiogal.io.atomic import atomic_path

__all__ = [
    "LAYOUT",
    "decode_radiogalaxynet_rgb",
    "encode_radiogalaxynet_rgb",
    "read_radiogalaxynet_png",
    "write_radiogalaxynet_png",
    "radiogalaxynet_paths",
    "read_radiogalaxynet",
    "is_radiogalaxynet_record",
]

#: The value of ``ImageRecord.extra["layout"]`` for images read from this layout.
LAYOUT = "radiogalaxynet"


def decode_radiogalaxynet_rgb(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unpack a RadioGalaxyNET RGB array into float radio and IR images.

    Parameters
    ----------
    rgb : uint8 array (H, W, 3)
        ``(row, col, channel)``; channels R = IR, G = radio low byte, B = radio high byte.

    Returns
    -------
    radio : float32 array (H, W)
        ``(256 * B + G) / 65535``, in ``[0, 1]``.
    ir : float32 array (H, W)
        ``R / 255``, in ``[0, 1]``.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.dtype != np.uint8:
        raise InputImageError(
            f"a RadioGalaxyNET image must be uint8 (H, W, 3); got {rgb.dtype} {rgb.shape}."
        )
    high = rgb[..., 2].astype(np.uint32)
    low = rgb[..., 1].astype(np.uint32)
    radio = ((high << 8) | low).astype(np.float32) / np.float32(65535.0)
    ir = rgb[..., 0].astype(np.float32) / np.float32(255.0)
    return radio, ir


def encode_radiogalaxynet_rgb(radio: np.ndarray, ir: np.ndarray | None = None) -> np.ndarray:
    """Pack float radio and IR images (values in ``[0, 1]``) into a RadioGalaxyNET RGB array.

    Parameters
    ----------
    radio : float array (H, W)
        Pre-processed radio in ``[0, 1]``; quantised to ``round(65535 * v)``.
    ir : float array (H, W), optional
        Pre-processed IR in ``[0, 1]``; quantised to ``round(255 * v)``. ``None``: zeros.

    Returns
    -------
    uint8 array (H, W, 3)
        R = IR, G = radio low byte, B = radio high byte.

    Warns
    -----
    InputImageWarning
        Values outside ``[0, 1]`` or NaN were clipped (NaN -> 0).
    """
    radio = np.asarray(radio, dtype=np.float64)
    if radio.ndim != 2:
        raise InputImageError(f"radio must be 2-D (H, W), got shape {radio.shape}.")
    ir = np.zeros_like(radio) if ir is None else np.asarray(ir, dtype=np.float64)
    if ir.shape != radio.shape:
        raise InputImageError(f"ir {ir.shape} and radio {radio.shape} must have the same shape.")
    v16 = _quantise(radio, 65535, "radio")
    v8 = _quantise(ir, 255, "ir")
    rgb = np.empty(radio.shape + (3,), dtype=np.uint8)
    rgb[..., 0] = v8
    rgb[..., 1] = v16 & 0xFF
    rgb[..., 2] = v16 >> 8
    return rgb


def _quantise(values: np.ndarray, top: int, what: str) -> np.ndarray:
    bad = ~np.isfinite(values) | (values < 0) | (values > 1)
    if bad.any():
        warnings.warn(
            f"{int(bad.sum())} {what} value(s) outside [0, 1] or NaN were clipped to [0, 1] "
            "(NaN -> 0) before packing.",
            InputImageWarning,
            stacklevel=3,
        )
        values = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0)
    return np.rint(values * top).astype(np.uint32)


def read_radiogalaxynet_png(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one byte-packed PNG and decode it.

    Returns
    -------
    radio, ir : float32 arrays (H, W) in ``[0, 1]``
        See :func:`decode_radiogalaxynet_rgb`.

    Raises
    ------
    InputImageError
        Missing file, or not an 8-bit RGB(A) image.
    """
    from PIL import Image

    path = Path(path)
    try:
        with Image.open(path) as img:
            mode = img.mode
            if mode not in ("RGB", "RGBA"):
                raise InputImageError(
                    f"{path}: a RadioGalaxyNET image is 8-bit RGB (R = IR, G/B = radio "
                    f"low/high byte), this one is PIL mode {mode!r}."
                )
            rgb = np.asarray(img)[..., :3]
    except FileNotFoundError:
        raise InputImageError(f"{path}: no such image file.") from None
    except OSError as exc:  # PIL.UnidentifiedImageError is an OSError
        raise InputImageError(f"{path}: cannot read as an image ({exc}).") from exc
    return decode_radiogalaxynet_rgb(rgb)


def write_radiogalaxynet_png(
    path: str | os.PathLike, radio: np.ndarray, ir: np.ndarray | None = None
) -> Path:
    """Write float radio and IR images as a byte-packed PNG (atomically; lossless)."""
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InputImageError(
            f"{path}: the byte packing needs a lossless PNG file, not {path.suffix or 'no suffix'}."
        )
    rgb = encode_radiogalaxynet_rgb(radio, ir)
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG")
    return path


def radiogalaxynet_paths(root: str | os.PathLike, split: str) -> tuple[Path, Path]:
    """The annotation file and image folder of a split.

    Returns
    -------
    (json_path, image_dir)

    Raises
    ------
    CocoFormatError
        Neither layout variant exists; the message lists what was tried.
    """
    root = Path(root)
    json_candidates = [
        root / "annotations" / f"instances_{split}2017.json",
        root / "annotations" / f"instances_{split}.json",
        root / "annotations" / f"{split}.json",
    ]
    dir_candidates = [root / f"{split}2017", root / split]
    json_path = next((p for p in json_candidates if p.is_file()), None)
    if json_path is None:
        raise CocoFormatError(
            f"no annotation file for split {split!r}; tried "
            f"{', '.join(str(p.relative_to(root)) for p in json_candidates)} under {root}.",
            path=root,
        )
    image_dir = next((p for p in dir_candidates if p.is_dir()), None)
    if image_dir is None:
        raise CocoFormatError(
            f"no image folder for split {split!r}; tried "
            f"{', '.join(p.name + '/' for p in dir_candidates)} under {root}.",
            path=root,
        )
    return json_path, image_dir


def read_radiogalaxynet(
    root: str | os.PathLike, split: str, *, check_images: bool = True
) -> CocoDataset:
    """Read one split of a RadioGalaxyNET-layout data set.

    Parameters
    ----------
    root : path-like
        The folder holding ``annotations/`` and the ``{split}2017/`` image folders.
    split : str
        ``"train"``, ``"val"`` or ``"test"`` (any name with matching files).
    check_images : bool
        Check that every PNG exists and has the size the JSON claims (reads only the PNG
        headers).

    Returns
    -------
    CocoDataset
        ``file_name`` relative to ``root``; ``extra["layout"] == "radiogalaxynet"``.

    Raises
    ------
    CocoFormatError
        Missing files, sizes that disagree, or annotations that break the COCO schema.
    """
    from napari_radiogal.io.coco import read_coco

    root = Path(root)
    json_path, image_dir = radiogalaxynet_paths(root, split)
    dataset = read_coco(json_path)
    folder = image_dir.name
    missing, wrong_size = [], []
    for im in dataset.images:
        name = Path(im.file_name)
        if name.parts and name.parts[0] == folder:
            name = Path(*name.parts[1:])
        im.file_name = f"{folder}/{name.as_posix()}"
        im.extra.setdefault("layout", LAYOUT)
        im.extra.setdefault("split", split)
        if check_images:
            problem = _check_png(root / im.file_name, im.height, im.width)
            if problem == "missing":
                missing.append(im.file_name)
            elif problem:
                wrong_size.append(f"{im.file_name} ({problem})")
    if missing:
        raise CocoFormatError(
            f"{len(missing)} image(s) listed in the annotations are missing under {root}, "
            f"e.g. {missing[:3]}; download the full split or fix file_name.",
            path=json_path,
            field="images[].file_name",
        )
    if wrong_size:
        raise CocoFormatError(
            f"{len(wrong_size)} image(s) differ in size from the annotations: {wrong_size[:3]}.",
            path=json_path,
            field="images[].height/width",
        )
    return dataset


def _check_png(path: Path, height: int, width: int) -> str | None:
    from PIL import Image

    if not path.is_file():
        return "missing"
    with Image.open(path) as img:  # reads the header only
        w, h = img.size
    if (h, w) != (height, width):
        return f"{h}x{w} on disk, {height}x{width} in the JSON"
    return None


def is_radiogalaxynet_record(record) -> bool:
    """Whether an ImageRecord points at a byte-packed RadioGalaxyNET PNG."""
    return record.extra.get("layout") == LAYOUT or str(record.file_name).lower().endswith(".png")
