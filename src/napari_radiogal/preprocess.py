"""Network input channels from a radio image and its infrared counterpart (paper section 3.1).

The recipe of Gupta et al. (2023), section 3.1, step by step:

1. **Radio noise**: the MAD of the cut-out, two rounds of clipping at 3 x MAD, sigma = the
   standard deviation of what remains (:func:`napari_radiogal.stats.clipped_noise`).
   With ``noise="local"`` a background and noise *map* replaces the single sigma (see
   :func:`local_noise`): the paper's estimator then runs on the locally whitened image.
2. **Radio islands**: 8-connected regions above 3 sigma with at least 5 pixels
   (:func:`napari_radiogal.stats.islands`).
3. **Scaling**: inside the islands, the logarithm of the pixel value, min-max normalised to
   ``[epsilon, 1]``; every other pixel is exactly 0.
4. **Infrared**: the same, with the island threshold median + 3 x MAD
   (:func:`napari_radiogal.stats.ir_threshold`) and the same 5-pixel minimum.

Choices the paper leaves open, made here and recorded in :class:`PreprocessConfig` (which
travels inside every weights card so inference repeats exactly what training saw):

* **Epsilon offset.** Plain min-max maps the faintest island pixel to 0, which makes it
  indistinguishable from the background outside islands. We map the faintest island pixel
  to ``epsilon`` (default 1/65535, the smallest non-zero value of the 16-bit radio packing
  of the public RadioGalaxyNET PNGs), so "inside an island" is always ``> 0``.
* **Non-positive island pixels.** The log needs positive values. Radio islands are above
  3 sigma > 0, so this only concerns infrared images whose sky was subtracted (median below
  zero). Then the log is taken of ``value - threshold + mad`` instead (a shift that keeps
  the order of the pixels); a debug message says so.
* **NaN** (blanked) pixels are treated as empty sky: they never belong to an island and
  their channel value is 0. Their footprint is returned (:attr:`Preprocessed.radio_blank`,
  :attr:`Preprocessed.ir_blank`) so that callers can mask them out of predictions.
* **No infrared image**: the infrared channel is all zeros (as for a blank IR sky) and
  :attr:`Preprocessed.has_ir` is False. The model then localises from radio alone.

The display channel (``"radio_display"``, :func:`display_scale`) is not the paper's: it
repeats how the FIRST PNGs of firstgalaxydata and MiraBest were made, so that a model
trained on those PNGs sees the same pixels in a FIRST FITS cut-out in Jy/beam:

1. sigma = 1.4826 x MAD of the image, clipped at 3 sigma (:func:`display_noise`, the
   Gaussian-equivalent noise, not the paper's clipped sigma, which reads 0.87 of it);
2. clip level ``t = display_sigma x sigma`` (3); pixels at or below it are 0;
3. ``v = floor(display_levels (I - t) / (max - t))`` (255 levels), islands = the
   connected regions of ``v >= 1`` with ``min_island_pixels`` or more; channel ``v / 255``
   inside them, 0 elsewhere.

The firstgalaxydata PNGs fit this: fitting the tail of the noise pixels far from the
source (probit of the fraction of pixels with ``v >= j`` against ``j``, which is linear only
for a linear scale) gives a clip level of 2.91 sigma (median of 152 images; 10-90 %:
2.81-3.05), and 74 % of the PNGs keep islands of fewer than 5 pixels (so no minimum size
was applied when they were made; ours is applied to PNGs and FITS alike). The transform is
idempotent on its own output: more than half of a display image is exactly 0, so its MAD,
sigma and clip level are 0 and the PNG values come back as ``v / 255`` (the largest is 255).
When the display channel is among the channels, :attr:`Preprocessed.radio_islands` are
its islands (the model sees nothing outside them).

Arrays are ``(row, col)`` = ``(y, x)``, 0-based; radio in Jy/beam, infrared in the units of
its file (only its ranks matter after the log + min-max).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from napari_radiogal import stats
from napari_radiogal.errors import ConfigError, InputImageError

__all__ = [
    "CHANNELS",
    "NOISE_MODELS",
    "PreprocessConfig",
    "Preprocessed",
    "preprocess",
    "scale_islands",
    "assemble_channels",
    "local_noise",
    "display_noise",
    "display_scale",
]

log = logging.getLogger(__name__)

#: Channels the network can take, with what each one holds.
CHANNELS: dict[str, str] = {
    "radio": "radio islands: log then min-max to [epsilon, 1], 0 elsewhere",
    "ir": "infrared islands: log then min-max to [epsilon, 1], 0 elsewhere",
    "radio_mask": "1 inside radio islands, 0 elsewhere",
    "ir_mask": "1 inside infrared islands, 0 elsewhere",
    "radio_display": "radio above display_sigma x sigma, linear (I - t)/(max - t), floored to "
    "8 bits, /255, 0 outside its islands: the FIRST PNG convention (firstgalaxydata, MiraBest)",
}

#: Radio noise models of :class:`PreprocessConfig`, with what each one does.
NOISE_MODELS: dict[str, str] = {
    "global": "one clipped sigma for the whole image (the paper)",
    "local": "background and noise maps (sep mesh); islands above island_sigma x the map",
}


@dataclass(frozen=True)
class PreprocessConfig:
    """Parameters of the paper's pre-processing; stored in every weights card.

    Parameters
    ----------
    island_sigma : float
        Radio island threshold in units of the clipped noise sigma (3 in the paper).
    min_island_pixels : int
        Smallest radio island kept, in pixels (5 in the paper, about 10 arcsec).
    clip_rounds : int
        Rounds of MAD clipping in the noise estimate (2 in the paper).
    clip_mads : float
        Clipping half-width in raw MADs (3 in the paper).
    ir_mads : float
        Infrared island threshold: median + ``ir_mads`` x MAD (3 in the paper).
    ir_min_island_pixels : int
        Smallest infrared island kept, in pixels (5 in the paper).
    connectivity : {1, 2}
        Island connectivity: 1 = 4-connected, 2 = 8-connected (unstated in the paper).
    epsilon : float
        Value of the faintest island pixel after min-max scaling; keeps it above the
        background's exact 0.
    channels : tuple of str
        Network input channels, in order; see :data:`CHANNELS`.
    noise : {"global", "local"}
        ``"global"``: one clipped sigma for the whole image (the paper). ``"local"``: a
        background and noise map (SExtractor's mesh, :func:`napari_radiogal.stats.
        local_background`) so that large-scale ripple, stripes and sidelobe patterns do not
        flood the islands; for stationary noise it gives the paper's islands.
    background_box : int
        ``noise="local"`` only: box size of the background mesh in pixels.
    background_filter : int
        ``noise="local"`` only: median-filter width of the mesh, in boxes (odd).
    display_sigma : float
        ``"radio_display"`` only: clip level in units of :func:`display_noise` (3: the
        FIRST PNGs).
    display_levels : int
        ``"radio_display"`` only: grey levels of the display scale (255: 8-bit PNGs).

    Examples
    --------
    >>> cfg = PreprocessConfig(channels=("radio", "ir", "radio_mask"))
    >>> PreprocessConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    island_sigma: float = 3.0
    min_island_pixels: int = 5
    clip_rounds: int = 2
    clip_mads: float = 3.0
    ir_mads: float = 3.0
    ir_min_island_pixels: int = 5
    connectivity: int = 2
    epsilon: float = 1.0 / 65535.0
    channels: tuple[str, ...] = field(default=("radio", "ir"))
    noise: str = "global"
    background_box: int = 64
    background_filter: int = 3
    display_sigma: float = 3.0
    display_levels: int = 255

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        unknown = [c for c in self.channels if c not in CHANNELS]
        if unknown or not self.channels:
            raise ConfigError(
                f"PreprocessConfig.channels={self.channels!r}: unknown or empty; "
                f"choose one or more of {list(CHANNELS)}."
            )
        if len(set(self.channels)) != len(self.channels):
            raise ConfigError(f"PreprocessConfig.channels={self.channels!r} repeats a channel.")
        if self.connectivity not in (1, 2):
            raise ConfigError(
                f"PreprocessConfig.connectivity={self.connectivity!r}; use 1 (4-connected) "
                "or 2 (8-connected)."
            )
        if not 0.0 <= self.epsilon < 1.0:
            raise ConfigError(f"PreprocessConfig.epsilon={self.epsilon!r}; expected 0 <= eps < 1.")
        if self.min_island_pixels < 1 or self.ir_min_island_pixels < 1:
            raise ConfigError("PreprocessConfig minimum island sizes must be >= 1 pixel.")
        if self.noise not in NOISE_MODELS:
            raise ConfigError(
                f"PreprocessConfig.noise={self.noise!r}; choose one of {list(NOISE_MODELS)}."
            )
        if self.background_box < 8:
            raise ConfigError(
                f"PreprocessConfig.background_box={self.background_box!r}; expected >= 8 pixels "
                "(several beams)."
            )
        if self.background_filter < 1 or self.background_filter % 2 == 0:
            raise ConfigError(
                f"PreprocessConfig.background_filter={self.background_filter!r}; expected an "
                "odd number of boxes >= 1."
            )
        if not self.display_sigma >= 0 or self.display_levels < 1:
            raise ConfigError(
                f"PreprocessConfig display_sigma={self.display_sigma!r}, display_levels="
                f"{self.display_levels!r}; expected a clip level >= 0 and >= 1 grey level."
            )

    @property
    def num_channels(self) -> int:
        """Number of network input channels."""
        return len(self.channels)

    @property
    def noise_convention(self) -> str | None:
        """The pixel convention a model trained on these inputs expects, for its card's
        geometry (``ModelGeometry.noise``); ``None`` for the paper's Jy/beam islands."""
        if "radio_display" not in self.channels:
            return None
        return (
            f"display: 0 below {self.display_sigma:g} sigma, linear to {self.display_levels} "
            "levels above (the FIRST PNG convention; from Jy/beam by preprocess.display_scale)"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for weights cards and COCO ``info``)."""
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PreprocessConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        known = {f.name for f in fields(cls)}
        extra = set(d) - known
        if extra:
            raise ConfigError(
                f"unknown preprocessing parameters {sorted(extra)}; known: {sorted(known)}. "
                "Was the weights card written by a newer napari-radiogal?"
            )
        kwargs = dict(d)
        if "channels" in kwargs:
            kwargs["channels"] = tuple(kwargs["channels"])
        return cls(**kwargs)


@dataclass(frozen=True)
class Preprocessed:
    """The network input of one image and what was measured on the way.

    Attributes
    ----------
    channels : ndarray of float32, shape (C, H, W)
        Network input in ``config.channels`` order.
    noise_sigma : float
        Clipped radio noise in Jy/beam (NaN when the radio has no finite pixel); with
        ``noise="local"`` the median of :attr:`radio_noise_map`.
    radio_threshold, ir_threshold : float
        Island thresholds actually used (radio in Jy/beam, the display clip level with a
        ``"radio_display"`` channel; IR in its file's units; NaN when there was no IR).
    radio_islands, ir_islands : ndarray of int32, shape (H, W)
        Island labels 1..n, 0 outside islands.
    radio_blank, ir_blank : ndarray of bool, shape (H, W)
        Where the input was NaN (blanked, or outside the IR footprint).
    has_ir : bool
        Whether an infrared image was given.
    config : PreprocessConfig
    radio_background, radio_noise_map : ndarray of float32, shape (H, W), or None
        With ``noise="local"``: the background level subtracted before the islands were
        found and the noise map they were thresholded on (Jy/beam); None with "global".
    """

    channels: np.ndarray
    noise_sigma: float
    radio_threshold: float
    ir_threshold: float
    radio_islands: np.ndarray
    ir_islands: np.ndarray
    radio_blank: np.ndarray
    ir_blank: np.ndarray
    has_ir: bool
    config: PreprocessConfig
    radio_background: np.ndarray | None = None
    radio_noise_map: np.ndarray | None = None

    def channel(self, name: str) -> np.ndarray:
        """One channel ``(H, W)`` by name (``KeyError`` if the config did not ask for it)."""
        return self.channels[self.config.channels.index(name)]


def scale_islands(
    image: np.ndarray, islands: np.ndarray, threshold: float, *, epsilon: float = 1.0 / 65535.0
) -> np.ndarray:
    """Log then min-max scale the island pixels of an image to ``[epsilon, 1]``; 0 elsewhere.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Pixel values (any unit). NaN pixels must lie outside ``islands``.
    islands : ndarray of int, shape (H, W)
        Island labels; pixels with label 0 become 0.
    threshold : float
        The island threshold (only used when an island pixel is not positive, see Notes).
    epsilon : float
        Value given to the faintest island pixel.

    Returns
    -------
    ndarray of float32, shape (H, W)
        Faintest island pixel = ``epsilon``, brightest = 1; all islands share one scale.

    Notes
    -----
    When some island pixel is <= 0 (a sky-subtracted IR image whose median is negative),
    the log is taken of ``image - threshold + MAD`` instead, which is positive on every island
    pixel and keeps the pixels' order. When all island pixels are equal they all become 1.

    Examples
    --------
    >>> img = np.array([[0.0, 10.0, 100.0], [0.0, 0.0, 1000.0]])
    >>> scale_islands(img, (img > 1).astype(int), 1.0, epsilon=0.0).round(3).tolist()
    [[0.0, 0.0, 0.5], [0.0, 0.0, 1.0]]
    """
    out = np.zeros(image.shape, dtype=np.float32)
    inside = islands > 0
    if not inside.any():
        return out
    values = np.asarray(image, dtype=np.float64)[inside]
    if values.min() <= 0:
        shift = stats.mad(image[np.isfinite(image)]) or 1.0
        log.debug(
            "island pixels <= 0 (threshold %.4g): log of value - threshold + %.4g", threshold, shift
        )
        values = values - threshold + shift
        values = np.maximum(values, np.finfo(np.float64).tiny)
    logs = np.log(values)
    lo, hi = logs.min(), logs.max()
    if hi > lo:
        scaled = epsilon + (1.0 - epsilon) * (logs - lo) / (hi - lo)
    else:
        scaled = np.ones_like(logs)
    out[inside] = scaled.astype(np.float32)
    return out


def _as_image(array: np.ndarray | None, name: str, shape: tuple[int, ...] | None = None):
    if array is None:
        return None
    a = np.asarray(array)
    if a.ndim != 2:
        squeezed = np.squeeze(a)
        if squeezed.ndim != 2:
            raise InputImageError(
                f"the {name} image must be 2-D (rows, cols); got shape {a.shape}. "
                "Read FITS files with napari_radiogal.io.fits, which drops degenerate axes."
            )
        a = squeezed
    if not np.issubdtype(a.dtype, np.number):
        raise InputImageError(f"the {name} image must be numeric; got dtype {a.dtype}.")
    if shape is not None and a.shape != shape:
        raise InputImageError(
            f"the {name} image has shape {a.shape} but the radio image has {shape}; "
            "reproject it onto the radio grid first (napari_radiogal.io.align.reproject_to_grid)."
        )
    return a.astype(np.float64, copy=False)


def preprocess(
    radio: np.ndarray, ir: np.ndarray | None = None, config: PreprocessConfig | None = None
) -> Preprocessed:
    """The paper's pre-processing: network channels from a radio and an infrared image.

    Parameters
    ----------
    radio : ndarray, shape (H, W)
        Radio surface brightness in Jy/beam, ``(row, col)``; NaN = blanked.
    ir : ndarray, shape (H, W), optional
        Infrared image already on the radio grid (``io.align.reproject_to_grid``); NaN
        outside its footprint. ``None`` gives an all-zero infrared channel.
    config : PreprocessConfig, optional
        Parameters; the defaults are the paper's.

    Returns
    -------
    Preprocessed
        ``channels`` float32 ``(C, H, W)`` in ``config.channels`` order, plus the noise,
        thresholds, islands and blank footprints.

    Raises
    ------
    InputImageError
        If an image is not 2-D, the shapes differ, or the radio has no finite pixel.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> radio = rng.normal(0, 30e-6, (64, 64))
    >>> radio[30:34, 30:34] += 1e-3                      # a 16-pixel source
    >>> out = preprocess(radio)
    >>> out.channels.shape, float(out.channels[0].max())
    ((2, 64, 64), 1.0)
    >>> bool((out.channel("radio")[30:34, 30:34] > 0).all())
    True
    """
    config = PreprocessConfig() if config is None else config
    radio_arr = _as_image(radio, "radio")
    ir_arr = _as_image(ir, "infrared", radio_arr.shape)
    radio_blank = ~np.isfinite(radio_arr)
    if radio_blank.all():
        raise InputImageError(
            f"the radio image ({radio_arr.shape[0]}x{radio_arr.shape[1]}) has no finite pixel; "
            "expected at least part of it unblanked."
        )

    raw = radio_arr  # the display channel clips the image as given, like the PNGs
    sigma = stats.clipped_noise(radio_arr, rounds=config.clip_rounds, clip=config.clip_mads)
    background = noise_map = None
    if config.noise == "local":
        background, noise_map = local_noise(radio_arr, config, global_sigma=sigma)
        radio_arr = radio_arr - background
        sigma = float(np.nanmedian(noise_map))
        snr = radio_arr / noise_map
        radio_islands = stats.islands(
            snr,
            config.island_sigma,
            min_pixels=config.min_island_pixels,
            connectivity=config.connectivity,
        )
    else:
        radio_islands = stats.islands(
            radio_arr,
            config.island_sigma * sigma,
            min_pixels=config.min_island_pixels,
            connectivity=config.connectivity,
        )
    radio_threshold = config.island_sigma * sigma
    display = None
    if "radio_display" in config.channels:
        radio_threshold = config.display_sigma * display_noise(raw)
        display, radio_islands = display_scale(raw, radio_threshold, config)
    radio_scaled = scale_islands(radio_arr, radio_islands, radio_threshold, epsilon=config.epsilon)

    if ir_arr is None or not np.isfinite(ir_arr).any():
        ir_blank = np.ones(radio_arr.shape, bool)  # no infrared data anywhere
        ir_thr = float("nan")
        ir_islands = np.zeros(radio_arr.shape, np.int32)
        ir_scaled = np.zeros(radio_arr.shape, np.float32)
    else:
        ir_blank = ~np.isfinite(ir_arr)
        ir_thr = stats.ir_threshold(ir_arr, n_mad=config.ir_mads)
        ir_islands = stats.islands(
            ir_arr,
            ir_thr,
            min_pixels=config.ir_min_island_pixels,
            connectivity=config.connectivity,
        )
        ir_scaled = scale_islands(ir_arr, ir_islands, ir_thr, epsilon=config.epsilon)

    channels = assemble_channels(
        radio_scaled,
        ir_scaled,
        config,
        radio_islands=radio_islands,
        ir_islands=ir_islands,
        radio_display=display,
    )
    return Preprocessed(
        channels=channels,
        noise_sigma=float(sigma),
        radio_threshold=float(radio_threshold),
        ir_threshold=float(ir_thr),
        radio_islands=radio_islands,
        ir_islands=ir_islands,
        radio_blank=radio_blank,
        ir_blank=ir_blank,
        has_ir=ir is not None,
        config=config,
        radio_background=background,
        radio_noise_map=noise_map,
    )


def display_noise(radio: np.ndarray, *, rounds: int = 5, clip: float = 3.0) -> float:
    """Gaussian-equivalent noise of a radio image: 1.4826 x MAD, sigma-clipped (NaN ignored).

    Each round drops the pixels more than ``clip`` sigma from the median and measures
    sigma = 1.4826 x MAD of the rest again, so a source covering a tenth of the cut-out
    does not inflate it (for Gaussian noise the clipped estimate reads 0.997 sigma).

    Parameters
    ----------
    radio : ndarray, shape (H, W)
        Jy/beam, ``(row, col)``.
    rounds : int
        Clipping rounds (it stops early when nothing more is clipped).
    clip : float
        Clipping half-width in units of the current sigma.

    Returns
    -------
    float
        sigma in the image's unit; 0 for a display image (more than half of it exactly 0).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(display_noise(rng.normal(0, 2.0, (256, 256))), 1)
    2.0
    """
    values = np.asarray(radio, dtype=np.float64)
    values = values[np.isfinite(values)]
    sigma = 1.4826 * stats.mad(values)
    for _ in range(rounds):
        kept = values[np.abs(values - np.median(values)) <= clip * sigma]
        if kept.size == values.size:
            break
        values = kept
        sigma = 1.4826 * stats.mad(values)
    return float(sigma)


def display_scale(
    radio: np.ndarray, threshold: float, config: PreprocessConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``"radio_display"`` channel: clip, linear scale to 8 bits, islands.

    Parameters
    ----------
    radio : ndarray, shape (H, W)
        Jy/beam (or display values), ``(row, col)``; NaN never belongs to an island.
    threshold : float
        Clip level ``t`` in the image's unit (``display_sigma`` x :func:`display_noise`).
    config : PreprocessConfig, optional
        ``display_levels``, ``min_island_pixels`` and ``connectivity``.

    Returns
    -------
    channel : ndarray of float32, shape (H, W)
        ``floor(L (I - t) / (max - t)) / L`` (``L = display_levels``) inside the islands,
        0 elsewhere; the brightest pixel is 1.
    islands : ndarray of int32, shape (H, W)
        Labels 1..n of the connected regions of non-zero levels with at least
        ``min_island_pixels`` pixels.

    Examples
    --------
    >>> png = np.zeros((8, 8)); png[2:5, 2:5] = [[1, 2, 1], [2, 255, 2], [1, 2, 1]]
    >>> channel, islands = display_scale(png, 0.0)
    >>> bool(np.array_equal(channel * 255, png)), int(islands.max())
    (True, 1)
    """
    config = PreprocessConfig() if config is None else config
    image = np.asarray(radio, dtype=np.float64)
    above = np.zeros(image.shape, dtype=bool)
    np.greater(image, threshold, out=above, where=np.isfinite(image))
    levels = np.zeros(image.shape, dtype=np.float64)
    if above.any():
        peak = image[above].max()
        # the ratio first: it is exactly 1 at the peak (so the peak is always L, as in every
        # PNG) and (v / 255) * 255 == v for every 8-bit v (so display values come back)
        levels[above] = np.floor(
            config.display_levels * ((image[above] - threshold) / (peak - threshold))
        )
    islands = stats.islands(
        levels, 0.0, min_pixels=config.min_island_pixels, connectivity=config.connectivity
    )
    channel = np.where(islands > 0, levels / config.display_levels, 0.0).astype(np.float32)
    return channel, islands


def local_noise(
    radio: np.ndarray, config: PreprocessConfig, *, global_sigma: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Background and noise maps of a radio image, on the paper's sigma scale.

    1. Sources are masked: the paper's global islands (``island_sigma`` x the global clipped
       sigma), grown by ``background_box // 16`` pixels so their faint wings stay out too.
    2. :func:`napari_radiogal.stats.local_background` measures the background level and
       noise in ``background_box`` boxes around them.
    3. The paper's estimator (:func:`napari_radiogal.stats.clipped_noise`) is run on the
       whitened image ``(radio - background) / noise`` and multiplies the noise map, so that
       for stationary Gaussian noise the map equals the paper's sigma (which reads about
       0.87 of the true sigma) and its 3-sigma islands are the paper's islands.

    Parameters
    ----------
    radio : ndarray, shape (H, W)
        Radio surface brightness in Jy/beam, ``(row, col)``; NaN = blanked.
    config : PreprocessConfig
        ``island_sigma``, ``min_island_pixels``, clipping and the background mesh.
    global_sigma : float, optional
        The global clipped sigma if already computed.

    Returns
    -------
    background, noise : ndarray of float32, shape (H, W)
        In Jy/beam. The noise map is strictly positive where the image is finite.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> radio = rng.normal(0, 30e-6, (210, 210))
    >>> bkg, noise = local_noise(radio, PreprocessConfig(noise="local"))
    >>> global_sigma = stats.clipped_noise(radio)
    >>> bool(abs(np.median(noise) / global_sigma - 1) < 0.05)
    True
    """
    from scipy import ndimage

    if global_sigma is None:
        global_sigma = stats.clipped_noise(radio, rounds=config.clip_rounds, clip=config.clip_mads)
    sources = stats.islands(
        radio,
        config.island_sigma * global_sigma,
        min_pixels=config.min_island_pixels,
        connectivity=config.connectivity,
    )
    grow = max(1, config.background_box // 16)
    sources = ndimage.binary_dilation(sources > 0, iterations=grow)
    background, noise = stats.local_background(
        radio, box=config.background_box, filter_size=config.background_filter, mask=sources
    )
    floor = np.float32(max(global_sigma, np.finfo(np.float32).tiny) * 1e-3)
    noise = np.maximum(noise, floor)
    whitened = (radio - background) / noise
    scale = stats.clipped_noise(whitened, rounds=config.clip_rounds, clip=config.clip_mads)
    if not np.isfinite(scale) or scale <= 0:
        scale = 1.0
    return background, (noise * np.float32(scale)).astype(np.float32)


def assemble_channels(
    radio_scaled: np.ndarray,
    ir_scaled: np.ndarray | None,
    config: PreprocessConfig | None = None,
    *,
    radio_islands: np.ndarray | None = None,
    ir_islands: np.ndarray | None = None,
    radio_display: np.ndarray | None = None,
) -> np.ndarray:
    """Stack already-scaled radio / infrared images into the network channels.

    Used by :func:`preprocess` and for data that come pre-processed (the RadioGalaxyNET
    PNGs, whose channels are already the scaled images of section 3.1).

    Parameters
    ----------
    radio_scaled, ir_scaled : ndarray, shape (H, W)
        Scaled images in [0, 1] (0 outside islands). ``ir_scaled=None`` means zeros.
    config : PreprocessConfig, optional
        Which channels, in which order.
    radio_islands, ir_islands : ndarray, shape (H, W), optional
        Island labels; when omitted, islands are where the scaled image is > 0.
    radio_display : ndarray, shape (H, W), optional
        The display channel (:func:`display_scale`); needed when the config asks for it.

    Returns
    -------
    ndarray of float32, shape (C, H, W)
    """
    config = PreprocessConfig() if config is None else config
    radio_scaled = np.asarray(radio_scaled, dtype=np.float32)
    ir_scaled = (
        np.zeros_like(radio_scaled)
        if ir_scaled is None
        else np.asarray(ir_scaled, dtype=np.float32)
    )
    if ir_scaled.shape != radio_scaled.shape:
        raise InputImageError(
            f"scaled infrared shape {ir_scaled.shape} differs from radio {radio_scaled.shape}."
        )
    radio_in = radio_scaled > 0 if radio_islands is None else radio_islands > 0
    ir_in = ir_scaled > 0 if ir_islands is None else ir_islands > 0
    available = {
        "radio": lambda: radio_scaled,
        "ir": lambda: ir_scaled,
        "radio_mask": lambda: radio_in.astype(np.float32),
        "ir_mask": lambda: ir_in.astype(np.float32),
        "radio_display": lambda: np.asarray(radio_display, dtype=np.float32),
    }
    if "radio_display" in config.channels and radio_display is None:
        raise ConfigError(
            "the config asks for the 'radio_display' channel but no display image was given; "
            "pre-process the radio image with preprocess() (or pass radio_display=)."
        )
    return np.stack([available[name]() for name in config.channels]).astype(np.float32)
