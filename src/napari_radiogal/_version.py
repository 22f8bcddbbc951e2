"""The single source of the package version (read by pyproject and ``__init__``)."""

__version__ = "0.1.0.dev0"
