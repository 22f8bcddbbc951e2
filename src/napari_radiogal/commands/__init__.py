"""Subcommands of ``radiogal``: one module each (see :mod:`napari_radiogal.cli`)."""
