"""Write a :class:`~napari_radiogal.io.fits.images.RadioImage` or
:class:`~napari_radiogal.io.fits.images.InfraredImage` as a 2-D float32 FITS file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from astropy.io import fits

from napari_radiogal.io.atomic import atomic_path
from napari_radiogal.io.fits.images import InfraredImage, RadioImage

__all__ = ["write_fits"]


def write_fits(
    image: RadioImage | InfraredImage, path: str | os.PathLike, *, overwrite: bool = False
) -> Path:
    """Write an image as a 2-D float32 FITS file, atomically (temp file + rename).

    The header is ``image.header`` (the 2-D image header), so reading the file back with
    :func:`read_radio` / :func:`read_infrared` gives the same data, WCS, beam, frequency
    and unit.

    Parameters
    ----------
    image : RadioImage or InfraredImage
    path : path-like
        Destination.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")
    data = np.ascontiguousarray(image.data, dtype=np.float32)
    header = image.header.copy() if image.header is not None else fits.Header()
    for key in ("BSCALE", "BZERO", "BLANK"):
        header.remove(key, ignore_missing=True, remove_all=True)
    hdu = fits.PrimaryHDU(data=data, header=header)
    with atomic_path(path, suffix=".fits") as tmp:
        hdu.writeto(tmp, overwrite=True, output_verify="silentfix")
    return path
