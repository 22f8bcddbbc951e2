"""``radiogal survey`` on a simulated mosaic with ground truth: accuracy, duplicates, speed, memory.

For each ``--size`` a mosaic is simulated (``radiogal simulate --mosaic``: tiles of the EMU
sky, a W1 mosaic, a Selavy-like component catalogue and COCO truth), then surveyed once per
``--workers`` value, each run in a fresh child process (so its peak RSS is its own; Dask
workers are counted as the largest of its children). Reported per run:

* completeness: truth sources matched by a catalogue source at mask IoU >= 0.5, over all
  truth sources, and over the truth sources that the same model finds on a cut-out of the
  model's size centred on each of them (the per-cut-out reference, run once per size);
* purity: catalogue sources matched to a truth source (the simulator's compact sources are
  not in the truth, so an "R" found on one counts against it);
* duplicates: unmatched catalogue sources lying mostly (> 50 % of their pixels) on a truth
  source that another catalogue source matched, in two kinds: *split by the model* when the
  model splits that source on its centred cut-out too (a lobe of a double found as a source
  of its own: a fault of the network, not of the consolidation), *by the consolidation*
  otherwise; components given to two sources (catalogue mode);
* wall time, windows per second, peak RSS.

Run::

    python benchmarks/survey.py --quick                      # 640 px, 1 worker (~1 min)
    python benchmarks/survey.py --size 2000 --workers 1 2    # Dask LocalCluster, 1 and 2 workers
    python benchmarks/survey.py --size 2000 5000 --workers 0 2 --components

``--workers 0`` runs in one process without Dask. Numbers depend on the machine and on what
else runs on it; the README quotes the run it was measured with.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

IOU = 0.5


def _child(args: argparse.Namespace) -> None:
    """One survey in this (fresh) process; prints a JSON line."""
    from napari_radiogal.survey import survey

    mosaic = Path(args.mosaic_dir)
    start = time.perf_counter()
    result = survey(
        mosaic / "radio.fits",
        args.out,
        infrared=mosaic / "w1.fits",
        components=mosaic / "components.ecsv" if args.components else None,
        config={"device": "cpu"},  # the card's recommendations, as radiogal survey runs
        workers=args.workers[0],
        overwrite=True,
    )
    seconds = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": seconds,
                "windows": len(result.plan.windows),
                "skipped": result.plan.skipped,
                "n_sources": result.n_sources,
                "rss_mb": own,
                "rss_worker_mb": children,
            }
        )
    )


def _run_child(mosaic_dir: Path, out: Path, workers: int, components: bool) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--_child",
        "--mosaic-dir",
        str(mosaic_dir),
        "--out",
        str(out),
        "--workers",
        str(workers),
    ]
    if components:
        cmd.append("--components")
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"survey child failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _placed(dataset):
    """``[(PlacedMask, category_id)]`` of a COCO file whose images carry ``extra["window"]``."""
    from napari_radiogal.inference.windows import PlacedMask

    offsets = {im.id: im.extra["window"][:2] for im in dataset.images}
    out = []
    for a in dataset.instances:
        mask = a.mask
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        r0, c0 = offsets[a.image_id]
        sub = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        out.append(PlacedMask(r0 + int(rows[0]), c0 + int(cols[0]), sub))
    return out


def _iou(a, b) -> float:
    inter = a.intersection(b)
    return inter / (a.area + b.area - inter) if inter else 0.0


def _match(truth, found) -> tuple[dict[int, int], list[list[int]]]:
    """Greedy one-to-one matching at IoU >= 0.5: ``{truth index: found index}``, and per
    found source the truth sources it touches."""
    pairs = []
    touches: list[list[int]] = [[] for _ in found]
    for j, f in enumerate(found):
        for i, t in enumerate(truth):
            if (
                t.box[0] < f.box[2]
                and f.box[0] < t.box[2]
                and t.box[1] < f.box[3]
                and f.box[1] < t.box[3]
            ):
                inter = t.intersection(f)
                if inter:
                    touches[j].append(i)
                    iou = _iou(t, f)
                    if iou >= IOU:
                        pairs.append((iou, i, j))
    matched: dict[int, int] = {}
    used = set()
    for _, i, j in sorted(pairs, reverse=True):
        if i not in matched and j not in used:
            matched[i] = j
            used.add(j)
    return matched, touches


def _lies_on(truth_mask, found_mask) -> bool:
    """Whether most (> 50 %) of a found mask lies on a truth source."""
    return truth_mask.intersection(found_mask) > 0.5 * found_mask.area


def _centred_reference(mosaic_dir: Path, truth) -> tuple[set[int], set[int]]:
    """What the model does on a cut-out centred on each truth source, cached in the folder.

    Returns
    -------
    found : set of int
        Truth sources found there at IoU >= 0.5.
    split : set of int
        Of those, the ones with another detection lying mostly on them (the model splits
        the source even when it sees it whole and centred).
    """
    from napari_radiogal.inference import load_model

    lm = load_model("default", device="cpu")
    cache = mosaic_dir / f"centred_reference_{lm.sha256[:12]}.json"
    if cache.exists():
        saved = json.loads(cache.read_text())
        return set(saved["found"]), set(saved["split"])
    found, split = _run_centred_reference(mosaic_dir, truth, lm)
    cache.write_text(json.dumps({"found": sorted(found), "split": sorted(split)}))
    return found, split


def _run_centred_reference(mosaic_dir: Path, truth, lm) -> tuple[set[int], set[int]]:
    from napari_radiogal.inference.windows import window_detection
    from napari_radiogal.io.fits import read_radio
    from napari_radiogal.io.geometry import Window
    from napari_radiogal.survey.work import BatchSpec, run_batch, torch_threads

    # the model and settings radiogal survey uses: the bundled default with its card's
    # recommendations
    config = lm.config(device="cpu")
    radio = read_radio(mosaic_dir / "radio.fits", lazy=True)
    height, width = radio.shape
    size = lm.geometry.cutout_size
    windows = []
    for t in truth:
        r0, c0, r1, c1 = t.box
        row0 = int(np.clip(round((r0 + r1 - 1) / 2 - (size - 1) / 2), 0, height - size))
        col0 = int(np.clip(round((c0 + c1 - 1) / 2 - (size - 1) / 2), 0, width - size))
        windows.append(Window(row0, col0, size, size))
    masks: list[list] = [[] for _ in truth]
    numbered = list(enumerate(windows))
    with torch_threads(1):
        for start in range(0, len(numbered), config.batch_size):
            spec = BatchSpec(
                index=0,
                windows=tuple(numbered[start : start + config.batch_size]),
                mosaic=str(mosaic_dir / "radio.fits"),
                infrared=str(mosaic_dir / "w1.fits"),
                model=str(lm.path),
                config=config.to_dict(),
            )
            dataset = run_batch(spec)
            for a in dataset.instances:
                k = a.image_id - 1
                masks[k].append(window_detection(windows[k], a).mask)
    found, split = set(), set()
    for k, (t, own) in enumerate(zip(truth, masks, strict=True)):
        ious = [_iou(t, m) for m in own]
        if not ious or max(ious) < IOU:
            continue
        found.add(k)
        best = int(np.argmax(ious))
        if any(_lies_on(t, m) for j, m in enumerate(own) if j != best):
            split.add(k)
    return found, split


def _evaluate(mosaic_dir: Path, out: Path, truth, reference: set[int], split: set[int]) -> dict:
    from astropy.table import Table

    from napari_radiogal.io.coco import read_coco

    found = _placed(read_coco(out / "windows.json"))
    matched, touches = _match(truth, found)
    matched_found = set(matched.values())
    duplicates = split_by_model = 0
    for j, f in enumerate(found):
        if j in matched_found:
            continue
        on = [i for i in touches[j] if i in matched and _lies_on(truth[i], f)]
        if on:
            duplicates += 1
            split_by_model += on[0] in split
    table = Table.read(out / "catalogue.ecsv")
    ids = " ".join(np.ma.filled(table["component_ids"], "")).split()
    return {
        "completeness": len(matched) / max(1, len(truth)),
        "completeness_vs_centred": len(set(matched) & reference) / max(1, len(reference)),
        "purity": len(matched) / max(1, len(found)),
        "duplicates": duplicates,
        "duplicates_split_by_model": split_by_model,
        "duplicates_by_consolidation": duplicates - split_by_model,
        "components_in_two_sources": len(ids) - len(set(ids)),
    }


def draw_region(mosaic_dir: Path, out: Path, png: Path, side: int = 1000) -> Path:
    """Draw the centre ``side`` x ``side`` px of a mosaic with its catalogue and its truth.

    Radio (arcsinh-scaled), the consolidated catalogue's outlines coloured by class with
    their hosts (``x``), and the truth sources as thin white contours, so that what was
    found, merged, split or missed can be seen.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_radiogal.classes import DISPLAY_COLORS
    from napari_radiogal.io.coco import read_coco
    from napari_radiogal.io.fits import read_radio
    from napari_radiogal.stats import clipped_noise

    mosaic = read_radio(mosaic_dir / "radio.fits", lazy=True)
    height, width = mosaic.shape
    r0, c0 = (height - side) // 2, (width - side) // 2
    radio = np.array(mosaic.data[r0 : r0 + side, c0 : c0 + side], dtype=np.float64)
    sigma = clipped_noise(radio)
    fig, ax = plt.subplots(figsize=(10, 10))
    ax.imshow(np.arcsinh(radio / (3 * sigma)), origin="lower", cmap="gray", vmin=-1, vmax=8)

    def outline(pm, **style):
        rows, cols = pm.box[0] - r0, pm.box[1] - c0
        if rows + pm.mask.shape[0] < 0 or cols + pm.mask.shape[1] < 0 or rows > side or cols > side:
            return False
        canvas = np.zeros((pm.mask.shape[0] + 2, pm.mask.shape[1] + 2))
        canvas[1:-1, 1:-1] = pm.mask
        yy = np.arange(-1, pm.mask.shape[0] + 1) + rows
        xx = np.arange(-1, pm.mask.shape[1] + 1) + cols
        ax.contour(xx, yy, canvas, [0.5], **style)
        return True

    for t in _placed(read_coco(mosaic_dir / "truth.json")):
        outline(t, colors="white", linewidths=0.6, linestyles="dashed")
    found = read_coco(out / "windows.json")
    names = dict(zip(found.scheme.coco_ids, found.scheme.names, strict=True))
    offsets = {im.id: im.extra["window"][:2] for im in found.images}
    for pm, a in zip(_placed(found), found.instances, strict=True):
        color = DISPLAY_COLORS.get(names[a.category_id], "#00ff00")[:7]
        if outline(pm, colors=color, linewidths=1.2) and a.host is not None:
            wr, wc = offsets[a.image_id]
            ax.plot(a.host[0] + wc - c0, a.host[1] + wr - r0, "x", color=color, ms=6)
    handles = [
        plt.Line2D([], [], color=DISPLAY_COLORS.get(n, "#00ff00")[:7], label=n)
        for n in names.values()
    ]
    handles.append(plt.Line2D([], [], color="white", ls="--", lw=0.6, label="truth"))
    ax.legend(handles=handles, loc="upper right", fontsize=9, framealpha=0.6)
    ax.set_xlim(0, side)
    ax.set_ylim(0, side)
    ax.set_title(
        f"{mosaic_dir.name}: pixels {c0}-{c0 + side} x {r0}-{r0 + side}, catalogue of {out.name}"
    )
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, nargs="+", default=[2000], help="mosaic sides, px")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="Dask workers per run (0: no Dask)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--components", action="store_true", help="catalogue-driven windows")
    parser.add_argument("--work", type=Path, default=None, help="keep mosaics and outputs here")
    parser.add_argument("--quick", action="store_true", help="640 px, 1 worker")
    parser.add_argument(
        "--picture",
        type=Path,
        default=None,
        help="draw the centre 1000 px of the first run's mosaic with its catalogue (PNG)",
    )
    parser.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mosaic-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        _child(args)
        return 0
    if args.quick:
        args.size, args.workers = [640], [1]
    from napari_radiogal.io.coco import read_coco
    from napari_radiogal.sky.mosaic import write_mosaic

    work = args.work or Path(tempfile.mkdtemp(prefix="radiogal-survey-bench-"))
    rows = []
    for size in args.size:
        mosaic_dir = work / f"mosaic_{size}_seed{args.seed}"
        start = time.perf_counter()
        if not (mosaic_dir / "truth.json").exists():
            write_mosaic(mosaic_dir, size, seed=args.seed)
        simulate_s = time.perf_counter() - start
        truth = _placed(read_coco(mosaic_dir / "truth.json"))
        start = time.perf_counter()
        reference, split = _centred_reference(mosaic_dir, truth)
        reference_s = time.perf_counter() - start
        print(
            f"size {size}: {len(truth)} truth sources (simulated in {simulate_s:.0f} s); the model "
            f"finds {len(reference)} ({len(reference) / max(1, len(truth)):.1%}) on centred "
            f"cut-outs and splits {len(split)} of them there ({reference_s:.0f} s)",
            flush=True,
        )
        for workers in args.workers:
            out = work / f"survey_{size}_w{workers}{'_cat' if args.components else ''}"
            run = _run_child(mosaic_dir, out, workers, args.components)
            scores = _evaluate(mosaic_dir, out, truth, reference, split)
            row = {"size": size, "workers": workers, **run, **scores}
            row["windows_per_s"] = run["windows"] / run["seconds"]
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.picture is not None and len(rows) == 1:
                draw_region(mosaic_dir, out, args.picture)
    print()
    print(
        "| size | workers | windows | sources | wall (s) | windows/s | peak RSS (MB, driver / worker) "
        "| completeness | vs centred | purity | duplicates (split by the model / by the "
        "consolidation) | components in 2 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['size']} | {r['workers']} | {r['windows']} | {r['n_sources']} | "
            f"{r['seconds']:.0f} | {r['windows_per_s']:.2f} | {r['rss_mb']:.0f} / "
            f"{r['rss_worker_mb']:.0f} | {r['completeness']:.1%} | "
            f"{r['completeness_vs_centred']:.1%} | {r['purity']:.1%} | {r['duplicates']} "
            f"({r['duplicates_split_by_model']} / {r['duplicates_by_consolidation']}) | "
            f"{r['components_in_two_sources']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
