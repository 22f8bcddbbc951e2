"""Gallery of the synthetic sky: per class, radio cut-outs with their masks and the W1 image.

Each example is two panels: the radio image (Jy/beam, asinh stretch, north up) with the
ground-truth mask contour (class colour), the host (cross) and the two peaks behind the a/b
measurement (dots); and the W1 image on its *own* grid, with the mask outline and the host
carried through the two WCSs (radio pixel -> sky -> IR pixel).

Usage::

    python benchmarks/gallery.py                       # docs/images/gallery.png
    python benchmarks/gallery.py --per-class 4 --seed 7 --out /tmp/gallery.png
    python benchmarks/gallery.py --preset wide --out docs/images/gallery_wide.png

With ``--preset wide`` every radio title also gives the cut-out's pixel size, beam in pixels
and the shape family of the source.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from napari_radiogal.classes import DISPLAY_COLORS, RADIOGALAXYNET
from napari_radiogal.sky import SkyConfig, simulate_cutout

REPO = Path(__file__).resolve().parents[1]


def collect(per_class: int, seed: int, config: SkyConfig, max_draws: int = 400):
    """Cut-outs grouped by the measured class of their first source."""
    found: dict[str, list] = {name: [] for name in RADIOGALAXYNET.display_order}
    seeds = np.random.SeedSequence(seed).spawn(max_draws)
    for ss in seeds:
        cut = simulate_cutout(np.random.default_rng(ss), config)
        if not cut.truth:
            continue
        cls = cut.truth[0].category
        if len(found[cls]) < per_class:
            found[cls].append(cut)
        if all(len(v) >= per_class for v in found.values()):
            break
    return found


def _mask_outline(mask: np.ndarray) -> list[np.ndarray]:
    """Outline segments (x, y) of a boolean mask, radio pixels."""
    fig = plt.figure()
    cs = plt.contour(mask.astype(float), levels=[0.5])
    segs = [seg for seg in cs.allsegs[0] if len(seg) > 2]
    plt.close(fig)
    return segs


def draw_example(ax_radio, ax_ir, cut) -> None:
    radio = cut.radio.data
    sigma = cut.noise_sigma
    stretch = np.arcsinh(np.clip(radio, -3 * sigma, None) / (3 * sigma))
    ax_radio.imshow(
        stretch,
        origin="lower",
        cmap="inferno",
        vmin=np.arcsinh(-1.0),
        vmax=np.percentile(stretch, 99.8),
    )
    ir = cut.infrared
    # asinh stretch around the sky level so faint hosts show next to bright stars
    med = np.median(ir.data)
    noise = 1.4826 * np.median(np.abs(ir.data - med))
    ir_stretch = np.arcsinh((ir.data - med) / (2.0 * noise))
    ax_ir.imshow(
        ir_stretch, origin="lower", cmap="gray", vmin=-1.0, vmax=np.percentile(ir_stretch, 99.7)
    )
    for t in cut.truth:
        colour = DISPLAY_COLORS[t.category][:7]
        segs = _mask_outline(t.mask)
        for seg in segs:
            ax_radio.plot(seg[:, 0], seg[:, 1], color=colour, lw=1.3)
            world = cut.radio.wcs.pixel_to_world_values(seg[:, 0], seg[:, 1])
            ix, iy = ir.wcs.world_to_pixel_values(*world)
            ax_ir.plot(ix, iy, color=colour, lw=1.0)
        hx, hy = t.host
        ax_radio.plot(hx, hy, "+", color="cyan", ms=9, mew=1.5)
        for px, py in t.morphology.peaks:
            ax_radio.plot(px, py, ".", color="lime", ms=5)
        ix, iy = ir.wcs.world_to_pixel_values(t.host_ra, t.host_dec)
        ax_ir.plot(ix, iy, "o", mfc="none", color="cyan", ms=10, mew=1.2)
    first = cut.truth[0]
    flags = [f for f in first.flags if f not in ("multi_component",)]
    geometry = ""
    if cut.config is not None and cut.config != SkyConfig():
        c = cut.config
        ppb = (c.beam_major_arcsec * c.beam_minor_arcsec) ** 0.5 / c.pixel_scale_arcsec
        geometry = f'  {c.pixel_scale_arcsec:.1f}"/px {ppb:.1f} px/beam'
    ax_radio.set_title(
        f"{first.category}  a/b={first.morphology.ratio:.2f}  S/N={first.peak_snr:.0f}"
        f"{geometry}\n{', '.join(flags)[:56]}",
        fontsize=7,
    )
    ax_ir.set_title(
        f'W1 {cut.meta["ir_style"]} ({ir.pixel_scale_arcsec}"/px)  host {first.host_w1_mag:.1f} mag',
        fontsize=7,
    )
    for ax in (ax_radio, ax_ir):
        ax.set_xticks([])
        ax.set_yticks([])


def _shrink_png(path: Path) -> None:
    """Re-save as a 256-colour palette PNG (the noise texture makes true-colour PNGs big)."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(
            colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
        )
    small.save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2023)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images" / "gallery.png")
    parser.add_argument("--dpi", type=int, default=70)
    parser.add_argument(
        "--preset", default="default", help="sky preset (SkyConfig.preset): default, easy, wide"
    )
    args = parser.parse_args(argv)

    config = SkyConfig.preset(args.preset)
    found = collect(args.per_class, args.seed, config)
    classes = list(found)
    fig, axes = plt.subplots(
        len(classes),
        2 * args.per_class,
        figsize=(3.1 * args.per_class * 2 * 0.8, 2.9 * len(classes)),
    )
    axes = np.atleast_2d(axes)
    for row, cls in enumerate(classes):
        for col in range(args.per_class):
            ax_r, ax_i = axes[row, 2 * col], axes[row, 2 * col + 1]
            if col < len(found[cls]):
                draw_example(ax_r, ax_i, found[cls][col])
            else:
                ax_r.axis("off")
                ax_i.axis("off")
        axes[row, 0].set_ylabel(cls, fontsize=12, color=DISPLAY_COLORS[cls][:7])
    sky = (
        "synthetic EMU (radio, 7'x7', 2\"/px)"
        if args.preset == "default"
        else f"'{args.preset}' synthetic radio sky (210 x 210 px)"
    )
    fig.suptitle(
        f"napari-radiogal {sky} + WISE W1 sky: mask contours, host (cyan), a/b peaks (green)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=args.dpi)
    plt.close(fig)
    _shrink_png(args.out)
    size_kb = args.out.stat().st_size / 1024
    print(f"wrote {args.out} ({size_kb:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
