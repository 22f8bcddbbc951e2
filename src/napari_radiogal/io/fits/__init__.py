"""Read radio and infrared FITS images into plain, validated 2-D images.

Real radio and infrared FITS files differ in many small ways (see
``docs/DESIGN.md``, section *FITS*): 3 to 5 axes of which only two are sky axes,
``NAXIS = 2`` headers that still describe a frequency and a Stokes axis, SIN / TAN /
NCP projections, PC or CD matrices, reference pixels far outside the image, ``BLANK``
on float data, beams without a position angle, ``BUNIT`` spelled ``'JY/BEAM'`` or
``'Jy/beam '``. :func:`read_radio` and :func:`read_infrared` hide all of that and
return a :class:`RadioImage` / :class:`InfraredImage`:

* ``data``: float32 array of shape ``(H, W)`` = ``(row, col)`` = ``(y, x)``, 0-based;
  FITS ``NAXIS1`` is the column axis and row 0 is the *southern* edge for a normal
  (north-up) WCS. NaN marks blanked pixels.
* ``wcs``: the 2-D celestial :class:`astropy.wcs.WCS` (``None`` only in pixel-only mode,
  which always comes with a :class:`~napari_radiogal.errors.FitsFormatWarning`).
* ``header``: the header reduced to the 2-D image that ``data`` holds (extra axes
  removed, the celestial WCS re-written, everything else kept), so
  ``fits.PrimaryHDU(image.data, image.header)`` describes the image correctly.

Every problem either becomes a :class:`~napari_radiogal.errors.FitsFormatError`
(a ``ValueError`` carrying ``path``, ``hdu`` and ``keyword``) or a correct result plus a
:class:`~napari_radiogal.errors.FitsFormatWarning` saying what was done instead.
astropy's own ``FITSFixedWarning`` / ``VerifyWarning`` messages never reach the caller:
harmless fixes (dates, observatory position, extra WCS axes) are logged at DEBUG level,
the others are re-issued as ``FitsFormatWarning``.

Large files: only the selected plane of a cube is read (``hdu.section``), byte-swapped in
place, so the peak memory of a read is one plane. With ``lazy=True`` nothing is read at
all: the file is memory-mapped and ``data`` is a read-only view of the map, meant for
:func:`napari_radiogal.io.align.cutout` and
:func:`~napari_radiogal.io.align.reproject_to_grid`, which read only the pixels they need
(``benchmarks/fits_cutout_memory.py``: a 210 x 210 cut-out of a 10k x 10k mosaic grows
the process by ~2 MB).

The package is split along those seams: :mod:`~napari_radiogal.io.fits.images` (the
image types), :mod:`~napari_radiogal.io.fits.reader` (files, HDUs, planes, pixels),
:mod:`~napari_radiogal.io.fits.wcs` (celestial WCS, pixel scales),
:mod:`~napari_radiogal.io.fits.header` (beam, unit, frequency, the 2-D header) and
:mod:`~napari_radiogal.io.fits.writer`; everything public is importable from here.

Importing this package loads astropy and numpy, never torch. The readers capture
astropy's warnings with :func:`warnings.catch_warnings`, which (before Python 3.14) is
process-global: call them from one thread at a time if you rely on warning filters.
"""

from napari_radiogal.io.fits.header import image_header
from napari_radiogal.io.fits.images import (
    Beam,
    InfraredImage,
    RadioImage,
    infrared_image_from_array,
    is_lazy,
    radio_image_from_array,
)
from napari_radiogal.io.fits.reader import read_infrared, read_radio
from napari_radiogal.io.fits.wcs import pixel_scale_from_wcs_header
from napari_radiogal.io.fits.writer import write_fits

__all__ = [
    "Beam",
    "RadioImage",
    "InfraredImage",
    "read_radio",
    "read_infrared",
    "radio_image_from_array",
    "infrared_image_from_array",
    "write_fits",
    "image_header",
    "is_lazy",
    "pixel_scale_from_wcs_header",
]
