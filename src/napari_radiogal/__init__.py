"""napari-radiogal: find, outline and classify extended radio galaxies and their infrared hosts.

The core (``io``, ``sky``, ``preprocess``, ``models``, ``inference``, ``training``,
``evaluate``) is GUI-free; only ``napari_radiogal._napari`` imports napari / Qt.
Importing this package is cheap: it loads neither torch nor napari nor Qt.

Conventions used throughout the package
---------------------------------------
* Images are ``(row, col)`` = ``(y, x)`` arrays, 0-based; FITS ``NAXIS1`` is the column axis.
* COCO pixel coordinates are ``x = col``, ``y = row`` at pixel centres (see ``io.coco``).
* Radio surface brightness is in Jy/beam, angles in degrees unless a name says ``arcsec``.
"""

from napari_radiogal._version import __version__

__all__ = ["__version__"]
