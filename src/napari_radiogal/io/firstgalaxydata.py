"""The firstgalaxydata layout: real VLA FIRST cut-outs with image-level classes, read in place.

The PyPI package ``firstgalaxydata`` (Griese et al. 2023, MIT; data on Zenodo, record
7689127) ships 2,158 FIRST cut-outs labelled FRI / FRII / Compact / Bent from six published
catalogues, in one zip of PNGs::

    galaxy_data.zip
      galaxy_data/{train,valid,test,all}/{FRI,FRII,Compact,Bent}/RA_DEC_LABEL_CATALOGUE.png

e.g. ``galaxy_data/train/FRII/178.586_45.392_1_MiraBest.png`` (RA, Dec in degrees; label
0 FRI, 1 FRII, 2 Compact, 3 Bent; ``all/`` repeats the other three and is ignored). Each PNG
is 300 x 300 8-bit grayscale at 1.8"/px (FIRST: 1.4 GHz, 5.4" circular beam), *display
scaled*: pixels below 3 sigma are 0, the others ``floor(255 (I - t) / (max - t))`` (see
:data:`napari_radiogal.preprocess.CHANNELS`, ``"radio_display"``).

Nothing is extracted or copied: :func:`read_firstgalaxydata` lists the zip and gives one
:class:`~napari_radiogal.annotations.ImageRecord` per PNG, with a TAN WCS centred on its
RA/Dec, the FIRST beam and its class as an image-level label
(``extra[IMAGE_CLASSES_KEY]``; there are no masks, so there are no instances);
:func:`read_firstgalaxydata_png` reads one member's pixels. The package itself is never
imported (its import pulls torch, matplotlib and h5py): it is only located.

A data set is named on the command line by a *spec* (:func:`parse_firstgalaxydata_spec`):
``firstgalaxydata:SPLIT`` (the installed package) or ``PATH:SPLIT`` with ``PATH`` the zip
or a folder holding ``galaxy_data.zip``; ``SPLIT`` is ``train``, ``valid`` or ``test``.

Orientation: PNG row 0 is taken as FITS row 1 (what writing a FIRST FITS array straight to
a PNG gives); the data carry no WCS, so the parity of the images is not checked here.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_radiogal.annotations import IMAGE_CLASSES_KEY, CocoDataset, ImageRecord
from napari_radiogal.classes import FIRST
from napari_radiogal.errors import CocoFormatError, ConfigError, InputImageError

__all__ = [
    "LAYOUT",
    "PACKAGE",
    "ZIP_NAME",
    "SPLITS",
    "PIXEL_SCALE_ARCSEC",
    "BEAM_FWHM_ARCSEC",
    "FREQUENCY_HZ",
    "IMAGE_SIZE",
    "FirstGalaxyDataSpec",
    "parse_firstgalaxydata_spec",
    "locate_firstgalaxydata",
    "first_wcs_header",
    "read_firstgalaxydata",
    "read_firstgalaxydata_png",
    "read_firstgalaxydata_image",
    "is_firstgalaxydata_record",
]

#: The value of ``ImageRecord.extra["layout"]`` for images read from this layout.
LAYOUT = "firstgalaxydata"
#: The PyPI package (and the spec's keyword for it).
PACKAGE = "firstgalaxydata"
#: The zip of PNGs inside the package.
ZIP_NAME = "galaxy_data.zip"
#: The fixed splits of the data set (``all/`` repeats them).
SPLITS = ("train", "valid", "test")
#: FIRST pixel side, arcsec.
PIXEL_SCALE_ARCSEC = 1.8
#: FIRST restoring beam FWHM (circular), arcsec.
BEAM_FWHM_ARCSEC = 5.4
#: FIRST observing frequency, Hz.
FREQUENCY_HZ = 1.4e9
#: Side of every cut-out, pixels.
IMAGE_SIZE = 300

_MEMBER = re.compile(
    r"galaxy_data/(?P<split>[^/]+)/(?P<folder>[^/]+)/"
    r"(?P<ra>[-+0-9.]+)_(?P<dec>[-+0-9.]+)_(?P<label>\d+)_(?P<catalogue>[^/]+)\.png"
)


@dataclass(frozen=True)
class FirstGalaxyDataSpec:
    """A firstgalaxydata split named on the command line.

    Attributes
    ----------
    source : Path or None
        The zip or a folder holding it; ``None``: the installed package.
    split : str
        One of :data:`SPLITS`.
    """

    source: Path | None
    split: str


def parse_firstgalaxydata_spec(text: str | os.PathLike) -> FirstGalaxyDataSpec | None:
    """Read ``firstgalaxydata:SPLIT`` or ``PATH:SPLIT``; ``None`` for anything else.

    ``PATH`` must end in ``.zip`` or be an existing folder, so a COCO file name that happens
    to contain a colon is never taken for a spec.

    Examples
    --------
    >>> parse_firstgalaxydata_spec("firstgalaxydata:valid")
    FirstGalaxyDataSpec(source=None, split='valid')
    >>> parse_firstgalaxydata_spec("/data/galaxy_data.zip:test").source.name
    'galaxy_data.zip'
    >>> parse_firstgalaxydata_spec("sim/annotations/train.json") is None
    True
    """
    head, sep, split = os.fspath(text).rpartition(":")
    if not sep or split not in SPLITS:
        return None
    if head == PACKAGE:
        return FirstGalaxyDataSpec(None, split)
    path = Path(head)
    if path.suffix.lower() == ".zip" or path.is_dir():
        return FirstGalaxyDataSpec(path, split)
    return None


def locate_firstgalaxydata(path: str | os.PathLike | None = None) -> Path:
    """The ``galaxy_data.zip`` of a given file or folder, else of the installed package.

    Parameters
    ----------
    path : path-like, optional
        The zip itself or a folder holding :data:`ZIP_NAME`. Default: the installed
        ``firstgalaxydata`` package, found without importing it.

    Returns
    -------
    Path

    Raises
    ------
    ConfigError
        Nothing found; the message says to ``pip install firstgalaxydata`` or pass the path.
    """
    if path is not None:
        path = Path(path)
        candidate = path / ZIP_NAME if path.is_dir() else path
        if candidate.is_file():
            return candidate
        raise ConfigError(
            f"{path}: no {ZIP_NAME} there; pass the zip of the firstgalaxydata package "
            f"(or the folder holding it), e.g. .../site-packages/firstgalaxydata/{ZIP_NAME}."
        )
    import importlib.util

    spec = importlib.util.find_spec(PACKAGE)  # locates, does not execute the package
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        candidate = Path(folder) / ZIP_NAME
        if candidate.is_file():
            return candidate
    found = (
        f"the installed package ({', '.join(folders)}) has no {ZIP_NAME}"
        if folders
        else ("the firstgalaxydata package is not installed")
    )
    raise ConfigError(
        f"{found}; run `pip install firstgalaxydata` (or `pip install "
        "napari-radiogal[first]`), or pass the zip: --data /path/galaxy_data.zip:SPLIT."
    )


def first_wcs_header(ra_deg: float, dec_deg: float, size: int = IMAGE_SIZE) -> str:
    """Header text of a FIRST cut-out's TAN WCS, 1.8"/px, centred on ``(ra_deg, dec_deg)``.

    Parameters
    ----------
    ra_deg, dec_deg : float
        ICRS position of the image centre, degrees.
    size : int
        Image side in pixels; ``CRPIX = (size + 1) / 2`` (FITS, 1-based) is the centre.

    Returns
    -------
    str
        ``WCS.to_header_string()`` of ``RA---TAN`` / ``DEC--TAN``, ``RADESYS = 'ICRS'``.

    Examples
    --------
    >>> from astropy.wcs import WCS
    >>> from astropy.io import fits
    >>> w = WCS(fits.Header.fromstring(first_wcs_header(178.586, 45.392)))
    >>> [round(float(v), 3) for v in w.pixel_to_world_values(149.5, 149.5)]
    [178.586, 45.392]
    """
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [float(ra_deg), float(dec_deg)]
    wcs.wcs.crpix = [(size + 1) / 2.0, (size + 1) / 2.0]
    wcs.wcs.cdelt = [-PIXEL_SCALE_ARCSEC / 3600.0, PIXEL_SCALE_ARCSEC / 3600.0]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.radesys = "ICRS"
    return wcs.to_header_string()


def read_firstgalaxydata(source: str | os.PathLike | None, split: str) -> CocoDataset:
    """One split of the firstgalaxydata set as a :class:`CocoDataset` (images only).

    Parameters
    ----------
    source : path-like or None
        The zip or its folder (``None``: the installed package; see
        :func:`locate_firstgalaxydata`).
    split : {"train", "valid", "test"}

    Returns
    -------
    CocoDataset
        ``scheme`` :data:`~napari_radiogal.classes.FIRST`, no instances; image ids 1..N in
        member-name order. Each record:
        ``file_name`` the zip member, 300 x 300, ``radio_wcs`` from :func:`first_wcs_header`,
        ``beam`` 5.4" circular (degrees), ``extra`` with ``layout``, ``zip``, ``member``,
        ``split``, ``catalogue``, ``ra``, ``dec`` and ``image_classes = [label + 1]``.

    Raises
    ------
    ConfigError
        Unknown split, or no zip found.
    CocoFormatError
        The zip is not the firstgalaxydata layout (a class folder of the split missing, a
        file name without ``RA_DEC_LABEL_CATALOGUE``, a label that contradicts its folder).
    """
    if split not in SPLITS:
        raise ConfigError(f"firstgalaxydata split {split!r}; choose one of {list(SPLITS)}.")
    zip_path = locate_firstgalaxydata(source).resolve()
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = sorted(n for n in archive.namelist() if n.startswith(f"galaxy_data/{split}/"))
    except zipfile.BadZipFile as exc:
        raise CocoFormatError(f"not a zip file ({exc}).", path=zip_path) from exc
    pngs = [n for n in members if n.lower().endswith(".png")]
    folders = {n.split("/")[2] for n in pngs}
    missing = [name for name in FIRST.names if name not in folders]
    if missing:
        raise CocoFormatError(
            f"split {split!r} has no PNGs for class folder(s) {missing} (found "
            f"{sorted(folders) or 'none'}); expected galaxy_data/{split}/"
            "{FRI,FRII,Compact,Bent}/*.png as in firstgalaxydata 0.2. Is the zip complete?",
            path=zip_path,
        )
    images = [_record(i + 1, member, zip_path) for i, member in enumerate(pngs)]
    info = {"layout": LAYOUT, "split": split, "zip": str(zip_path)}
    return CocoDataset(images=images, instances=[], scheme=FIRST, info=info)


def _record(image_id: int, member: str, zip_path: Path) -> ImageRecord:
    match = _MEMBER.fullmatch(member)
    if match is None:
        raise CocoFormatError(
            f"member {member!r} is not galaxy_data/SPLIT/CLASS/RA_DEC_LABEL_CATALOGUE.png.",
            path=zip_path,
        )
    label, folder = int(match["label"]), match["folder"]
    if label >= FIRST.num_classes or FIRST.names[label] != folder:
        raise CocoFormatError(
            f"member {member!r}: label {label} does not match its folder {folder!r} "
            f"(labels: {dict(enumerate(FIRST.names))}).",
            path=zip_path,
        )
    ra, dec = float(match["ra"]), float(match["dec"])
    beam = BEAM_FWHM_ARCSEC / 3600.0
    return ImageRecord(
        id=image_id,
        file_name=member,
        height=IMAGE_SIZE,
        width=IMAGE_SIZE,
        radio_wcs=first_wcs_header(ra, dec),
        beam=(beam, beam, 0.0),
        extra={
            "layout": LAYOUT,
            "zip": str(zip_path),
            "member": member,
            "split": match["split"],
            "catalogue": match["catalogue"],
            "ra": ra,
            "dec": dec,
            IMAGE_CLASSES_KEY: [FIRST.id_of_index(label)],
        },
    )


def read_firstgalaxydata_png(zip_path: str | os.PathLike, member: str) -> np.ndarray:
    """The pixels of one PNG of the zip, read without extracting it.

    Parameters
    ----------
    zip_path : path-like
        ``galaxy_data.zip``.
    member : str
        Its member name, e.g. ``galaxy_data/valid/FRI/...png``.

    Returns
    -------
    ndarray of uint8, shape (300, 300)
        Display values 0..255, ``(row, col)``.

    Raises
    ------
    InputImageError
        Missing member, or not an 8-bit grayscale image.
    """
    import io

    from PIL import Image

    try:
        with zipfile.ZipFile(zip_path) as archive:
            payload = archive.read(member)
    except KeyError:
        raise InputImageError(f"{zip_path}: no member {member!r}.") from None
    with Image.open(io.BytesIO(payload)) as img:
        if img.mode != "L":
            raise InputImageError(
                f"{zip_path}:{member}: expected an 8-bit grayscale PNG (mode 'L'), got "
                f"mode {img.mode!r}."
            )
        return np.asarray(img, dtype=np.uint8).copy()


def read_firstgalaxydata_image(record: ImageRecord):
    """One record's PNG as a :class:`~napari_radiogal.io.fits.RadioImage` (for inference).

    The data are the display values 0..255 as float32 (unit ``"display"``), with the
    record's WCS and the FIRST beam, so that the display pre-processing
    (``"radio_display"``) gives back ``PNG / 255`` exactly: more than half of the pixels
    are 0, so the image's noise is 0 and its clip level too.

    Parameters
    ----------
    record : ImageRecord
        From :func:`read_firstgalaxydata`.

    Returns
    -------
    RadioImage
    """
    from astropy.io import fits
    from astropy.wcs import WCS

    from napari_radiogal.io.fits import Beam, RadioImage

    pixels = read_firstgalaxydata_png(record.extra["zip"], record.extra["member"])
    return RadioImage(
        data=pixels.astype(np.float32),
        wcs=WCS(fits.Header.fromstring(record.radio_wcs)),
        beam=Beam(*record.beam),
        frequency_hz=FREQUENCY_HZ,
        unit="display",
    )


def is_firstgalaxydata_record(record: ImageRecord) -> bool:
    """Whether an ImageRecord points at a PNG inside a firstgalaxydata zip."""
    return record.extra.get("layout") == LAYOUT and "member" in record.extra
