"""``radiogal simulate``: write a synthetic EMU + WISE data set with ground truth."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path

NAME = "simulate"
HELP = "write a synthetic EMU + WISE W1 data set (FITS pairs + COCO ground truth)"
DESCRIPTION = (
    "Simulate N radio cut-outs (ASKAP EMU-like, 4-axis FITS, Jy/beam) with their WISE W1 "
    "images (own grid, AllWISE or unWISE headers) and COCO ground truth (RLE masks, host "
    "keypoints, classes FR-I / FR-II / FR-X / R measured with the paper's a/b rule on the "
    "noisy image). Writes OUT/radio/*.fits, OUT/ir/*.fits and "
    "OUT/annotations/{train,val,test}.json; the same seed writes byte-identical files. "
    "To draw a test set with another seed into the same folder, run e.g. "
    "'--n 2000 --seed 1 --split 0.9:0.1:0' and then '--n 500 --seed 2 --only-split test'. "
    "Every difficulty of real data has an option below (a fraction of 0 switches it off; "
    "--easy switches all of them off); '--preset wide' draws a wide training sky (several "
    "pixel scales, beams, shape families, noise and IR conventions); the values used are "
    "stored in each JSON's info."
)

#: SkyConfig fields with a dedicated option (or none) instead of the generic one.
_SPECIAL = {"class_mix", "lobe_families"}


def _range(text: str) -> tuple[float, float]:
    """``LOW:HIGH`` (or one number for a fixed value)."""
    try:
        values = [float(v) for v in text.replace(",", ":").split(":")]
    except ValueError:
        values = []
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"expected LOW:HIGH, e.g. 25:35, got {text!r}")
    return values[0], values[1]


def _optional_range(text: str) -> tuple[float, float] | None:
    """``LOW:HIGH`` or ``none``."""
    if text.strip().lower() == "none":
        return None
    return _range(text)


def _optional_float(text: str) -> float | None:
    if text.strip().lower() in ("random", "none"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'random', got {text!r}") from None


def _split(text: str) -> tuple[float, float, float]:
    parts = text.split(":")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or any(v < 0 for v in values) or sum(values) <= 0:
        raise argparse.ArgumentTypeError(
            f"expected TRAIN:VAL:TEST fractions such as 0.7:0.1:0.2 or 1:0:0, got {text!r}"
        )
    return values  # type: ignore[return-value]


def _field_help(name: str) -> str:
    from napari_radiogal.sky.config import SkyConfig

    return next(f.metadata["help"] for f in dataclasses.fields(SkyConfig) if f.name == name)


def _config_fields():
    from napari_radiogal.sky.config import SkyConfig

    hints = typing.get_type_hints(SkyConfig)
    for f in dataclasses.fields(SkyConfig):
        if f.name in _SPECIAL or not f.metadata.get("cli", False):
            continue
        yield f, hints[f.name]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--n", type=int, default=None, help="number of cut-outs (not with --mosaic)%(default).0s"
    )
    parser.add_argument(
        "--mosaic",
        type=int,
        default=None,
        metavar="SIZE",
        help="instead of cut-outs, write one SIZE x SIZE px mosaic for radiogal survey: "
        "OUT/radio.fits, OUT/w1.fits, OUT/components.ecsv (Selavy-like) and OUT/truth.json "
        "(COCO, one image per tile); tiles of the default EMU sky with sources inside their "
        "tile (the sky options below do not apply)%(default).0s",
    )
    parser.add_argument("--seed", type=int, default=0, help="master random seed")
    parser.add_argument("--out", type=Path, required=True, help="data set root folder")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace what this run writes when it exists (the annotations of its splits, "
        "the FITS files of its seed; with --mosaic its four files); FITS files that no "
        "annotation file names any more are then deleted, so that no orphans stay. Without "
        "it, existing outputs are refused (other splits and seeds can be added to a folder)",
    )
    parser.add_argument(
        "--split",
        type=_split,
        default=(0.7, 0.1, 0.2),
        help="train:val:test fractions; empty splits get no JSON",
    )
    parser.add_argument(
        "--only-split",
        choices=("train", "val", "test"),
        default=None,
        help="put every cut-out into this split (overrides --split)",
    )
    parser.add_argument(
        "--balanced", action="store_true", help="equal class weights instead of the default mix"
    )
    parser.add_argument(
        "--mix",
        default=None,
        help="class weights, e.g. FR-II=0.4,R=0.25,FR-I=0.2,FR-X=0.15, or a "
        "preset: default, gupta2023, balanced",
    )
    parser.add_argument(
        "--preset",
        choices=("default", "easy", "wide"),
        default=None,
        help="start from a named sky (SkyConfig.preset): 'wide' varies the geometry, shapes, "
        "noise and IR conventions as real skies do; options below still apply",
    )
    parser.add_argument(
        "--easy",
        action="store_true",
        help="switch every difficulty off, the same as --preset easy (options below still apply)",
    )
    parser.add_argument(
        "--lobe-families",
        default=None,
        help=_field_help("lobe_families") + " [classic=1]",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="JSON file of SkyConfig values (e.g. the sky_config of an "
        "existing data set's info); options below override it",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes (the output does not depend on it)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    group = parser.add_argument_group(
        "sky and difficulty options (fields of napari_radiogal.sky.SkyConfig)"
    )
    from napari_radiogal.sky.config import SkyConfig

    defaults = SkyConfig()
    for f, hint in _config_fields():
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if hint is int:
            kind, metavar = int, "INT"
        elif hint is float:
            kind, metavar = float, "X"
        elif f.name == "beam_pa_deg":
            kind, metavar = _optional_float, "DEG|random"
        elif default is None:
            kind, metavar = _optional_range, "LOW:HIGH|none"
        else:
            kind, metavar = _range, "LOW:HIGH"
        shown = ":".join(f"{v:g}" for v in default) if isinstance(default, tuple) else default
        if default is None:
            shown = "random" if f.name == "beam_pa_deg" else "none"
        # SUPPRESS: unset options stay out of the namespace (and out of the default text).
        group.add_argument(
            flag,
            dest=f"sky_{f.name}",
            type=kind,
            default=argparse.SUPPRESS,
            metavar=metavar,
            help=f"{f.metadata['help']} [{shown}]",
        )


def build_config(args: argparse.Namespace):
    """The SkyConfig that the parsed options describe."""
    from napari_radiogal.errors import ConfigError
    from napari_radiogal.sky.config import SkyConfig, families_from_string, mix_from_string

    values: dict = {}
    if args.config is not None:
        try:
            values.update(json.loads(Path(args.config).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read --config {args.config}: {exc}") from exc
        if isinstance(values.get("sky_config"), dict):  # a whole COCO info block
            values = values["sky_config"]
    if args.easy and args.preset not in (None, "easy"):
        raise ConfigError(f"--easy and --preset {args.preset} contradict each other; pick one")
    base = SkyConfig.preset("easy" if args.easy else args.preset or "default")
    merged = {**base.to_dict(), **values}
    for f, _hint in _config_fields():
        if hasattr(args, f"sky_{f.name}"):
            merged[f.name] = getattr(args, f"sky_{f.name}")
    if args.mix is not None:
        merged["class_mix"] = mix_from_string(args.mix)
    if args.lobe_families is not None:
        merged["lobe_families"] = families_from_string(args.lobe_families)
    return SkyConfig.from_dict(merged)


def run(args: argparse.Namespace) -> int:
    from napari_radiogal.errors import ConfigError

    if args.mosaic is not None:
        if args.n is not None:
            raise ConfigError("give --n (cut-outs) or --mosaic SIZE (one mosaic), not both.")
        return _write_mosaic(args)
    if args.n is None or args.n < 1:
        raise ConfigError(f"--n must be at least 1, got {args.n}")
    config = build_config(args)
    from napari_radiogal.io.outputset import output_lock

    with output_lock(args.out):
        _refuse_existing(_cutout_targets(args), args.overwrite)
        paths = _write_cutouts(args, config)
        if args.overwrite:
            _remove_orphans(args.out)
    for name, path in paths.items():
        info = json.loads(path.read_text(encoding="utf-8"))["info"]
        fractions = ", ".join(f"{k} {v:.0%}" for k, v in info["class_fractions"].items())
        print(
            f"{name}: {path}  {info['n_sources']} sources ({fractions}); "
            f"{info['multi_component_fraction']:.0%} multi-component masks"
        )
    return 0


def _cutout_targets(args: argparse.Namespace) -> list[Path]:
    """What a cut-out run writes that may exist: its splits' JSON, its seed's FITS files."""
    from napari_radiogal.sky.dataset import SPLIT_NAMES, split_sizes

    if args.only_split is not None:
        fractions = [1.0 if name == args.only_split else 0.0 for name in SPLIT_NAMES]
    else:
        fractions = list(args.split)
    sizes = split_sizes(args.n, fractions)
    out = args.out
    named = zip(SPLIT_NAMES, sizes, strict=True)
    targets = [out / "annotations" / f"{n}.json" for n, k in named if k]
    for sub in ("radio", "ir"):
        targets += sorted((out / sub).glob(f"sky{args.seed}_*.fits"))
    return targets


def _refuse_existing(targets: list[Path], overwrite: bool) -> None:
    from napari_radiogal.errors import ConfigError

    existing = [str(p) for p in targets if p.exists()]
    if existing and not overwrite:
        shown = ", ".join(existing[:4]) + (f" and {len(existing) - 4} more" * (len(existing) > 4))
        raise ConfigError(
            f"the data set already has {shown}; pass --overwrite to replace them, or another "
            "--seed / --only-split / --out."
        )


def _remove_orphans(root: Path) -> list[Path]:
    """Delete simulated FITS files (``radio|ir/sky*_*.fits``) no annotation file names."""
    named = set()
    for path in (root / "annotations").glob("*.json"):
        for image in json.loads(path.read_text(encoding="utf-8")).get("images", []):
            for key in ("file_name", "radio_file", "ir_file"):
                if image.get(key):
                    named.add((root / image[key]).resolve())
    orphans = [
        p
        for sub in ("radio", "ir")
        for p in sorted((root / sub).glob("sky*_*.fits"))
        if p.resolve() not in named
    ]
    for p in orphans:
        p.unlink()
    return orphans


def _write_cutouts(args: argparse.Namespace, config) -> dict[str, Path]:
    from napari_radiogal.sky.dataset import write_dataset

    bar = None
    progress = None
    if not args.no_progress and args.n > 1:
        from tqdm import tqdm

        bar = tqdm(
            total=args.n,
            unit="cut-out",
            desc="simulate",
            file=sys.stderr,
            dynamic_ncols=True,
            disable=None,
        )  # None: no bar when not a terminal

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

    try:
        paths = write_dataset(
            args.out,
            args.n,
            args.seed,
            config,
            split=args.split,
            balanced=args.balanced,
            progress=progress,
            only_split=args.only_split,
            workers=args.workers,
        )
    finally:
        if bar is not None:
            bar.close()
    return paths


def _write_mosaic(args: argparse.Namespace) -> int:
    from napari_radiogal.io.outputset import output_lock
    from napari_radiogal.sky.mosaic import write_mosaic

    names = ("radio.fits", "w1.fits", "components.ecsv", "truth.json")
    with output_lock(args.out):
        _refuse_existing([args.out / n for n in names], args.overwrite)
        files = write_mosaic(args.out, args.mosaic, seed=args.seed)
    print(
        f"mosaic {args.mosaic} x {args.mosaic} px of {files.n_tiles} tiles: {files.radio}, "
        f"{files.infrared}; {files.n_components} components in {files.components}; "
        f"{files.n_sources} extended sources in {files.truth}"
    )
    return 0
