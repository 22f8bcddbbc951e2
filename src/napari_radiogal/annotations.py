"""In-memory data model shared by the simulator, inference, evaluation, COCO I/O and napari.

One :class:`CocoDataset` holds :class:`ImageRecord` s (one per radio cut-out) and
:class:`Instance` s (one per radio galaxy). Masks are stored as compressed COCO RLE so that a
data set of a million sources fits in memory; :attr:`Instance.mask` decodes on demand.

Conventions (stated once, used everywhere): masks are boolean ``(H, W)`` = ``(row, col)``
arrays, 0-based; a host position is ``(x, y)`` = ``(col, row)`` in pixels of the radio image,
measured at pixel centres (so the centre of the top-left pixel is ``(0.0, 0.0)``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_radiogal.classes import RADIOGALAXYNET, ClassScheme

__all__ = [
    "ImageRecord",
    "Instance",
    "CocoDataset",
    "IMAGE_CLASSES_KEY",
    "encode_mask",
    "decode_rle",
]

#: Key of ``ImageRecord.extra`` (and of a COCO ``images[]`` entry) listing the COCO category
#: ids of an image known only from an image-level label (no mask, no host): a catalogue
#: class without a segmentation is not an instance, so evaluation and mask code never see it.
IMAGE_CLASSES_KEY = "image_classes"


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """Encode a boolean ``(H, W)`` mask as compressed COCO RLE.

    Returns
    -------
    dict
        ``{"size": [H, W], "counts": str}`` (``counts`` decoded to ASCII so it is JSON-ready).
    """
    from pycocotools import mask as mask_utils

    m = np.asfortranarray(np.asarray(mask, dtype=np.uint8))
    if m.ndim != 2:
        raise ValueError(f"a mask must be 2-D (H, W); got shape {m.shape}")
    rle = mask_utils.encode(m)
    counts = rle["counts"]
    return {"size": [int(s) for s in rle["size"]], "counts": counts.decode("ascii")}


def decode_rle(rle: dict[str, Any]) -> np.ndarray:
    """Decode compressed (string counts) or uncompressed (list counts) COCO RLE to a bool mask."""
    from pycocotools import mask as mask_utils

    h, w = (int(s) for s in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, list):
        counts = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)["counts"]
    elif isinstance(counts, str):
        counts = counts.encode("ascii")
    with warnings.catch_warnings():
        # pycocotools' decode hands numpy an __array__ without numpy 2's copy keyword: its
        # DeprecationWarning says nothing about the user's data (and napari shows it as a toast)
        warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
        return mask_utils.decode({"size": [h, w], "counts": counts}).astype(bool)


@dataclass
class ImageRecord:
    """One radio cut-out (a COCO ``images[]`` entry).

    Parameters
    ----------
    id : int
        COCO image id.
    file_name : str
        The radio FITS file (or a RadioGalaxyNET PNG), relative to the data set root.
    height, width : int
        Image size in pixels (rows, columns).
    radio_file, ir_file : str, optional
        Radio and infrared FITS paths relative to the data set root.
    radio_wcs : str, optional
        Header text (``WCS.to_header_string()``) of the radio image's celestial WCS.
    beam : tuple of float, optional
        ``(bmaj, bmin, bpa)`` in degrees.
    noise_sigma : float, optional
        Image RMS in Jy/beam (the paper's MAD estimator).
    extra : dict
        Any further keys found in or destined for the file (kept on a round trip).
    """

    id: int
    file_name: str
    height: int
    width: int
    radio_file: str | None = None
    ir_file: str | None = None
    radio_wcs: str | None = None
    beam: tuple[float, float, float] | None = None
    noise_sigma: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Instance:
    """One radio galaxy on one image (a COCO ``annotations[]`` entry).

    Parameters
    ----------
    image_id : int
        The :class:`ImageRecord` it belongs to.
    category_id : int
        COCO category id (see :class:`~napari_radiogal.classes.ClassScheme`).
    rle : dict
        Compressed COCO RLE of the mask (all components together: disjoint lobes are one
        instance). Build from a boolean mask with :meth:`from_mask`.
    host : tuple of float, optional
        Host galaxy ``(x, y)`` = ``(col, row)`` in radio pixels, or ``None`` for "no host".
    score : float, optional
        Confidence in [0, 1] for predictions; ``None`` for ground truth.
    host_ra, host_dec : float, optional
        Host position in degrees (ICRS), when a WCS is known.
    reviewed : bool
        Whether a human has checked this instance.
    id : int, optional
        COCO annotation id (assigned on writing when ``None``).
    extra : dict
        Any further keys (kept on a round trip).
    """

    image_id: int
    category_id: int
    rle: dict[str, Any]
    host: tuple[float, float] | None = None
    score: float | None = None
    host_ra: float | None = None
    host_dec: float | None = None
    reviewed: bool = False
    id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mask(cls, mask: np.ndarray, **kwargs: Any) -> Instance:
        """Build an instance from a boolean ``(H, W)`` mask (other fields as keywords)."""
        return cls(rle=encode_mask(mask), **kwargs)

    @property
    def mask(self) -> np.ndarray:
        """The boolean ``(H, W)`` mask (decoded from :attr:`rle` on each access)."""
        return decode_rle(self.rle)

    @property
    def area(self) -> int:
        """Number of mask pixels."""
        from pycocotools import mask as mask_utils

        return int(mask_utils.area(_rle_bytes(self.rle)))

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """COCO box ``(x, y, w, h)`` in pixels: columns, rows, both from the pixel edge."""
        from pycocotools import mask as mask_utils

        x, y, w, h = mask_utils.toBbox(_rle_bytes(self.rle)).tolist()
        return (float(x), float(y), float(w), float(h))


def _rle_bytes(rle: dict[str, Any]) -> dict[str, Any]:
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    elif isinstance(counts, list):
        from pycocotools import mask as mask_utils

        h, w = rle["size"]
        return mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    return {"size": list(rle["size"]), "counts": counts}


@dataclass
class CocoDataset:
    """Images, instances, the class scheme and provenance: one COCO file in memory.

    Parameters
    ----------
    images : list of ImageRecord
    instances : list of Instance
    scheme : ClassScheme
        The categories; defaults to RadioGalaxyNET's.
    info : dict
        Provenance: software version, model name and sha256, parameters, input checksums.
    """

    images: list[ImageRecord] = field(default_factory=list)
    instances: list[Instance] = field(default_factory=list)
    scheme: ClassScheme = RADIOGALAXYNET
    info: dict[str, Any] = field(default_factory=dict)

    def instances_of(self, image_id: int) -> list[Instance]:
        """Instances on one image, in file order."""
        return [a for a in self.instances if a.image_id == image_id]

    def image(self, image_id: int) -> ImageRecord:
        """The image record with this id (``KeyError`` if absent)."""
        for im in self.images:
            if im.id == image_id:
                return im
        raise KeyError(f"no image with id {image_id}")

    def __iter__(self) -> Iterator[tuple[ImageRecord, list[Instance]]]:
        by_image: dict[int, list[Instance]] = {im.id: [] for im in self.images}
        for a in self.instances:
            by_image.setdefault(a.image_id, []).append(a)
        for im in self.images:
            yield im, by_image[im.id]

    def image_labels(self) -> np.ndarray:
        """Image-level multi-hot labels, shape ``(n_images, n_classes)``, uint8, image order.

        This is all the weakly supervised training sees of the annotations: the classes of
        the instances plus the image-level classes (``extra[IMAGE_CLASSES_KEY]``).
        """
        index = {im.id: i for i, im in enumerate(self.images)}
        labels = np.zeros((len(self.images), self.scheme.num_classes), dtype=np.uint8)
        for a in self.instances:
            labels[index[a.image_id], self.scheme.index_of_id(a.category_id)] = 1
        for i, im in enumerate(self.images):
            for category_id in im.extra.get(IMAGE_CLASSES_KEY, ()):
                labels[i, self.scheme.index_of_id(category_id)] = 1
        return labels
