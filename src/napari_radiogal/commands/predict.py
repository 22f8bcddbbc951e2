"""``radiogal predict``: segment radio galaxies in FITS images; write the output set.

Three forms:

* ``radiogal predict RADIO.fits [--ir IR.fits] [--out DIR]`` writes ``DIR/STEM.json``
  (COCO), the catalogue ``DIR/STEM.ecsv`` / ``STEM.cat.fits`` / ``STEM.vot`` and the regions
  ``DIR/STEM.reg`` (DS9) / ``STEM.crtf`` (CASA, CARTA); ``--formats`` chooses.
* ``radiogal predict A.fits B.fits ...``, a folder or a glob (``"cutouts/*.fits"``), radio and
  WISE files mixed: each radio image is paired with its infrared image by sky (or name, or
  ``--pairs PAIRS.csv``; :mod:`napari_radiogal.io.pairing`) and writes its ``STEM.*`` as
  above, plus one set for all of them: ``DIR/predictions.json``,
  ``DIR/catalogue.{ecsv,fits,vot}`` and ``DIR/regions.{reg,crtf}``
  (:data:`~napari_radiogal.io.export.COMBINED_NAMES`).
* ``radiogal predict --data COCO.json|DIR [--split test] [--out DIR]`` predicts every image
  of a data set (e.g. ``radiogal simulate`` output) and writes that combined set (its
  ``predictions.json`` keeps the data set's image ids, ready for ``radiogal evaluate``).
  ``--data firstgalaxydata:valid`` (or ``/path/galaxy_data.zip:valid``) reads a split of the
  firstgalaxydata FIRST set from its zip in place. Every file the data set names is checked
  before the model loads, and each batch of ``--batch-size`` images is kept in the output
  folder as it finishes (:class:`~napari_radiogal.io.outputset.ProgressRecord`): the same
  command run again after a kill does only the images left.

Each set is written as one (:mod:`napari_radiogal.io.outputset`): the output folder is
locked for the whole run (a second ``radiogal`` writing there stops at once with exit code
2), existing outputs are refused before the model loads unless ``--overwrite``, which keeps
the previous set as ``NAME.bak``.

Every :class:`~napari_radiogal.inference.InferenceConfig` field is also an option
(``--class-threshold``, ``--no-flip``...), generated from the dataclass so that the command
line, the Python API and the napari widget share one set of defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

NAME = "predict"
HELP = "segment radio galaxies in FITS images (COCO, catalogue as ECSV/FITS/VOTable, regions)"
DESCRIPTION = (
    "Find, outline and classify extended radio galaxies and their infrared hosts. Give one "
    "radio FITS image (optionally with --ir), several, a folder or a glob, or --data with a "
    "COCO file / data-set folder to predict every image of it. Writes COCO JSON, a catalogue "
    "(source name, class, score, host RA/Dec, integrated flux density, largest angular "
    "size... with units and UCDs) as ECSV, FITS table and VOTable, and DS9 and CRTF regions, "
    "each set published as one; --overwrite keeps the previous set as NAME.bak."
)

log = logging.getLogger(__name__)

# options with a hand-written form (or none): everything else is generated from the config
_MANUAL_FIELDS = {"device", "batch_size", "oracle_classes"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from napari_radiogal.inference.config import DEVICE_CHOICES, InferenceConfig, config_fields

    defaults = InferenceConfig()
    parser.add_argument(
        "radio",
        nargs="*",
        type=Path,
        metavar="FITS",
        help="radio continuum image(s) in Jy/beam: files, folders or glob patterns; WISE "
        "images among them are paired with the radio image they cover (by sky, else by "
        "name: NAME.fits + NAME_w1.fits)",
    )
    parser.add_argument(
        "--ir",
        type=Path,
        metavar="IR.fits",
        help="infrared image (e.g. WISE W1) of a single radio image, any grid overlapping "
        "the radio one%(default).0s",
    )
    parser.add_argument(
        "--pairs",
        type=Path,
        metavar="PAIRS.csv",
        help="say which infrared image goes with which radio image: a CSV table with "
        "columns radio and ir (paths relative to the table; empty ir = radio only)%(default).0s",
    )
    parser.add_argument(
        "--data",
        type=Path,
        metavar="COCO.json|DIR|SPEC",
        help="predict every image of a COCO file, of a data-set folder "
        "(DIR/annotations/SPLIT.json), or of a firstgalaxydata split: "
        "firstgalaxydata:SPLIT (the installed package) or PATH:SPLIT (PATH = galaxy_data.zip "
        "or its folder; SPLIT = train, valid or test; --split is then not used)%(default).0s",
    )
    parser.add_argument(
        "--split", default="test", help="with --data DIR: which annotations/SPLIT.json to read"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="output folder (default: the current folder; with --data, "
        "ROOT/predictions, or ./predictions for a firstgalaxydata split)%(default).0s",
    )
    parser.add_argument(
        "--stem",
        default=None,
        help="output file names STEM.json, STEM.ecsv... (default: the radio file's name)"
        "%(default).0s",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing outputs; every file of the previous set is kept as NAME.bak "
        "(one generation, the rule of the napari export)",
    )
    add_output_arguments(parser)
    parser.add_argument(
        "--model",
        default=None,
        metavar="MODEL",
        help="weights NAME.safetensors with its NAME.json card, or a bundled model's name "
        "(default: the bundled model whose training geometry and inputs fit the image: its "
        "pixels per beam, and whether an IR image is given)%(default).0s",
    )
    parser.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default=defaults.device,
        help="where the network runs; auto picks CUDA, then MPS, then CPU",
    )
    parser.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help="cut-outs per network pass"
    )
    parser.add_argument(
        "--oracle-classes",
        action="store_true",
        help="take each image's classes from the COCO file instead of "
        "predicting them (only for comparing with the paper; needs --data)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    fits_group = parser.add_argument_group("reading the FITS files")
    fits_group.add_argument(
        "--hdu",
        type=_hdu_spec,
        default=None,
        metavar="N|NAME",
        help="the radio images' HDU, by index or EXTNAME (default: the HDU with the largest "
        "image, said in a warning when there are several)%(default).0s",
    )
    fits_group.add_argument(
        "--plane",
        type=_plane_spec,
        default=None,
        metavar="K|K3,K4,..",
        help="the plane of a radio cube: K for the one axis with several planes, or one "
        "0-based index per FITS axis 3, 4, ... (default: plane 0, with a warning)%(default).0s",
    )
    fits_group.add_argument(
        "--require-wcs",
        action="store_true",
        help="refuse radio and infrared images without a usable celestial WCS instead of "
        "working in pixels",
    )
    group = parser.add_argument_group(
        "inference settings (InferenceConfig)",
        "An option not given takes the value the model's weights card recommends, else the "
        "default shown (the bundled FIRST model, e.g., recommends its own class threshold).",
    )
    for f in config_fields():
        if f["name"] in _MANUAL_FIELDS:
            continue
        flag = "--" + f["name"].replace("_", "-")
        default = f["default"]
        shown = ",".join(f"{v:g}" for v in default) if isinstance(default, tuple) else default
        # SUPPRESS: an option not given is absent from the namespace, so that the model's
        # card, not argparse, decides its value (settings_from_args)
        common = dict(dest=f["name"], default=argparse.SUPPRESS)
        help_text = f"{f['help']} (default: {shown if shown != '' else 'none'})"
        if isinstance(default, bool):
            group.add_argument(
                flag, action=argparse.BooleanOptionalAction, help=help_text, **common
            )
        elif isinstance(default, tuple):
            group.add_argument(
                flag,
                type=functools.partial(_float_list, name=f["name"]),
                metavar=f.get("metavar", "A,B,..."),
                help=help_text,
                **common,
            )
        else:
            group.add_argument(
                flag,
                type=type(default),
                choices=f.get("choices"),
                help=help_text,
                **common,
            )


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--formats`` and ``--name-prefix`` (shared by ``radiogal predict`` and ``survey``)."""
    from napari_radiogal.io.catalogue import DEFAULT_NAME_PREFIX

    parser.add_argument(
        "--formats",
        type=_formats_spec,
        default=None,
        metavar="LIST",
        help="output files, comma-separated: json (COCO), ecsv, fits (FITS table), vot "
        "(VOTable), reg (DS9), crtf (CASA / CARTA), or all (default: all; they cost little "
        "beside the inference, and each tool reads its own: TOPCAT the VOTable, CARTA the "
        "CRTF, DS9 the .reg, radiogal evaluate the COCO file)%(default).0s",
    )
    parser.add_argument(
        "--name-prefix",
        default=DEFAULT_NAME_PREFIX,
        metavar="ACRONYM",
        help="prefix of the catalogue's IAU-style source names, 'ACRONYM Jhhmmss.s+ddmmss' "
        "(default: %(default)s)",
    )


def _formats_spec(text: str) -> tuple[str, ...]:
    """argparse ``type`` of ``--formats`` (:func:`~napari_radiogal.io.export.parse_formats`)."""
    from napari_radiogal.io.export import parse_formats

    try:
        return parse_formats(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _float_list(text: str, name: str) -> tuple[float, ...]:
    """argparse ``type`` of the tuple fields (:meth:`InferenceConfig.parse_float_list`)."""
    from napari_radiogal.errors import ConfigError
    from napari_radiogal.inference.config import InferenceConfig

    try:
        return InferenceConfig.parse_float_list(text, name)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _hdu_spec(text: str) -> int | str:
    """argparse ``type`` of ``--hdu``: an index (``1``) or an EXTNAME (``SCI``)."""
    return int(text) if text.strip().isdigit() else text.strip()


def _plane_spec(text: str) -> int | tuple[int, ...]:
    """argparse ``type`` of ``--plane``: ``3`` or ``0,2`` (one index per FITS axis 3, 4...)."""
    try:
        ks = tuple(int(k) for k in text.replace(";", ",").split(",") if k.strip())
    except ValueError:
        ks = ()
    if not ks or min(ks) < 0:
        raise argparse.ArgumentTypeError(
            f"expected a plane index >= 0 or indices such as 0,2; got {text!r}"
        )
    return ks[0] if len(ks) == 1 else ks


def _read_options(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keyword arguments of :func:`~napari_radiogal.io.fits.read_radio` and of
    :func:`~napari_radiogal.io.fits.read_infrared` given by ``--hdu``, ``--plane`` and
    ``--require-wcs`` (HDU and plane name the radio images'; IR images are 2-D)."""
    radio = {"hdu": args.hdu, "plane": args.plane, "require_wcs": args.require_wcs}
    return radio, {"require_wcs": args.require_wcs}


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`InferenceConfig` fields set on the command line (``device`` and
    ``batch_size`` always); the model's card and the library defaults fill in the rest
    (:meth:`~napari_radiogal.inference.LoadedModel.config`)."""
    from napari_radiogal.inference.config import InferenceConfig

    return {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(InferenceConfig)
        if hasattr(args, f.name)
    }


def run(args: argparse.Namespace) -> int:
    from napari_radiogal.errors import ConfigError

    has_images = bool(args.radio) or args.pairs is not None
    if has_images == (args.data is not None):
        raise ConfigError(
            "give either radio images (radiogal predict RADIO.fits [--ir IR.fits], several "
            "files, a folder or a glob) or --data COCO.json|DIR, not both and not neither."
        )
    if args.oracle_classes and args.data is None:
        raise ConfigError("--oracle-classes needs --data (the classes come from its COCO file).")
    if args.data is None and args.split != "test":
        raise ConfigError("--split only applies with --data.")
    if args.data is not None and args.ir is not None:
        raise ConfigError(
            "--ir applies to a single radio image; with --data the COCO file "
            "names each image's IR file (ir_file)."
        )
    from napari_radiogal.inference.config import InferenceConfig
    from napari_radiogal.io.export import DEFAULT_FORMATS

    if args.formats is None:
        args.formats = DEFAULT_FORMATS
    settings = settings_from_args(args)
    config = InferenceConfig().replace(**settings)  # checked now, before anything is read
    # every input is checked before the model is loaded (seconds) and anything runs
    if args.data is not None:
        args.data = _data_set(args.data, args.split)
        _check_data_files(*args.data[:2])
        out = args.out if args.out is not None else args.data[2] / "predictions"
        with _claim_outputs(out, _combined_targets(out), args.overwrite):
            model = _load(args, config, None)
            return _predict_data(args, model.config(**settings), model, out)
    pairs = _image_pairs(args)
    if len(pairs) == 1 and len(args.radio) <= 1 and args.pairs is None:
        radio, ir, out, stem = _read_one(args, pairs[0])
        with _claim_outputs(out, _set_targets(out, stem), args.overwrite):
            model = _load(args, config, (radio, ir))
            return _predict_one(args, model.config(**settings), model, radio, ir, out, stem)
    return _predict_many(args, settings, pairs)


def _set_targets(out: Path, stem: str) -> list[Path]:
    """Every file a set of this stem may have: any of them existing is an earlier set."""
    from napari_radiogal.io.export import OUTPUT_FORMATS, output_paths

    return list(output_paths(out, stem, list(OUTPUT_FORMATS)).values())


def _combined_targets(out: Path) -> list[Path]:
    from napari_radiogal.io.export import COMBINED_NAMES

    return [out / name for name in COMBINED_NAMES.values()]


@contextlib.contextmanager
def _claim_outputs(out: Path, targets: list[Path], overwrite: bool) -> Iterator[None]:
    """Lock the output folder for the whole run and refuse outputs that exist (unless
    ``overwrite``), before the model loads: a second writer stops here, at once."""
    from napari_radiogal.io.outputset import output_lock

    _check_out_folder(out)
    with output_lock(out):
        _refuse_overwrite(targets, overwrite)
        yield


def _load(args: argparse.Namespace, config, images):
    """``--model`` or the bundled model that fits ``images`` (radio, ir), loaded, said which."""
    from napari_radiogal.inference import load_model

    model_path = args.model
    if model_path is None:
        model_path = _choose_model(args, config, images)
    model = load_model(model_path, device=config.device)
    print(
        f"radiogal predict: model {model.name!r} (sha256 {model.sha256[:12]}...) on {model.device}",
        file=sys.stderr,
    )
    return model


def _choose_model(args: argparse.Namespace, config, images):
    """The bundled model for this image (or the first image of ``--data``), said why."""
    from napari_radiogal.inference import choose_bundled_model, inputs_from_coco

    if images is not None:
        radio, ir = images[0], images[1]
    else:
        json_path, dataset, _ = args.data
        first = next(iter(inputs_from_coco(json_path, dataset, *_read_options(args))), None)
        if first is None:
            return None
        radio, ir = first.radio, first.infrared
    choice = choose_bundled_model(radio, has_infrared=ir is not None, beam=config.beam or None)
    print(f"radiogal predict: model chosen for the image: {choice.reason}", file=sys.stderr)
    return choice.path


def _image_pairs(args: argparse.Namespace):
    """The radio images to segment, each with its IR image (:mod:`napari_radiogal.io.pairing`)."""
    from napari_radiogal.errors import ConfigError
    from napari_radiogal.io.pairing import ImagePair, expand_fits_inputs, pair_images

    if args.pairs is not None:
        if args.radio or args.ir is not None:
            raise ConfigError("--pairs names every image; give no FITS files or --ir beside it.")
        return pair_images([], pairs_csv=args.pairs)
    paths = expand_fits_inputs(args.radio)
    if args.ir is not None:
        if len(paths) != 1:
            raise ConfigError(
                f"--ir applies to a single radio image, and {len(paths)} FITS files were "
                "given: put the IR files among them (each is paired with the radio image it "
                "covers) or say which goes with which in --pairs PAIRS.csv."
            )
        if not args.ir.is_file():
            raise ConfigError(f"--ir {args.ir}: no such file.")
        return [ImagePair(paths[0], args.ir)]
    return pair_images(paths)


def _read_one(args: argparse.Namespace, pair):
    """The radio and IR images of a single-image run, its output folder and stem."""
    from napari_radiogal.inference.prediction import output_stem
    from napari_radiogal.io.fits import read_infrared, read_radio

    radio_kw, ir_kw = _read_options(args)
    radio = read_radio(pair.radio, **radio_kw)
    ir = read_infrared(pair.infrared, **ir_kw) if pair.infrared is not None else None
    out = args.out if args.out is not None else Path(".")
    stem = args.stem or output_stem(pair.radio.name)
    return radio, ir, out, stem


def _predict_one(args: argparse.Namespace, config, model, radio, ir, out, stem) -> int:
    from napari_radiogal.inference import STAGES, segment

    with _progress_bar(args, total=len(STAGES), unit="stage") as bar:
        prediction = segment(radio, ir, model=model, config=config, progress=_stage_progress(bar))
    paths = prediction.write(out, stem, formats=args.formats, name_prefix=args.name_prefix)
    n = len(prediction.instances)
    print(
        f"{n} instance{'s' if n != 1 else ''} on {Path(str(radio.path)).name}: "
        + ", ".join(str(p) for p in paths.values())
    )
    return 0


def _predict_many(args: argparse.Namespace, settings: dict[str, Any], pairs) -> int:
    """Each radio image of ``pairs`` to its own ``STEM.*`` set, plus one set of them all."""
    from collections import Counter

    from napari_radiogal.errors import ConfigError
    from napari_radiogal.inference.prediction import output_stem

    if args.stem is not None:
        raise ConfigError(
            "--stem names the files of one image; with several, each is named after its radio file."
        )
    out = args.out if args.out is not None else Path(".")
    stems = [output_stem(p.radio.name) for p in pairs]
    twice = sorted(s for s, n in Counter(stems).items() if n > 1)
    if twice:
        raise ConfigError(
            f"radio files with the same name in different folders would write the same "
            f"outputs ({', '.join(twice)}); run them separately with different --out folders."
        )
    targets = [p for s in stems for p in _set_targets(out, s)]
    with _claim_outputs(out, [*targets, *_combined_targets(out)], args.overwrite):
        predictions = _segment_pairs(args, settings, pairs, stems, out)
        _write_combined(args, out, predictions)
    n = sum(len(p.instances) for p in predictions)
    with_ir = sum(p.infrared is not None for p in pairs)
    print(
        f"{n} instances on {len(pairs)} radio images ({with_ir} with infrared): "
        f"{out}/STEM.* and {out}/" + ", ".join(_combined_names(args.formats))
    )
    return 0


def _segment_pairs(args: argparse.Namespace, settings: dict[str, Any], pairs, stems, out):
    """Segment each pair with the model that fits it and write its set; the predictions."""
    from napari_radiogal.inference import InferenceConfig, choose_bundled_model, load_model, segment
    from napari_radiogal.io.fits import read_infrared, read_radio

    config = InferenceConfig().replace(**settings)
    radio_kw, ir_kw = _read_options(args)
    models: dict[str, Any] = {}
    predictions = []
    with _progress_bar(args, total=len(pairs), unit="image") as bar:
        for pair, stem in zip(pairs, stems, strict=True):
            radio = read_radio(pair.radio, **radio_kw)
            ir = read_infrared(pair.infrared, **ir_kw) if pair.infrared is not None else None
            if args.model is not None:
                key, reason = args.model, None
            else:
                choice = choose_bundled_model(
                    radio, has_infrared=ir is not None, beam=config.beam or None
                )
                key, reason = choice.path, choice.reason
            if key not in models:  # said once per model, not once per image
                models[key] = load_model(key, device=config.device)
                why = f": {reason}" if reason else ""
                print(f"radiogal predict: model {models[key].name!r}{why}", file=sys.stderr)
            model = models[key]
            prediction = segment(radio, ir, model=model, config=model.config(**settings))
            prediction.write(out, stem, formats=args.formats, name_prefix=args.name_prefix)
            # every image is image 1 of its own set; in the combined set, image k
            prediction.image.id = len(predictions) + 1
            for inst in prediction.instances:
                inst.image_id = prediction.image.id
            predictions.append(_drop_pixels(prediction))
            bar.update(1)
    return predictions


def _predict_data(args: argparse.Namespace, config, model, out: Path) -> int:
    """Every image of ``--data``, ``config.batch_size`` at a time, each batch kept as it
    finishes (:class:`~napari_radiogal.io.outputset.ProgressRecord`); then the set.

    The same command run again after a kill does only the batches left. Batches are fixed
    slices of the data set, so a resumed run passes the same images through the network
    together as an uninterrupted one and writes the same set.
    """
    import dataclasses

    from napari_radiogal.inference import inputs_from_coco, segment_batch
    from napari_radiogal.io.outputset import ProgressRecord

    json_path, dataset, _ = args.data
    record = ProgressRecord(out, "predictions", _run_fingerprint(args, config, model))
    saved = record.pieces()
    size = config.batch_size
    batches = [dataset.images[i : i + size] for i in range(0, len(dataset.images), size)]
    keys = [f"batch-{i:06d}" for i in range(len(batches))]
    # a saved batch counts only for the same images (ids in order)
    done = {
        key: saved[key]
        for key, images in zip(keys, batches, strict=True)
        if key in saved
        and [p["coco"]["images"][0]["id"] for p in saved[key]] == [im.id for im in images]
    }
    if done:
        n_done = sum(len(batch) for batch in done.values())
        print(
            f"radiogal predict: resuming: {n_done} of {len(dataset.images)} images were done "
            f"by an earlier run of this command (kept in {record.path})",
            file=sys.stderr,
        )
    pieces: list[dict[str, Any]] = []
    with _progress_bar(args, total=len(dataset.images), unit="image") as bar:
        for key, images in zip(keys, batches, strict=True):
            batch = done.get(key)
            if batch is None:
                part = dataclasses.replace(dataset, images=images)
                predictions = segment_batch(
                    inputs_from_coco(json_path, part, *_read_options(args)),
                    model=model,
                    config=config,
                    total=len(images),
                )
                # the set's provenance is the first image's (catalogue, COCO info)
                first = key == keys[0]
                batch = [
                    _image_piece(p, full_info=first and not j) for j, p in enumerate(predictions)
                ]
                record.save(key, batch)
            pieces.extend(batch)
            bar.update(len(images))
    dataset_out, table, regions = _combined_from_pieces(pieces, args.name_prefix)
    paths = _write_set(args, out, dataset_out, table, regions)
    record.clear()
    n = len(dataset_out.instances)
    print(
        f"{n} instances on {len(pieces)} images of {json_path}: "
        + ", ".join(str(p) for p in paths.values())
    )
    return 0


def _run_fingerprint(args: argparse.Namespace, config, model) -> dict[str, Any]:
    """What the saved batches of ``--data`` depend on: a record of another run is not used."""
    from napari_radiogal._version import __version__
    from napari_radiogal.io.provenance import file_sha256, jsonable

    source = Path(args.data[0])
    return jsonable(
        {
            "data": str(source.resolve()) if source.exists() else str(source),
            "data_sha256": file_sha256(source) if source.is_file() else None,
            "images": len(args.data[1].images),
            "model_sha256": model.sha256,
            "device": str(model.device),
            "config": config.to_dict(),
            "read": _read_options(args),
            "version": __version__,
        }
    )


def _image_piece(prediction, *, full_info: bool) -> dict[str, Any]:
    """One image's share of the combined set, JSON-ready: its one-image COCO dictionary and
    its catalogue rows (the fluxes need the radio pixels, which are not kept). Without
    ``full_info`` the COCO ``info`` keeps only the image's input files."""
    from napari_radiogal.io.coco import dataset_to_dict

    coco = dataset_to_dict(prediction.to_dataset())
    if not full_info:  # the model's whole card is in every image's provenance
        coco["info"] = {"input_files": coco["info"].get("input_files", [])}
    table = prediction.to_table()
    columns = [c for c in table.colnames if c != "name"]  # made again from ra, dec
    values = zip(*(table[c].tolist() for c in columns), strict=True)
    return {"coco": coco, "rows": [dict(zip(columns, row, strict=True)) for row in values]}


def _combined_from_pieces(pieces: list[dict[str, Any]], name_prefix: str):
    """The COCO dataset, catalogue and regions of many images from their pieces."""
    from napari_radiogal.inference import Prediction, predictions_to_dataset
    from napari_radiogal.inference.prediction import PREDICTION_COLUMNS, predictions_regions
    from napari_radiogal.io.catalogue import catalogue_table
    from napari_radiogal.io.coco import dataset_from_dict

    predictions = []
    for piece in pieces:
        one = dataset_from_dict(piece["coco"])
        image = one.images[0]
        predictions.append(
            Prediction(
                image=image,
                instances=one.instances,
                scheme=one.scheme,
                wcs=_wcs_of(image.radio_wcs),
                provenance=dict(one.info),
            )
        )
    meta = {}
    if predictions:  # as napari_radiogal.inference.catalogue says it
        first = predictions[0].provenance
        meta["provenance"] = {k: v for k, v in first.items() if k != "input_files"}
    rows = [row for piece in pieces for row in piece["rows"]]
    table = catalogue_table(rows, PREDICTION_COLUMNS, name_prefix=name_prefix, meta=meta)
    return predictions_to_dataset(predictions), table, predictions_regions(predictions)


def _wcs_of(header_text: str | None):
    """The celestial WCS of an image record's ``radio_wcs`` (``WCS.to_header_string``)."""
    if not header_text:
        return None
    import warnings

    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)  # it was read and fixed once already
        return WCS(fits.Header.fromstring(header_text))


def _combined_names(formats) -> list[str]:
    from napari_radiogal.io.export import COMBINED_NAMES

    return [COMBINED_NAMES[f] for f in formats]


def _write_combined(args: argparse.Namespace, out: Path, predictions) -> dict[str, Path]:
    """The set of many images: one COCO file, one catalogue, one region file (sky regions)."""
    from napari_radiogal.inference import catalogue, predictions_to_dataset
    from napari_radiogal.inference.prediction import predictions_regions

    return _write_set(
        args,
        out,
        predictions_to_dataset(predictions),
        catalogue(predictions, name_prefix=args.name_prefix),
        predictions_regions(predictions),
    )


def _write_set(args: argparse.Namespace, out: Path, dataset, table, regions) -> dict[str, Path]:
    """Write the combined set ``predictions.json``, ``catalogue.*``, ``regions.*`` as one."""
    from napari_radiogal.io.export import COMBINED_NAMES, write_outputs

    return write_outputs(
        out,
        "predictions",
        dataset=dataset,
        catalogue=table,
        regions=regions,
        formats=args.formats,
        names=COMBINED_NAMES,
    )


def _drop_pixels(prediction):
    """Keep what the outputs need; the per-image maps would add up over a big data set."""
    prediction.maps = {}
    return prediction


def _data_set(data: Path, split: str):
    """``(source, dataset, root)`` of ``--data``: a COCO file (its data set root) or a
    firstgalaxydata spec (the current folder as root)."""
    from napari_radiogal.io.coco import dataset_root, read_coco
    from napari_radiogal.io.firstgalaxydata import (
        parse_firstgalaxydata_spec,
        read_firstgalaxydata,
    )

    spec = parse_firstgalaxydata_spec(data)
    if spec is not None:
        return data, read_firstgalaxydata(spec.source, spec.split), Path(".")
    json_path = _data_json(data, split)
    return json_path, read_coco(json_path), dataset_root(json_path)


def _check_data_files(source: Path, dataset) -> None:
    """Refuse a data set naming a radio or IR file that does not exist, before the model
    loads (images of a firstgalaxydata zip are read from the zip)."""
    from napari_radiogal.errors import CocoFormatError
    from napari_radiogal.io.coco import dataset_root, resolve_image_path
    from napari_radiogal.io.firstgalaxydata import is_firstgalaxydata_record

    missing = []
    for index, im in enumerate(dataset.images):
        if is_firstgalaxydata_record(im):
            continue
        radio_key = "radio_file" if im.radio_file is not None else "file_name"
        for key in (radio_key, "ir_file"):
            path = resolve_image_path(source, im, key)
            if path is not None and not path.is_file():
                missing.append((index, key, path))
    if missing:
        index, key, path = missing[0]
        more = f" (and {len(missing) - 1} more missing files)" if len(missing) > 1 else ""
        raise CocoFormatError(
            f"{key} {path} not found{more}; the data set's paths are relative to its root "
            f"{dataset_root(source)}: fix the path or put the file there.",
            path=source,
            field=f"images[{index}].{key}",
        )


def _data_json(data: Path, split: str) -> Path:
    from napari_radiogal.errors import ConfigError

    if data.is_file():
        return data
    if data.is_dir():
        candidate = data / "annotations" / f"{split}.json"
        if candidate.is_file():
            return candidate
        found = (
            sorted(p.name for p in (data / "annotations").glob("*.json"))
            if (data / "annotations").is_dir()
            else []
        )
        raise ConfigError(
            f"{candidate} not found; the data set has annotations {found or 'none'}. Choose "
            "one with --split NAME or pass the COCO file itself."
        )
    raise ConfigError(f"--data {data}: no such file or folder.")


def _refuse_overwrite(paths: list[Path], overwrite: bool) -> None:
    from napari_radiogal.errors import ConfigError

    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        shown = ", ".join(existing[:6]) + (
            f" and {len(existing) - 6} more" if len(existing) > 6 else ""
        )
        raise ConfigError(
            f"output file(s) already exist: {shown}; pass --overwrite to replace them (the "
            "previous set is kept as NAME.bak) or choose another --out / --stem."
        )


def _check_out_folder(folder: Path) -> None:
    """Refuse an ``--out`` that cannot become a writable folder, before any inference."""
    import os

    from napari_radiogal.errors import ConfigError, StorageError

    existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(
            f"--out {folder}: {existing} is a file, not a folder; give a folder for the outputs."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise StorageError(
            f"--out {folder}: no permission to write in {existing}; choose another --out."
        )


def _progress_bar(args: argparse.Namespace, *, total: int, unit: str):
    from tqdm import tqdm

    quiet = args.no_progress or getattr(args, "quiet", False)
    return tqdm(
        total=total,
        unit=unit,
        disable=True if quiet else None,
        file=sys.stderr,
        desc="radiogal predict",
    )


def _stage_progress(bar: Any):
    """A ``progress(done, total)`` callback that moves a tqdm bar to ``done``."""

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    return progress
