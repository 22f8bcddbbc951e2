"""``radiogal survey``: a whole mosaic to one consolidated catalogue (resumable, Dask-ready).

``radiogal survey MOSAIC.fits [--ir W1.fits] [--components CAT] --out DIR`` writes
``DIR/catalogue.{ecsv,fits,vot}``, ``DIR/sources.{reg,crtf}``, ``DIR/windows.json`` (COCO of
the windows, for review) and ``DIR/provenance.json`` (``--formats`` chooses), published as
one set (:mod:`napari_radiogal.io.outputset`); ``DIR/state/`` holds the manifest, so
the same command after a crash (or ``kill -9``) continues where it stopped. ``--workers N``
runs on a local Dask cluster, ``--scheduler ADDRESS`` on a running one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "survey"
HELP = "segment a whole mosaic into one consolidated catalogue (resumable, Dask)"
DESCRIPTION = (
    "Segment a radio mosaic window by window and write one catalogue in which every source "
    "appears once (ECSV, FITS table, VOTable), DS9 and CRTF regions, a COCO file of the "
    "windows and the provenance. Windows are centred on the components of a source-finder "
    "catalogue (--components: Selavy, PyBDSF, Aegean...; ECSV, CSV, FITS or VOTable) or, "
    "without one, tile the whole mosaic (blank and noise-only windows are skipped). Rerun "
    "the same command to resume an interrupted survey.\n\n"
    "Examples:\n\n"
    "  radiogal survey emu_tile.fits --ir w1.fits --out survey/\n"
    "  radiogal survey emu_tile.fits --components selavy.xml --workers 2 --out survey/\n"
    "  radiogal survey emu_tile.fits --dry-run"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from napari_radiogal.inference.config import DEVICE_CHOICES, InferenceConfig

    defaults = InferenceConfig()
    parser.add_argument("mosaic", type=Path, metavar="MOSAIC.fits", help="radio mosaic (Jy/beam)")
    parser.add_argument(
        "--ir", type=Path, metavar="W1.fits", help="infrared mosaic, any grid overlapping the radio"
    )
    parser.add_argument(
        "--components",
        type=Path,
        metavar="CAT",
        help="component catalogue: windows are centred on its components (default: blind "
        "windows over the whole mosaic)",
    )
    for what in ("ra", "dec", "flux", "id"):
        parser.add_argument(
            f"--{what}-column",
            default=None,
            metavar="NAME",
            help=f"the catalogue's {what.upper() if what != 'flux' else 'flux'} column "
            "(default: guessed from the usual source-finder names)%(default).0s",
        )
    parser.add_argument("--out", type=Path, default=Path("survey"), metavar="DIR")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start again in DIR; the previous outputs are kept as NAME.bak when the new "
        "ones replace them",
    )
    from napari_radiogal.commands.predict import add_output_arguments

    add_output_arguments(parser)
    parser.add_argument("--model", default=None, help="weights file or bundled model name")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default=defaults.device)
    parser.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help="windows per network pass"
    )
    parser.add_argument(
        "--window-overlap",
        type=int,
        default=defaults.window_overlap,
        help="smallest overlap of blind windows, on the model's grid (pixels)",
    )
    parser.add_argument(
        "--beam",
        default=None,
        metavar="MAJOR[,MINOR,PA]",
        help="the mosaic's beam in arcsec and degrees, when its header has none%(default).0s",
    )
    parser.add_argument(
        "--n-sigma",
        type=float,
        default=5.0,
        help="blind windows without a pixel above this many times the noise are skipped",
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="local Dask worker processes (0: run here)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per worker (or here); part of the plan, since the last bits of "
        "the scores depend on it: use --workers to use more cores",
    )
    parser.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", help="a running Dask scheduler%(default).0s"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the number of windows and the expected time, then stop (writes nothing)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def settings_from_args(args: argparse.Namespace) -> dict:
    """The inference settings given on the command line (checked here); the model's card
    and the library defaults give the rest (:meth:`LoadedModel.config`)."""
    from napari_radiogal.inference.config import InferenceConfig

    beam = () if args.beam is None else InferenceConfig.parse_float_list(args.beam, "beam")
    settings = {
        "device": args.device,
        "batch_size": args.batch_size,
        "window_overlap": args.window_overlap,
        "beam": beam,
    }
    InferenceConfig().replace(**settings)  # a bad value fails before anything is read
    return settings


def _plan_options(args: argparse.Namespace) -> dict:
    return {
        "threads": args.threads,
        "n_sigma": args.n_sigma,
        "ra_column": args.ra_column,
        "dec_column": args.dec_column,
        "flux_column": args.flux_column,
        "id_column": args.id_column,
    }


def run(args: argparse.Namespace) -> int:
    from napari_radiogal.errors import ConfigError

    if args.workers < 0:
        raise ConfigError(f"--workers {args.workers}: expected 0 or more.")
    if args.components is None and any(
        getattr(args, f"{w}_column") for w in ("ra", "dec", "flux", "id")
    ):
        raise ConfigError("--ra-column / --dec-column / ... need --components.")
    config = settings_from_args(args)
    if args.dry_run:
        return _dry_run(args, config)
    return _survey(args, config)


def _dry_run(args: argparse.Namespace, config) -> int:
    import time

    from napari_radiogal.survey import plan_survey
    from napari_radiogal.survey.work import run_batch, torch_threads

    plan = plan_survey(
        args.mosaic,
        infrared=args.ir,
        components=args.components,
        model=args.model,
        config=config,
        checksums=False,
        **_plan_options(args),
    )
    info = plan.describe()
    per_window = 0.0
    sample = sample_batches(len(plan.batches))
    if sample:
        with torch_threads(args.threads):
            run_batch(plan.batches[sample[0]])  # the first pass pays for loading
            start = time.perf_counter()
            for i in sample:
                run_batch(plan.batches[i])
        timed = sum(len(plan.batches[i].windows) for i in sample)
        per_window = (time.perf_counter() - start) / timed
    parallel = max(1, args.workers)
    seconds = per_window * info["windows"] / parallel
    where = f"{len(sample)} batch{'es' if len(sample) > 1 else ''} across the mosaic"
    print(
        f"{info['mode']} survey of {args.mosaic} ({info['mosaic_shape'][0]} x "
        f"{info['mosaic_shape'][1]} px): {info['windows']} windows of {info['window_size']} px "
        f"in {info['batches']} batches (skipped: {info['skipped_windows']['blank']} blank, "
        f"{info['skipped_windows']['noise']} noise only); {per_window:.2f} s per window "
        f"(measured on {where}) -> about {seconds / 60:.1f} min on {parallel} "
        "worker(s), plus the catalogue's consolidation and writing."
    )
    return 0


def sample_batches(n_batches: int, n: int = 3) -> list[int]:
    """Indices of the batches a dry run times: ``n`` spread evenly through the plan.

    The first batch alone is a corner of the mosaic, often emptier than its middle (the
    10k x 10k simulated mosaic: 0.23 s per window on its first batch, 0.24 on three spread
    through it; the whole run took 0.26 s per window and core on two workers).

    Examples
    --------
    >>> sample_batches(1129)
    [282, 564, 846]
    >>> sample_batches(2), sample_batches(0)
    ([0, 1], [])
    """
    if n_batches <= n:
        return list(range(n_batches))
    return [(k * n_batches) // (n + 1) for k in range(1, n + 1)]


def _survey_formats(args: argparse.Namespace) -> tuple[str, ...]:
    from napari_radiogal.io.export import DEFAULT_FORMATS

    return DEFAULT_FORMATS if args.formats is None else args.formats


def _survey(args: argparse.Namespace, config) -> int:
    from tqdm import tqdm

    from napari_radiogal.survey import survey

    quiet = args.no_progress or getattr(args, "quiet", False)
    bar = tqdm(
        total=0,
        unit="window",
        desc="radiogal survey",
        file=sys.stderr,
        disable=True if quiet else None,
        dynamic_ncols=True,
    )

    def progress(done: int, total: int, detections: int) -> None:
        bar.total = total
        bar.set_postfix(detections=detections, refresh=False)
        bar.update(done - bar.n)

    try:
        result = survey(
            args.mosaic,
            args.out,
            infrared=args.ir,
            components=args.components,
            model=args.model,
            config=config,
            workers=args.workers,
            scheduler=args.scheduler,
            overwrite=args.overwrite,
            progress=progress,
            formats=_survey_formats(args),
            name_prefix=args.name_prefix,
            **_plan_options(args),
        )
    finally:
        bar.close()
    print(
        f"{result.n_sources} sources from {len(result.plan.windows)} windows "
        f"({result.batches_run} batches run now) in {result.seconds:.0f} s: "
        + ", ".join(str(p) for p in result.paths.values())
    )
    return 0
