"""The napari plugin: reader, writer, sample data and widgets.

This is the only subpackage that may import napari, magicgui or qtpy (an import-linter
contract in ``pyproject.toml`` enforces it). Heavy imports (torch, reproject, pycocotools)
happen inside functions so napari starts fast.
"""
