"""The inference settings: one frozen dataclass, the single source of defaults.

The ``radiogal predict`` command maps its options onto :class:`InferenceConfig` and the napari
widget builds its form from :func:`config_fields` (help text, ranges and choices live in each
field's ``metadata``), so the command line and the GUI cannot drift apart. Every number that
differs from the authors' code (ALGORITHM.md section 8) says so in its help text.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from napari_radiogal.errors import ConfigError

__all__ = [
    "InferenceConfig",
    "config_fields",
    "DEVICE_CHOICES",
    "BACKGROUND_MODES",
    "HOST_REGIONS",
    "MASK_SUPPORTS",
    "RADIO_HOSTS",
]

#: Values accepted by :attr:`InferenceConfig.device`.
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
#: Values accepted by :attr:`InferenceConfig.background_mode`.
BACKGROUND_MODES = ("relative", "fixed")
#: Values accepted by :attr:`InferenceConfig.host_region`.
HOST_REGIONS = ("mask", "hull", "core")
#: Values accepted by :attr:`InferenceConfig.unclaimed_islands`.
UNCLAIMED_ISLANDS = ("ignore", "instance", "resolved")
#: Values accepted by :attr:`InferenceConfig.mask_support`.
MASK_SUPPORTS = ("walk", "island_pixels", "whole_islands")
#: Values accepted by :attr:`InferenceConfig.radio_host`.
RADIO_HOSTS = ("core", "centroid", "displacement")


def _meta(help: str, **kw: Any) -> dict[str, Any]:
    return {"help": help, **kw}


@dataclass(frozen=True)
class InferenceConfig:
    """Settings of :func:`~napari_radiogal.inference.segment` (defaults = the recommended run).

    Each field carries ``metadata`` with ``help`` and, where it applies, ``min``, ``max``,
    ``choices`` and ``group``; see :func:`config_fields`. Build variants with
    :meth:`replace`; invalid values raise :class:`~napari_radiogal.errors.ConfigError`.

    Examples
    --------
    >>> cfg = InferenceConfig()
    >>> cfg.scales
    (1.0,)
    >>> cfg.replace(flip=True).flip
    True
    """

    scales: tuple[float, ...] = field(
        default=(1.0,),
        metadata=_meta(
            "Input scales whose class activation maps (CAMs) are summed; 1.0 must be "
            "included (it also feeds the boundary and displacement heads). Match the scales "
            "the model was trained at: the bundled model saw 0.9-1.1 and is best at 1.0 "
            "alone (benchmarks/ablation.py); the authors' (1.0, 0.5, 1.5, 2.0) suits models "
            "trained with the paper's 0.5-1.5 rescaling.",
            min=0.25,
            max=4.0,
            group="CAM",
        ),
    )
    resample: bool = field(
        default=True,
        metadata=_meta(
            "Bring the image to the model's pixels per beam (the sampling it was trained "
            "on, recorded in its weights card) before segmenting, and map masks, hosts and "
            "the catalogue back onto the image's own grid. Needs the beam (the header, "
            "--beam, a survey preset, or measured from the noise). Bare arrays without a "
            "header are always segmented on their own pixels.",
            group="geometry",
        ),
    )
    pixels_per_beam_range: tuple[float, ...] = field(
        default=(),
        metadata=_meta(
            "With resample: the sampling range, LOW,HIGH pixels per beam, an image is left "
            "at; one outside it is resampled to the nearer end. Empty: the model card's "
            "recommendation, else the range of its training data. The bundled default "
            "trained on 2.6-7.7 px per beam but is better near the edges when brought to "
            "3.5-7 (validation copies of benchmarks/shift.py: class-agnostic mask AP50 "
            "79.5 -> 87.6 at 2.2 px per beam, 46.8 -> 58.2 at 9).",
            min=0.5,
            max=100.0,
            group="geometry",
            metavar="LOW,HIGH",
        ),
    )
    beam: tuple[float, ...] = field(
        default=(),
        metadata=_meta(
            "The radio image's restoring beam, MAJOR[,MINOR[,PA]] in arcsec, arcsec and "
            "degrees, when its header lacks BMAJ/BMIN or has them wrong. Empty: from the "
            "header, else a survey preset, else measured from the noise (with a warning).",
            group="geometry",
            metavar="MAJOR[,MINOR,PA]",
        ),
    )
    window_overlap: int = field(
        default=105,
        metadata=_meta(
            "Images larger than the model's cut-out are segmented in overlapping windows of "
            "its size; neighbours overlap by at least this many pixels (on the model's "
            "grid). A source larger than the overlap may be cut in every window and is then "
            "joined from its parts.",
            min=0,
            max=4096,
            group="geometry",
        ),
    )
    max_megapixels: float = field(
        default=64.0,
        metadata=_meta(
            "Size cap of resampling: an image that would exceed this many megapixels after "
            "resampling is refused before any work, with the numbers (cut out the region "
            "of interest, or raise it). Images that need no resampling are bounded by "
            "memory_budget_gb alone.",
            min=0.01,
            max=10_000.0,
            group="geometry",
        ),
    )
    memory_budget_gb: float = field(
        default=4.0,
        metadata=_meta(
            "Memory budget of one run, in GB (10**9 bytes): before any pixel is touched, "
            "the memory an image needs is estimated (large images run window by window, "
            "so it grows with the pixels of the image, not with the model), and an image "
            "that would not fit is refused with the numbers. Raise it on a larger machine "
            "(radiogal predict --memory-budget-gb 16), or cut out the region of interest.",
            min=0.1,
            max=100_000.0,
            group="run",
        ),
    )
    flip: bool = field(
        default=False,
        metadata=_meta(
            "Add the left-right mirrored image at every scale (test-time augmentation, as "
            "the authors). Off by default: with the bundled model it costs twice the network "
            "time and did not help on the validation split (benchmarks/ablation.py).",
            group="CAM",
        ),
    )
    device: str = field(
        default="auto",
        metadata=_meta(
            "Where the network runs: auto picks CUDA, then Apple MPS, then CPU.",
            choices=DEVICE_CHOICES,
            group="run",
        ),
    )
    batch_size: int = field(
        default=8,
        metadata=_meta(
            "Cut-outs per network pass at scale 1 (fewer at larger scales, so the "
            "memory per pass stays bounded).",
            min=1,
            max=1024,
            group="run",
        ),
    )
    class_threshold: float = field(
        default=0.5,
        metadata=_meta(
            "A class is segmented when its classifier probability (the CAM classifier's "
            "sigmoid, or the image classifier's softmax) reaches this value.",
            min=0.0,
            max=1.0,
            group="classes",
        ),
    )
    always_top_class: bool = field(
        default=True,
        metadata=_meta(
            "When no class reaches class_threshold, still segment the most probable "
            "one; its low probability shows in the scores.",
            group="classes",
        ),
    )
    oracle_classes: bool = field(
        default=False,
        metadata=_meta(
            "Use the classes given with the image instead of predicting them. Only "
            "for comparing with the paper, whose code does this on its test set.",
            group="classes",
        ),
    )
    radio_weighting: bool = field(
        default=True,
        metadata=_meta(
            "Multiply the instance CAMs by the pre-processed radio channel before "
            "the random walk (the authors' code does; the paper does not say).",
            group="instances",
        ),
    )
    displacement_threshold: float = field(
        default=2.5,
        metadata=_meta(
            "Cells whose displacement is shorter than this (in stride-4 cells) form "
            "the instance centres.",
            min=0.0,
            max=50.0,
            group="instances",
        ),
    )
    centroid_iterations: int = field(
        default=300,
        metadata=_meta(
            "Maximum steps of centroid refinement along the displacement field "
            "(stops earlier once no centroid moves).",
            min=0,
            max=10_000,
            group="instances",
        ),
    )
    beta: float = field(
        default=10.0,
        metadata=_meta(
            "Exponent applied to the affinities before the random walk.",
            min=0.1,
            max=100.0,
            group="random walk",
        ),
    )
    random_walk_steps: int = field(
        default=256,
        metadata=_meta(
            "Random-walk steps, i.e. the power of the transition matrix (the authors' 2**8).",
            min=0,
            max=10_000,
            group="random walk",
        ),
    )
    random_walk_radius: int = field(
        default=5,
        metadata=_meta(
            "Neighbourhood radius of the affinities, in stride-4 cells.",
            min=1,
            max=20,
            group="random walk",
        ),
    )
    background_threshold: float = field(
        default=0.25,
        metadata=_meta(
            "Background score in the per-pixel argmax. 'relative': a fraction of the "
            "image's highest score map (upstream IRNet's 0.25); 'fixed': an absolute "
            "value of class probability x propagated CAM. Replaces the authors' "
            "5 x std of one instance CAM.",
            min=0.0,
            max=1.0,
            group="instances",
        ),
    )
    background_mode: str = field(
        default="relative",
        metadata=_meta(
            "How background_threshold is read.", choices=BACKGROUND_MODES, group="instances"
        ),
    )
    mask_support: str = field(
        default="whole_islands",
        metadata=_meta(
            "Which pixels a mask may hold. 'walk': whatever the random walk gives (the "
            "authors' code; it spreads over empty sky wherever the boundary map is weak); "
            "'island_pixels': only pixels inside the radio islands of the pre-processing "
            "(above island_sigma x noise, the paper's definition of emission and of the "
            "annotated masks); 'whole_islands': in addition, an island the walk gives mostly "
            "(island_vote_fraction) to one instance joins that instance whole.",
            choices=MASK_SUPPORTS,
            group="instances",
        ),
    )
    island_vote_fraction: float = field(
        default=0.5,
        metadata=_meta(
            "With mask_support='whole_islands': the share of an island's pixels one "
            "instance must hold to take the whole island; islands below it keep the "
            "walk's pixels.",
            min=0.0,
            max=1.0,
            group="instances",
        ),
    )
    min_fragment_fraction: float = field(
        default=0.02,
        metadata=_meta(
            "Connected parts of one instance's mask smaller than this fraction of "
            "the instance's area are removed (specks); larger parts, e.g. the two "
            "lobes of an FR-II, stay one instance.",
            min=0.0,
            max=1.0,
            group="instances",
        ),
    )
    min_instance_pixels: int = field(
        default=10,
        metadata=_meta(
            "Instances with fewer mask pixels are dropped.", min=0, max=1_000_000, group="instances"
        ),
    )
    score_threshold: float = field(
        default=0.0,
        metadata=_meta(
            "Instances scoring below this are dropped (0 keeps all, as evaluation needs).",
            min=0.0,
            max=1.0,
            group="instances",
        ),
    )
    unclaimed_islands: str = field(
        default="ignore",
        metadata=_meta(
            "A radio island that no instance covers: 'ignore' (the paper: emission of no "
            "source of these classes); 'instance' (its own instance, of the class whose "
            "CAM x probability is highest on it); 'resolved' (the same, but only islands "
            "larger than a point source of their peak S/N, the baseline's test: a faint "
            "extended source the class maps missed, not a compact one). Island instances "
            "score that CAM x probability times unclaimed_score_factor, so that in a "
            "catalogue they rank after the instances the class maps found. 'instance' is "
            "for models with a class for every kind of source, e.g. FIRST's Compact.",
            choices=UNCLAIMED_ISLANDS,
            group="instances",
        ),
    )
    unclaimed_score_factor: float = field(
        default=1e-3,
        metadata=_meta(
            "Score of an unclaimed-island instance = its class's CAM x probability times "
            "this (see unclaimed_islands). The class maps' instances score ~0.003-0.5, so "
            "1e-3 ranks islands after them across a whole data set, which is what AP and a "
            "catalogue cut on score need; filter islands out with a score threshold.",
            min=0.0,
            max=1.0,
            group="instances",
        ),
    )
    host_head: bool = field(
        default=True,
        metadata=_meta(
            "When the model has a host head (trained on annotated hosts: a model "
            "fine-tuned on corrections), its map picks each host, in the hull of the "
            "mask widened by 3 stride-4 cells; host_region and radio_host then apply only "
            "to models without one. A model that reads an infrared channel uses its head "
            "only when an infrared image is given. Off: the rules below.",
            group="hosts",
        ),
    )
    host_region: str = field(
        default="core",
        metadata=_meta(
            "Where the host is searched: 'mask' = inside the instance's mask (the "
            "paper's rule); 'hull' = for masks of several parts, inside their "
            "convex hull, which also covers the gap between detached FR-II lobes "
            "where the host galaxy usually sits; 'core' = the hull plus a disc around "
            "the radio core, with the CAM x IR weighted by a Gaussian prior of "
            "host_prior_beams beams around the core (0.5 beam around a core that is a "
            "radio peak): the infrared galaxy nearest the core, as an astronomer picks it, "
            "not a brighter one on a lobe or in a compact source the mask absorbed (val "
            "host AP50: narrow 68.0 against 67.6 for 'mask', wide 53.8 against 53.2; "
            "benchmarks/ablation.py).",
            choices=HOST_REGIONS,
            group="hosts",
        ),
    )
    radio_host: str = field(
        default="core",
        metadata=_meta(
            "The host when no infrared image is given. 'core': the radio core, i.e. the "
            "compact peak between the two brightest peaks of a double (else their "
            "midpoint), or the peak of a single-peaked source (benchmarks/radio_hosts.py); "
            "'centroid': the brightness-weighted centroid of the mask (the position source "
            "finders report; nearer the catalogue positions of real FIRST sources, the FIRST "
            "model's card); 'displacement': the instance centre the IRNet displacement field "
            "converges to.",
            choices=RADIO_HOSTS,
            group="hosts",
        ),
    )
    host_prior_beams: float = field(
        default=2.0,
        metadata=_meta(
            "host_region='core' only: width (sigma) of the Gaussian prior around a radio "
            "core that is the midpoint of a double's lobes (no core peak), in beams.",
            group="hosts",
        ),
    )
    subpixel_host: bool = field(
        default=True,
        metadata=_meta(
            "Refine each host to sub-pixel precision (weighted centroid of the "
            "CAM x IR product in the 3 x 3 pixels around its peak).",
            group="hosts",
        ),
    )

    def __post_init__(self) -> None:
        # Accept lists (from JSON / YAML / argparse) but store a hashable tuple.
        object.__setattr__(self, "scales", tuple(float(s) for s in self.scales))
        object.__setattr__(self, "beam", tuple(float(b) for b in self.beam))
        span = tuple(float(v) for v in self.pixels_per_beam_range)
        object.__setattr__(self, "pixels_per_beam_range", span)
        if span and not (len(span) == 2 and span[0] <= span[1]):
            raise ConfigError(
                f"pixels_per_beam_range must be empty or LOW,HIGH with LOW <= HIGH; got "
                f"{span}. Use e.g. pixels_per_beam_range=(3.5, 7.0)."
            )
        if self.beam:
            from napari_radiogal.io.beam import beam_from_arcsec

            beam_from_arcsec(self.beam)  # ConfigError with the fix when malformed
        if not self.scales or 1.0 not in self.scales:
            raise ConfigError(
                f"scales must include 1.0 (it feeds the boundary and displacement heads); got "
                f"{self.scales}. Use e.g. scales=(1.0,) or (1.0, 0.5, 1.5, 2.0)."
            )
        if self.device not in DEVICE_CHOICES:
            raise ConfigError(f"device must be one of {DEVICE_CHOICES}; got {self.device!r}.")
        if not (math.isfinite(self.host_prior_beams) and self.host_prior_beams > 0):
            raise ConfigError(
                f"host_prior_beams must be a positive number of beams; got "
                f"{self.host_prior_beams!r}."
            )
        if self.host_region not in HOST_REGIONS:
            raise ConfigError(
                f"host_region must be one of {HOST_REGIONS}; got {self.host_region!r}."
            )
        if self.unclaimed_islands not in UNCLAIMED_ISLANDS:
            raise ConfigError(
                f"unclaimed_islands must be one of {UNCLAIMED_ISLANDS}; got "
                f"{self.unclaimed_islands!r}."
            )
        if self.mask_support not in MASK_SUPPORTS:
            raise ConfigError(
                f"mask_support must be one of {MASK_SUPPORTS}; got {self.mask_support!r}."
            )
        if self.radio_host not in RADIO_HOSTS:
            raise ConfigError(f"radio_host must be one of {RADIO_HOSTS}; got {self.radio_host!r}.")
        if self.background_mode not in BACKGROUND_MODES:
            raise ConfigError(
                f"background_mode must be one of {BACKGROUND_MODES}; got {self.background_mode!r}."
            )
        for f in dataclasses.fields(self):
            values = getattr(self, f.name)
            # NaN passes every range check below (its comparisons are all false)
            if any(isinstance(v, float) and math.isnan(v) for v in _items(values)):
                raise ConfigError(
                    f"InferenceConfig.{f.name} must not be NaN; got {values!r}. "
                    f"({f.metadata['help']})"
                )
            lo, hi = f.metadata.get("min"), f.metadata.get("max")
            if lo is None and hi is None:
                continue
            for v in _items(values):
                if (lo is not None and v < lo) or (hi is not None and v > hi):
                    raise ConfigError(
                        f"InferenceConfig.{f.name} must lie in [{lo}, {hi}]; got {values!r}. "
                        f"({f.metadata['help']})"
                    )

    def replace(self, **changes: Any) -> InferenceConfig:
        """A copy with some fields changed (validated; unknown names raise ConfigError)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(
                f"InferenceConfig has no field(s) {sorted(unknown)}; known: "
                f"{[f.name for f in dataclasses.fields(self)]}"
            )
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (for provenance in COCO ``info`` and catalogue metadata)."""
        d = dataclasses.asdict(self)
        d["scales"] = list(self.scales)
        d["beam"] = list(self.beam)
        d["pixels_per_beam_range"] = list(self.pixels_per_beam_range)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InferenceConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ConfigError."""
        return cls().replace(**dict(d))

    @classmethod
    def parse_float_list(cls, text: str, name: str = "scales") -> tuple[float, ...]:
        """The value of a tuple field typed as text: ``"1.0, 0.5"`` -> ``(1.0, 0.5)``.

        The one parser of the command line (``--scales 1,0.5``) and the napari form.

        Parameters
        ----------
        text : str
            Numbers separated by commas or semicolons; blanks around them are ignored.
        name : str
            The field (its default is the example of the error message).

        Returns
        -------
        tuple of float
            Not validated yet: pass it to the constructor or :meth:`replace`.

        Raises
        ------
        ConfigError
            An item is not a number.

        Examples
        --------
        >>> InferenceConfig.parse_float_list("1.0, 0.5;2")
        (1.0, 0.5, 2.0)
        """
        try:
            return tuple(float(v) for v in str(text).replace(";", ",").split(",") if v.strip())
        except ValueError:
            example = ", ".join(f"{v:g}" for v in getattr(cls(), name))
            raise ConfigError(
                f"{name} must be numbers separated by commas, e.g. '{example}'; got {text!r}"
            ) from None


def _items(value: Any) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def config_fields() -> list[dict[str, Any]]:
    """One dict per :class:`InferenceConfig` field, for building a form.

    Returns
    -------
    list of dict
        Keys ``name``, ``type`` (the annotation as a string), ``default``, ``help`` and, when
        they apply, ``min``, ``max``, ``choices``, ``group``.
    """
    out = []
    for f in dataclasses.fields(InferenceConfig):
        out.append({"name": f.name, "type": str(f.type), "default": f.default, **f.metadata})
    return out
