"""The ``radiogal`` command line.

Subcommands live one per module in :mod:`napari_radiogal.commands`; each module defines

* ``NAME`` (str) and ``HELP`` (one line),
* ``add_arguments(parser: argparse.ArgumentParser) -> None``,
* ``run(args: argparse.Namespace) -> int`` (the exit code).

Command modules import heavy packages (torch, napari) inside ``run`` only, so that
``radiogal --help`` stays fast. Errors of our own (:class:`~napari_radiogal.errors.RadiogalError`)
are printed as one clear line with exit code 2, not as a traceback (``--debug`` shows it);
so are the system's errors the environment causes (a full disk, a permission, a missing path:
:meth:`~napari_radiogal.errors.StorageError.from_os_error`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
import warnings
from collections.abc import Sequence

from napari_radiogal import __version__
from napari_radiogal.errors import RadiogalError, StorageError

__all__ = ["main", "build_parser"]

log = logging.getLogger("napari_radiogal")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Wraps each paragraph of a description on its own (argparse joins them), keeps
    paragraphs with indented lines (command examples) verbatim, and shows option defaults."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = [p for p in text.split("\n\n") if p.strip()]
        return "\n\n".join(
            self._verbatim(p, indent)
            if any(line.startswith((" ", "\t")) for line in p.splitlines())
            else super(_HelpFormatter, self)._fill_text(p, width, indent)
            for p in paragraphs
        )

    @staticmethod
    def _verbatim(paragraph: str, indent: str) -> str:
        return "\n".join(indent + line for line in paragraph.strip("\n").splitlines())


def _command_modules() -> list:
    """Import every module of :mod:`napari_radiogal.commands` that defines a subcommand."""
    from napari_radiogal import commands

    modules = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            modules.append(module)
    return modules


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, one subparser per command module."""
    parser = argparse.ArgumentParser(
        prog="radiogal",
        description=(
            "Find, outline and classify extended radio galaxies (FR-I, FR-II, FR-X, R) and "
            "their infrared hosts in radio continuum images."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks for errors of our own"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        p = sub.add_parser(
            module.NAME,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=_HelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


class _CurrentStderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is *now*.

    Binding the stream once breaks when stderr is swapped later (pytest's capture, tqdm's
    redirection): records would go to a closed stream.
    """

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; ignore
        pass


def _configure_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = _CurrentStderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("napari_radiogal")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _warning_formatter(command: str):
    """A :func:`warnings.formatwarning` for the terminal: what happened, not where in our code.

    Python's default shows the file and source line that issued the warning, which means
    nothing to a user (``--debug`` keeps it). Only the text changes: code that records
    warnings (``warnings.catch_warnings(record=True)``, pytest) still gets them.
    """

    def format_warning(message, category, filename, lineno, line=None) -> str:
        return f"radiogal {command}: warning: {message}\n"

    return format_warning


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``radiogal`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose, args.quiet)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    caller_format = warnings.formatwarning
    if not args.debug:
        warnings.formatwarning = _warning_formatter(args.command)
    try:
        return int(args._run(args) or 0)
    except RadiogalError as exc:
        if args.debug:
            raise
        # printed once, as argparse prints its own errors (not also as a log line)
        print(f"radiogal {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # a full disk, a permission, a missing path: the environment, not a bug of ours
        ours = StorageError.from_os_error(exc)
        if args.debug or ours is None:
            raise
        print(f"radiogal {args.command}: error: {ours}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"radiogal {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = caller_format


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
