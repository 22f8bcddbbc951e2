"""Training data: COCO files -> pre-processed float channels (cached) + image-level labels.

Four layouts are read, all as a :class:`~napari_radiogal.annotations.CocoDataset`:

* **simulator output** and **our napari exports**: ``images[].radio_file`` / ``ir_file`` (or
  ``file_name``) name FITS files; the infrared image is reprojected onto the radio grid and
  both go through :func:`napari_radiogal.preprocess.preprocess`;
* the **RadioGalaxyNET / Gal-CAM layout**: ``file_name`` names a byte-packed PNG whose
  channels are already the scaled images of the paper's section 3.1 (decoded to floats);
* the **firstgalaxydata** set, named by a spec instead of a JSON file
  (``firstgalaxydata:train``, ``/path/galaxy_data.zip:valid``;
  :func:`napari_radiogal.io.firstgalaxydata.parse_firstgalaxydata_spec`): display-scaled
  FIRST PNGs read from the zip in place, pre-processed like a radio image (the
  ``"radio_display"`` channel gives back ``PNG / 255``), with image-level classes only.

Each image is pre-processed once and cached as ``.npz`` (channels + radio-island mask) in a
cache folder, keyed by the files' paths, sizes, modification times and the
:class:`~napari_radiogal.preprocess.PreprocessConfig`, so epochs only read small arrays.

Weak supervision: the only thing taken from the annotations is the image-level multi-hot
label vector (:meth:`CocoDataset.image_labels`); masks and hosts are read only for the images
that mixed supervision selects (:meth:`PreparedImages.is_mask_supervised`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from napari_radiogal.annotations import CocoDataset, ImageRecord, Instance
from napari_radiogal.classes import ClassScheme
from napari_radiogal.errors import CocoFormatError, RadiogalWarning, StorageError
from napari_radiogal.io.atomic import atomic_path
from napari_radiogal.preprocess import PreprocessConfig, assemble_channels, preprocess

__all__ = [
    "ImageSource",
    "PreparedImages",
    "image_sources",
    "read_image_pair",
    "prepare_images",
    "prepare_datasets",
    "check_datasets",
    "read_training_coco",
    "read_npz",
]

log = logging.getLogger(__name__)

_CACHE_VERSION = 1


@dataclass(frozen=True)
class ImageSource:
    """Where one training image's pixels are.

    Attributes
    ----------
    kind : {"fits", "png", "first_png"}
        FITS pair (raw radio in Jy/beam + infrared), RadioGalaxyNET byte-packed PNG, or a
        firstgalaxydata display PNG inside its zip.
    radio : Path
        Radio FITS, the PNG, or the zip.
    ir : Path or None
        Infrared FITS (``None``: no infrared, the IR channel is zero).
    member : str or None
        ``"first_png"`` only: the PNG's member name in the zip.
    """

    kind: str
    radio: Path
    ir: Path | None = None
    member: str | None = None


def image_sources(coco_path: str | os.PathLike, dataset: CocoDataset) -> list[ImageSource]:
    """Resolve the files of every image of a COCO file (paths relative to the data set root).

    Images read from a firstgalaxydata zip point at their zip member.

    Raises
    ------
    CocoFormatError
        If an image names no radio file, or a named file does not exist.
    """
    from napari_radiogal.io.coco import resolve_image_path
    from napari_radiogal.io.firstgalaxydata import is_firstgalaxydata_record

    sources = []
    for i, im in enumerate(dataset.images):
        if is_firstgalaxydata_record(im):
            archive = Path(im.extra["zip"])
            if not archive.is_file():
                raise CocoFormatError(
                    f"zip {archive} not found; install firstgalaxydata or fix extra.zip",
                    path=coco_path,
                    field=f"images[{i}]",
                )
            sources.append(ImageSource("first_png", archive, member=im.extra["member"]))
            continue
        radio = resolve_image_path(coco_path, im, "radio_file") or resolve_image_path(
            coco_path, im, "file_name"
        )
        if radio is None:
            raise CocoFormatError(
                "the image names no radio file", path=coco_path, field=f"images[{i}]"
            )
        kind = "png" if radio.suffix.lower() == ".png" else "fits"
        ir = resolve_image_path(coco_path, im, "ir_file") if kind == "fits" else None
        for p in (radio, ir):
            if p is not None and not p.is_file():
                raise CocoFormatError(
                    f"file {p} not found; paths in images[] are relative to the data set "
                    "root (the folder above annotations/)",
                    path=coco_path,
                    field=f"images[{i}]",
                )
        sources.append(ImageSource(kind, radio, ir))
    return sources


def read_image_pair(source: ImageSource) -> tuple[np.ndarray, np.ndarray | None]:
    """Radio ``(H, W)`` in Jy/beam and infrared on the radio grid (or ``None``) of a FITS pair."""
    from napari_radiogal.io.align import reproject_to_grid
    from napari_radiogal.io.fits import read_infrared, read_radio

    radio = read_radio(source.radio)
    if source.ir is None:
        return np.asarray(radio.data, np.float64), None
    infrared = reproject_to_grid(read_infrared(source.ir), radio)
    return np.asarray(radio.data, np.float64), np.asarray(infrared.data, np.float64)


def _read_png_channels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from napari_radiogal.io.radiogalaxynet import read_radiogalaxynet_png

    return read_radiogalaxynet_png(path)


def _cache_key(source: ImageSource, config: PreprocessConfig) -> str:
    parts: list[object] = [_CACHE_VERSION, source.kind, config.to_dict()]
    if source.member is not None:
        parts.append(source.member)
    for p in (source.radio, source.ir):
        if p is not None:
            st = p.stat()
            parts.append([str(p.resolve()), st.st_size, st.st_mtime_ns])
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def _compute(source: ImageSource, config: PreprocessConfig) -> tuple[np.ndarray, np.ndarray]:
    if source.kind == "png":
        radio01, ir01 = _read_png_channels(source.radio)
        channels = assemble_channels(radio01, ir01, config)
        return channels, radio01 > 0
    if source.kind == "first_png":
        from napari_radiogal.io.firstgalaxydata import read_firstgalaxydata_png

        display = read_firstgalaxydata_png(source.radio, source.member).astype(np.float64)
        out = preprocess(display, None, config)  # what predict does with the same PNG
        return out.channels, out.radio_islands > 0
    radio, ir = read_image_pair(source)
    out = preprocess(radio, ir, config)
    return out.channels, out.radio_islands > 0


def _collect_warnings(
    caught: list[warnings.WarningMessage], notes: dict[str, list[str]], source: ImageSource
) -> None:
    """Keep our warnings for one summary per kind (a data set may have thousands of images)."""
    for w in caught:
        if issubclass(w.category, RadiogalWarning):
            notes.setdefault(w.category.__name__, []).append(str(w.message))
            log.debug("%s: %s", source.radio.name, w.message)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _write_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def read_npz(
    path: str | os.PathLike, keys: Sequence[str] | None = None, *, fix: str
) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file the program wrote (a cache), read without pickle.

    Parameters
    ----------
    path : path
        The file.
    keys : sequence of str, optional
        The arrays to read (default: all of them); a missing one makes the file incomplete.
    fix : str
        What the user should do about an unreadable file, for the message.

    Returns
    -------
    dict of str to ndarray

    Raises
    ------
    StorageError
        The file is missing, truncated, corrupt, lacks one of ``keys`` or holds pickled
        objects (never loaded: ``allow_pickle=False``).
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in (z.files if keys is None else keys)}
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        # numpy's own message may advise allow_pickle=True: never pass that on
        raise StorageError(
            f"{path} is unreadable: missing, truncated or corrupt ({type(exc).__name__}); {fix}."
        ) from exc


_CACHE_FIX = "delete it (or the whole cache folder) and run again: it is rebuilt"


def is_mask_supervised(instances: Sequence[Instance], which: str) -> bool:
    """Whether an image with these instances takes its stage-D label from its masks.

    ``which`` is ``pseudo_labels.masks``: ``"all"``: the image has at least one instance
    with a non-empty mask; ``"reviewed"``: that, and every one of its instances is marked
    reviewed; ``"none"``: never.
    """
    if which == "none" or not instances:
        return False
    if not any(inst.area > 0 for inst in instances):
        return False
    return which == "all" or all(inst.reviewed for inst in instances)


def supervised_hosts(instances: Sequence[Instance], which: str) -> list[Instance]:
    """The instances of one image whose host supervises the host head under ``which``:
    those with a mask and a host, of an image that :func:`is_mask_supervised`."""
    if not is_mask_supervised(instances, which):
        return []
    return [a for a in instances if a.host is not None and a.area > 0]


@dataclass
class PreparedImages:
    """Pre-processed images of one COCO file, read lazily from the cache.

    Attributes
    ----------
    records : list of ImageRecord
        COCO image records, file order.
    labels : ndarray of float32, shape (N, K)
        Image-level multi-hot labels (the only supervision used).
    scheme : ClassScheme
    cache_files : list of Path
        One ``.npz`` per image with ``channels`` (C, H, W) float32 and ``islands`` (H, W) bool.
    config : PreprocessConfig
    instances : list of tuple of Instance
        The annotated instances of each image (empty for image-level labels only), for
        mixed supervision (:meth:`mask_label`); their masks are decoded only when asked.
    """

    records: list[ImageRecord]
    labels: np.ndarray
    scheme: ClassScheme
    cache_files: list[Path]
    config: PreprocessConfig
    instances: list[tuple[Instance, ...]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def channels(self, index: int) -> np.ndarray:
        """Network channels ``(C, H, W)`` float32 of image ``index``."""
        return read_npz(self.cache_files[index], ["channels"], fix=_CACHE_FIX)["channels"]

    def islands(self, index: int) -> np.ndarray:
        """Radio-island mask ``(H, W)`` bool of image ``index``."""
        return read_npz(self.cache_files[index], ["islands"], fix=_CACHE_FIX)["islands"]

    def is_mask_supervised(self, index: int, which: str) -> bool:
        """Whether image ``index`` takes its stage-D label from its masks under ``which``
        (:func:`is_mask_supervised`)."""
        instances = self.instances[index] if index < len(self.instances) else ()
        return is_mask_supervised(instances, which)

    def supervised_hosts(self, which: str) -> list[tuple[int, list[Instance]]]:
        """The images whose hosts supervise the host head under ``which``, with those
        instances (:func:`supervised_hosts`).

        Returns
        -------
        list of (image index, list of Instance)
        """
        out = []
        for i in range(len(self)):
            instances = self.instances[i] if i < len(self.instances) else ()
            with_host = supervised_hosts(instances, which)
            if with_host:
                out.append((i, with_host))
        return out

    def instance_masks(self, index: int) -> list[tuple[np.ndarray, int]]:
        """``[(mask (H, W) bool, class index)]`` of the annotated instances of image ``index``."""
        return [
            (inst.mask, self.scheme.index_of_id(inst.category_id)) for inst in self.instances[index]
        ]

    def mask_label(self, index: int) -> np.ndarray:
        """The stage-D label ``(H, W)`` uint8 of image ``index`` from its annotated masks.

        0 = background, ``k + 1`` = class ``k`` of :attr:`scheme` inside each instance's
        mask (where two masks overlap, the later instance wins), the same convention as
        the CAM pseudo-labels (:func:`~napari_radiogal.training.pseudo_labels.make_pseudo_label`).
        """
        record = self.records[index]
        label = np.zeros((record.height, record.width), np.uint8)
        for inst in self.instances[index]:
            label[inst.mask] = self.scheme.index_of_id(inst.category_id) + 1
        return label


def prepare_images(
    coco_path: str | os.PathLike,
    config: PreprocessConfig,
    cache_dir: str | os.PathLike,
    *,
    scheme: ClassScheme | None = None,
    progress: Callable[[int, int], None] | None = None,
    rank: int = 0,
) -> PreparedImages:
    """Read a COCO file and pre-process (or find in the cache) each of its images.

    Parameters
    ----------
    coco_path : path or str
        COCO JSON (simulator output, napari export, or RadioGalaxyNET layout), or a
        firstgalaxydata spec (``firstgalaxydata:train``; see :func:`read_training_coco`).
    config : PreprocessConfig
        Pre-processing and channels.
    cache_dir : path
        Folder for the cached ``.npz`` files (created).
    scheme : ClassScheme, optional
        The class list the model is trained on; the file's categories must be the same
        classes (by name and id), in any order. Default: the file's own.
    progress : callable(done, total), optional
    rank : int
        Process rank under DDP; only rank 0 logs.

    Returns
    -------
    PreparedImages
    """
    dataset, labels, sources = _read_checked(coco_path, scheme)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    files = []
    n_new = 0
    notes: dict[str, list[str]] = {}
    for i, (source, record) in enumerate(zip(sources, dataset.images, strict=True)):
        path = cache / f"{record.id}-{_cache_key(source, config)}.npz"
        if not path.is_file():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", RadiogalWarning)
                channels, islands = _compute(source, config)
            _collect_warnings(caught, notes, source)
            if channels.shape[1:] != (record.height, record.width):
                raise CocoFormatError(
                    f"image {source.radio} is {channels.shape[1]}x{channels.shape[2]} but the "
                    f"file says {record.height}x{record.width}",
                    path=coco_path,
                    field=f"images[{i}]",
                )
            _write_npz_atomic(path, channels=channels.astype(np.float32), islands=islands)
            n_new += 1
        files.append(path)
        if progress is not None:
            progress(i + 1, len(sources))
    if notes and rank == 0:
        for category, messages in notes.items():
            log.warning(
                "%s: %d of %d images gave a %s, e.g. %s (all of them: --verbose)",
                Path(coco_path).name,
                len(messages),
                len(sources),
                category,
                messages[0],
            )
    if rank == 0:
        log.info(
            "%s: %d images (%d pre-processed now, %d from the cache %s)",
            coco_path,
            len(files),
            n_new,
            len(files) - n_new,
            cache,
        )
    by_image = {record.id: tuple(found) for record, found in dataset}
    return PreparedImages(
        records=list(dataset.images),
        labels=labels,
        scheme=scheme or dataset.scheme,
        cache_files=files,
        config=config,
        instances=[by_image[record.id] for record in dataset.images],
    )


def prepare_datasets(
    coco_paths: Sequence[str | os.PathLike],
    config: PreprocessConfig,
    cache_dir: str | os.PathLike,
    *,
    scheme: ClassScheme | None = None,
    rank: int = 0,
) -> PreparedImages:
    """:func:`prepare_images` of several COCO files, as one training set in file order.

    Each file's paths stay relative to its own data set root, so a simulated sky, a second
    sky and a folder of napari exports can be trained on together without copying.

    Parameters
    ----------
    coco_paths : sequence of path
        One or more COCO files.
    config, cache_dir, rank
        As :func:`prepare_images`.
    scheme : ClassScheme, optional
        The class list; default: the first file's. Every file must have the same classes.

    Raises
    ------
    CocoFormatError
        No file given, or a file's classes differ from the scheme.
    """
    if not coco_paths:
        raise CocoFormatError("no training COCO file given; pass at least one with --data")
    parts: list[PreparedImages] = []
    for path in coco_paths:
        part = prepare_images(
            path,
            config,
            cache_dir,
            scheme=scheme or (parts[0].scheme if parts else None),
            rank=rank,
        )
        parts.append(part)
    if len(parts) == 1:
        return parts[0]
    return PreparedImages(
        records=[r for p in parts for r in p.records],
        labels=np.concatenate([p.labels for p in parts], axis=0),
        scheme=parts[0].scheme,
        cache_files=[f for p in parts for f in p.cache_files],
        config=config,
        instances=[i for p in parts for i in p.instances],
    )


def check_datasets(
    coco_paths: Sequence[str | os.PathLike], *, scheme: ClassScheme | None = None
) -> ClassScheme:
    """Read every COCO file and find its images' files, writing nothing.

    What :func:`prepare_datasets` checks before pre-processing, so that a run can refuse a
    bad ``--data`` or ``--val`` before it touches its run folder.

    Parameters
    ----------
    coco_paths : sequence of path
        COCO files or firstgalaxydata specs.
    scheme : ClassScheme, optional
        The class list every file must have; default: the first file's.

    Returns
    -------
    ClassScheme
        ``scheme``, or the first file's.

    Raises
    ------
    CocoFormatError
        No file given, a file unreadable or without images, an image file missing, or a
        file's classes differing from the scheme.
    """
    if not coco_paths:
        raise CocoFormatError("no training COCO file given; pass at least one with --data")
    for path in coco_paths:
        dataset, _, _ = _read_checked(path, scheme)
        scheme = scheme or dataset.scheme
    return scheme


def _read_checked(
    coco_path: str | os.PathLike, scheme: ClassScheme | None
) -> tuple[CocoDataset, np.ndarray, list[ImageSource]]:
    """A training COCO file, its labels in ``scheme`` order and its images' files."""
    dataset = read_training_coco(coco_path)
    if not dataset.images:
        raise CocoFormatError("the file has no images; nothing to train on", path=coco_path)
    labels = _labels_in_scheme(dataset, scheme or dataset.scheme, coco_path)
    return dataset, labels, image_sources(coco_path, dataset)


def read_training_coco(path: str | os.PathLike) -> CocoDataset:
    """Read a COCO file; ``ROOT/annotations/instances_<split>2017.json`` as RadioGalaxyNET;
    a firstgalaxydata spec as that set.

    The RadioGalaxyNET / Gal-CAM files name their PNGs without the ``<split>2017/`` folder;
    :func:`napari_radiogal.io.radiogalaxynet.read_radiogalaxynet` puts it back. A spec
    ``firstgalaxydata:SPLIT`` or ``PATH:SPLIT`` (``PATH`` the zip or its folder) is read by
    :func:`napari_radiogal.io.firstgalaxydata.read_firstgalaxydata`.
    """
    from napari_radiogal.io.coco import read_coco
    from napari_radiogal.io.firstgalaxydata import (
        parse_firstgalaxydata_spec,
        read_firstgalaxydata,
    )

    spec = parse_firstgalaxydata_spec(path)
    if spec is not None:
        return read_firstgalaxydata(spec.source, spec.split)

    path = Path(path)
    match = re.fullmatch(r"instances_(.+?)(2017)?\.json", path.name)
    if match and path.parent.name == "annotations":
        from napari_radiogal.io.radiogalaxynet import read_radiogalaxynet

        return read_radiogalaxynet(path.parent.parent, match.group(1))
    return read_coco(path)


def _labels_in_scheme(dataset: CocoDataset, scheme: ClassScheme, path) -> np.ndarray:
    """Image labels ``(N, K)`` float32 with columns in ``scheme`` order."""
    file_scheme = dataset.scheme
    if sorted(zip(file_scheme.names, file_scheme.coco_ids, strict=False)) != sorted(
        zip(scheme.names, scheme.coco_ids, strict=False)
    ):
        raise CocoFormatError(
            f"the file's classes {dict(zip(file_scheme.coco_ids, file_scheme.names, strict=False))} differ "
            f"from the model's {dict(zip(scheme.coco_ids, scheme.names, strict=False))}; train and validate "
            "on files with the same categories",
            path=path,
            field="categories",
        )
    raw = dataset.image_labels().astype(np.float32)
    order = [file_scheme.index_of_id(cid) for cid in scheme.coco_ids]
    return raw[:, order]


def class_counts(labels: np.ndarray, names: Sequence[str]) -> dict[str, int]:
    """Images per class, for logs."""
    return {n: int(c) for n, c in zip(names, labels.sum(axis=0), strict=True)}
