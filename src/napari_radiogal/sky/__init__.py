"""The synthetic EMU + WISE sky: radio / W1 cut-out pairs with ground truth.

No labelled EMU data and no trained weights can be downloaded, so this simulator is the
project's demo data, napari sample data, training set of the default model and benchmark.
It therefore carries the difficulties of real data (disjoint FR-II lobes, bent tails, faint
diffuse emission, unrelated compact sources on top of extended ones, a second extended
source, sources at the edge, brighter unrelated IR galaxies, faint hosts, artefacts), each
with a knob in :class:`SkyConfig`; labels are *measured* on the noisy image with the paper's
rules, not copied from the generator's intent.

NumPy / SciPy / astropy only. Typical use::

    import numpy as np
    from napari_radiogal.sky import SkyConfig, simulate_cutout, write_dataset

    cut = simulate_cutout(np.random.default_rng(0), SkyConfig())
    cut.radio.data, cut.infrared.data, cut.truth[0].mask, cut.truth[0].category

    write_dataset("sky/", n=1000, seed=1)       # radio/*.fits, ir/*.fits, annotations/*.json

    wide = SkyConfig.wide()   # many pixel scales, beams, shapes, noise and IR conventions
    write_dataset("wide/", n=1000, seed=1, config=wide)

The default sky is one survey (EMU-PS); a model trained on it learns that simulator.
:meth:`SkyConfig.wide` spreads geometry (2.5-8 pixels per beam), shapes (shape families of
:mod:`napari_radiogal.sky.morphology`), noise, artefacts and infrared conventions over what
real skies do; its new knobs all default to the EMU-PS sky, which stays bit for bit the same.
"""

from napari_radiogal.sky.config import (
    CLASS_MIX_PRESETS,
    LOBE_FAMILIES,
    SKY_PRESETS,
    SkyConfig,
    families_from_string,
    mix_from_string,
)
from napari_radiogal.sky.cutout import (
    DEMO_CONFIG,
    DEMO_SEED,
    SimulatedCutout,
    TruthSource,
    cutout_config,
    demo_cutout,
    relabel,
    simulate_cutout,
)
from napari_radiogal.sky.dataset import (
    SPLIT_NAMES,
    split_sizes,
    summarise,
    write_cutout_fits,
    write_dataset,
)
from napari_radiogal.sky.labels import Morphology, classify_ratio, measure_morphology

__all__ = [
    "SkyConfig",
    "CLASS_MIX_PRESETS",
    "SKY_PRESETS",
    "LOBE_FAMILIES",
    "mix_from_string",
    "families_from_string",
    "SimulatedCutout",
    "TruthSource",
    "simulate_cutout",
    "cutout_config",
    "relabel",
    "demo_cutout",
    "DEMO_SEED",
    "DEMO_CONFIG",
    "write_cutout_fits",
    "write_dataset",
    "split_sizes",
    "summarise",
    "SPLIT_NAMES",
    "Morphology",
    "measure_morphology",
    "classify_ratio",
]
