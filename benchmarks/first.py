"""Real FIRST radio galaxies: is the central galaxy found, classified and given a host?

Runs a model on the real VLA FIRST cut-outs of ``firstgalaxydata`` (``pip install
"napari-radiogal[first]"``): 300 x 300 px at 1.8"/px, each centred on a catalogued radio
galaxy with its published class (FRI / FRII / Compact / Bent). Two ways in:

* ``--input png`` (default): the images as the package ships them (8-bit display values,
  read in place from its zip), what a FIRST model is trained on;
* ``--input fits``: each PNG turned into a FIRST FITS cut-out in Jy/beam, as a user would
  download from the cut-out server: the display levels mapped back to surface brightness
  above a 3 sigma clip (sigma = 0.15 mJy/beam, FIRST's typical rms; peak signal-to-noise
  drawn log-uniformly from 30 to 1000 per image, fixed seed), beam-shaped noise
  (white noise smoothed by the 5.4" beam, rescaled to sigma) on the pixels the PNG clipped,
  a TAN WCS and ``BUNIT`` but *no* BMAJ / BMIN (the beam must be found or guessed), written
  and read back through astropy. The morphologies are real; the noise is not.

The model runs with no options, exactly as ``radiogal predict`` does (``--model auto``, the
default, lets :func:`~napari_radiogal.inference.model.choose_bundled_model` pick it).

Measured per image, against the PNG itself (truth = the PNG's non-zero island of at least
5 pixels nearest the centre, and the catalogue position at the centre):

* **central galaxy found**: some instance covers at least half of that island's pixels;
* **class**: the class of the instance covering most of it (none = wrong), as FR-I / FR-II
  for the FRI and FRII images (FIRST classes mapped with
  :data:`napari_radiogal.classes.FIRST_TO_RADIOGALAXYNET`), and over all four classes for a
  model of the FIRST scheme;
* **host**: that instance's host against the catalogue position (arcsec): median and the
  share within 5" and 10".

Never tune on ``--split test``: select on ``valid`` (the default), report ``test`` once.

Usage::

    python benchmarks/first.py                                  # valid, PNG, the chosen model
    python benchmarks/first.py --input fits --model default     # the EMU model on FITS
    python benchmarks/first.py --split test --input fits        # the final report
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import ndimage

from napari_radiogal.classes import FIRST, FIRST_TO_RADIOGALAXYNET
from napari_radiogal.io.firstgalaxydata import (
    BEAM_FWHM_ARCSEC,
    PIXEL_SCALE_ARCSEC,
    read_firstgalaxydata,
    read_firstgalaxydata_image,
    read_firstgalaxydata_png,
)

#: FIRST's typical rms (White et al. 1997), Jy/beam.
FIRST_RMS_JY = 1.5e-4
CLIP_SIGMA = 3.0


#: Islands smaller than this (pixels) are noise specks, not the catalogued source: the PNGs
#: were made with no minimum island size, and 74 % of them hold specks of 1-4 px, often nearer
#: the centre than the galaxy (the pre-processing's ``min_island_pixels`` is 5 too).
MIN_ISLAND_PIXELS = 5


def central_island(png: np.ndarray) -> np.ndarray:
    """The 8-connected non-zero island of at least :data:`MIN_ISLAND_PIXELS` pixels nearest
    the centre of a display image, ``(H, W)`` bool (all False when there is none)."""
    labels, n = ndimage.label(png > 0, structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    labels[sizes[labels] < MIN_ISLAND_PIXELS] = 0
    if not labels.any():
        return np.zeros(png.shape, bool)
    h, w = png.shape
    yy, xx = np.nonzero(labels)
    d2 = (yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2
    return labels == labels[yy[np.argmin(d2)], xx[np.argmin(d2)]]


def png_to_fits(png: np.ndarray, wcs_header: str, path: Path, rng: np.random.Generator) -> Path:
    """A FIRST-like FITS cut-out in Jy/beam whose display scaling gives back ``png``.

    Parameters
    ----------
    png : ndarray of uint8, shape (H, W)
        Display values 0..255.
    wcs_header : str
        The image's TAN WCS (FITS header cards).
    path : Path
        Where to write it.
    rng : numpy.random.Generator
        Noise and peak brightness.
    """
    from astropy.io import fits

    sigma = FIRST_RMS_JY
    clip = CLIP_SIGMA * sigma
    peak = sigma * math.exp(rng.uniform(math.log(30.0), math.log(1000.0)))
    beam_sigma_px = BEAM_FWHM_ARCSEC / PIXEL_SCALE_ARCSEC / (2 * math.sqrt(2 * math.log(2)))
    noise = ndimage.gaussian_filter(rng.normal(size=png.shape), beam_sigma_px)
    noise *= sigma / noise.std()
    data = np.where(png > 0, clip + (png + 0.5) / 255.0 * (peak - clip), np.minimum(noise, clip))
    header = fits.Header.fromstring(wcs_header)
    header["BUNIT"] = "JY/BEAM"
    header["TELESCOP"] = "VLA"
    fits.PrimaryHDU(data.astype(np.float32), header).writeto(path, overwrite=True)
    return path


def score_image(prediction, png: np.ndarray, true_class: str, catalogue: str | None = None) -> dict:
    """Found / class / host of one prediction against its PNG (see the module docstring).

    ``catalogue`` (the source catalogue the object comes from) is kept in the row, since
    what its position means differs by catalogue (:func:`host_by_catalogue`)."""
    island = central_island(png)
    best, overlap = None, 0
    for inst in prediction.instances:
        mask = inst.mask
        if mask.shape != island.shape:
            continue
        n = int(np.count_nonzero(mask & island))
        if n > overlap:
            best, overlap = inst, n
    found = best is not None and overlap >= 0.5 * max(int(island.sum()), 1)
    predicted = None if best is None else prediction.scheme.name_of_id(best.category_id)
    host_error = None
    if best is not None and best.host is not None:
        h, w = png.shape
        dx, dy = best.host[0] - (w - 1) / 2, best.host[1] - (h - 1) / 2
        host_error = math.hypot(dx, dy) * PIXEL_SCALE_ARCSEC
    probs = np.asarray(prediction.class_probabilities)
    classifier = prediction.scheme.names[int(np.argmax(probs))] if probs.size else None
    return {
        "true": true_class,
        "catalogue": catalogue,
        "predicted": predicted,
        "classifier": classifier,
        "found": bool(found),
        "host_error_arcsec": host_error,
    }


def _drawable(prediction) -> list[tuple[str, float, np.ndarray, tuple | None]]:
    """``(class, score, mask, host)`` of each instance."""
    return [
        (prediction.scheme.name_of_id(a.category_id), float(a.score or 0), a.mask, a.host)
        for a in prediction.instances
    ]


def draw_gallery(rows: list[dict], drawn: list, path: Path, *, seed: int = 0) -> None:
    """12 images, 3 per true class, and the 8 worst: the PNG (square-root stretch), the
    predicted masks in class colours with their hosts (+), the catalogue position (x)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_radiogal.classes import DISPLAY_COLORS

    rng = np.random.default_rng(seed)
    chosen = []
    for name in FIRST.names:
        of_class = [i for i, r in enumerate(rows) if r["true"] == name]
        chosen += [int(i) for i in rng.permutation(of_class)[:3]]
    missed = [i for i, r in enumerate(rows) if not r["found"]]
    wrong = [i for i, r in enumerate(rows) if r["found"] and r["predicted"] != r["true"]]
    worst = (missed + wrong)[:8]
    panels = [(i, "") for i in chosen] + [(i, "worst: ") for i in worst]
    n_cols = 6
    n_rows = -(-len(panels) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.6 * n_cols, 2.8 * n_rows))
    for ax in np.ravel(axes):
        ax.set_axis_off()
    for ax, (i, prefix) in zip(np.ravel(axes), panels, strict=False):
        png, instances = drawn[i]
        ax.imshow(np.sqrt(png / 255.0), origin="lower", cmap="gray")
        for name, _score, mask, host in instances:
            color = DISPLAY_COLORS.get(name, "#00ff00ff")[:7]
            ax.contour(mask, [0.5], colors=[color], linewidths=1.0)
            if host is not None:
                ax.plot(*host, "+", color=color, ms=9, mew=1.5)
        h, w = png.shape
        ax.plot((w - 1) / 2, (h - 1) / 2, "x", color="white", ms=7, mew=1)
        r = rows[i]
        ax.set_title(f"{prefix}{r['true']} -> {r['predicted']}", fontsize=8)
    fig.suptitle(
        "FIRST cut-outs (firstgalaxydata): predicted masks in class colours, hosts +, "
        "catalogue position x",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def as_fr(name: str | None) -> str | None:
    """A class name of either scheme as FR-I / FR-II (None for anything else)."""
    if name is None:
        return None
    if name in FIRST_TO_RADIOGALAXYNET:
        return FIRST_TO_RADIOGALAXYNET[name]
    return name if name in ("FR-I", "FR-II") else None


#: The subset the FIRST issue's host target is on: MiraBest objects, whose catalogue position
#: is the SDSS optical host (Miraghaei & Best 2017), of class FRI or FRII.
MIRABEST_FR = ("MiraBest", ("FRI", "FRII"))


def host_by_catalogue(rows: list[dict]) -> dict[str, dict[str, float | int]]:
    """Host error against the catalogue position, per source catalogue and for MiraBest FR.

    The position means different things: MiraBest's is the SDSS optical host, Gendre's and
    Capetti's the optical / radio counterpart of their samples, Proctor's the centre of a
    bent source's radio emission (often not its core). Rows without a host count as
    misses (beyond 5").

    Returns
    -------
    dict
        ``{name: {"images", "within_5_pct", "median_arcsec"}}``, one entry per catalogue and
        ``"MiraBest FRI/FRII"``.
    """
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(str(r.get("catalogue")), []).append(r)
        name, classes = MIRABEST_FR
        if r.get("catalogue") == name and r["true"] in classes:
            groups.setdefault("MiraBest FRI/FRII", []).append(r)
    out = {}
    for name, group in sorted(groups.items()):
        errors = np.array(
            [np.inf if r["host_error_arcsec"] is None else r["host_error_arcsec"] for r in group]
        )
        finite = errors[np.isfinite(errors)]
        out[name] = {
            "images": len(group),
            "within_5_pct": round(100 * float(np.mean(errors <= 5)), 1),
            "median_arcsec": round(float(np.median(finite)), 2) if finite.size else None,
        }
    return out


def summarise(rows: list[dict], scheme_name: str) -> dict:
    """The table's numbers from the per-image rows."""
    fr = [r for r in rows if as_fr(r["true"]) is not None]
    errors = np.array([r["host_error_arcsec"] for r in rows if r["host_error_arcsec"] is not None])
    out = {
        "images": len(rows),
        "central_found_pct": 100 * np.mean([r["found"] for r in rows]),
        "fr_accuracy_pct": (
            100 * float(np.mean([as_fr(r["predicted"]) == as_fr(r["true"]) for r in fr]))
            if fr
            else None
        ),
        "fr_images": len(fr),
        "host_median_arcsec": float(np.median(errors)) if errors.size else None,
        "host_within_5_pct": 100 * float(np.mean(errors <= 5)) if errors.size else 0.0,
        "host_within_10_pct": 100 * float(np.mean(errors <= 10)) if errors.size else 0.0,
        "predicted_classes": dict(Counter(str(r["predicted"]) for r in rows)),
        "host_by_catalogue": host_by_catalogue(rows),
    }
    if scheme_name == FIRST.name:
        out["accuracy_4_pct"] = 100 * np.mean([r["predicted"] == r["true"] for r in rows])
        # The image-level classifier alone (argmax of its probabilities): what the masks add
        # or lose against a plain CNN classifier of the cut-out.
        out["classifier_accuracy_4_pct"] = 100 * np.mean(
            [r["classifier"] == r["true"] for r in rows]
        )
        out["confusion"] = {
            t: dict(Counter(str(r["predicted"]) for r in rows if r["true"] == t))
            for t in FIRST.names
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="valid", choices=["train", "valid", "test"])
    parser.add_argument("--input", default="png", choices=["png", "fits"])
    parser.add_argument(
        "--model",
        default="auto",
        help="auto (chosen per image, as predict does), a bundled name or a path",
    )
    parser.add_argument(
        "--data", default=None, help="galaxy_data.zip or its folder (default: the package)"
    )
    parser.add_argument("--n", type=int, default=None, help="first N images only (a smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an InferenceConfig field for this run (YAML value), e.g. class_threshold=0.2; "
        "fields not set take the model card's recommendation, else the library default",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="write the rows and summary here (JSON)"
    )
    parser.add_argument(
        "--gallery",
        type=Path,
        default=None,
        metavar="PNG",
        help="draw 12 images (3 per class, fixed seed) and the 8 worst (missed, then wrong "
        "class) with the predicted masks, classes and hosts",
    )
    args = parser.parse_args(argv)

    import yaml

    from napari_radiogal.inference import (
        InferenceConfig,
        choose_bundled_model,
        load_model,
        segment,
    )
    from napari_radiogal.io.fits import read_radio

    settings = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    InferenceConfig().replace(**settings)  # a bad --set fails before the first image
    dataset = read_firstgalaxydata(args.data, args.split)
    rng = np.random.default_rng(args.seed)
    records = list(dataset.images)
    if args.n:  # a sample across classes (the zip lists them class by class)
        records = [records[i] for i in sorted(rng.permutation(len(records))[: args.n])]
    rows, models_used, drawn = [], Counter(), []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for record in records:
            png = read_firstgalaxydata_png(record.extra["zip"], record.extra["member"])
            if args.input == "png":
                radio = read_firstgalaxydata_image(record)
            else:
                path = png_to_fits(png, record.radio_wcs, Path(tmp) / "cutout.fits", rng)
                radio = read_radio(path)
            if args.model == "auto":
                model_path = choose_bundled_model(radio, has_infrared=False).path
            else:
                model_path = args.model
            model = load_model(model_path)
            models_used[model.name] += 1
            prediction = segment(radio, None, model=model, config=model.config(**settings))
            true_class = FIRST.name_of_id(record.extra["image_classes"][0])
            rows.append(score_image(prediction, png, true_class, record.extra.get("catalogue")))
            if args.gallery is not None:  # what the picture needs, not the whole prediction
                drawn.append((png, _drawable(prediction)))
    scheme = load_model(model_path).scheme.name
    summary = summarise(rows, scheme)
    summary.update(
        split=args.split,
        input=args.input,
        models=dict(models_used),
        seconds=round(time.perf_counter() - t0, 1),
        settings={"card": load_model(model_path).card.inference, "set": settings},
    )
    print(json.dumps(summary, indent=1))
    print(
        f"\n| split | input | model | images | central found % | FR-I/FR-II acc. % | "
        'host median " | host within 5" % |\n|---|---|---|---|---|---|---|---|\n'
        f"| {args.split} | {args.input} | {', '.join(models_used)} | {summary['images']} | "
        f"{summary['central_found_pct']:.1f} | {summary['fr_accuracy_pct'] or float('nan'):.1f} | "
        f"{summary['host_median_arcsec'] or float('nan'):.1f} | {summary['host_within_5_pct']:.1f} |"
    )
    if args.gallery is not None:
        draw_gallery(rows, drawn, args.gallery, seed=args.seed)
        print(f"gallery: {args.gallery}")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"first_{args.split}_{args.input}.json").write_text(
            json.dumps({"summary": summary, "rows": rows}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
