"""``python -m napari_radiogal`` is the same as ``radiogal``."""

import sys

from napari_radiogal.cli import main

sys.exit(main())
