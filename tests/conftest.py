"""Shared fixtures and marker handling.

* ``needs_cuda`` tests skip themselves when no CUDA device is present.
* ``shared_data`` points at ``../shared/data/fits-real-format`` and skips cleanly when a
  user's clone has no ``../shared`` beside it.
* ``tiny_weights`` is a seeded, randomly initialised model saved as safetensors + card.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_FITS = Path(
    os.environ.get(
        "RADIOGAL_SHARED_FITS", REPO_ROOT.parent / "shared" / "data" / "fits-real-format"
    )
)


def pytest_collection_modifyitems(config, items):
    if not any(item.get_closest_marker("needs_cuda") for item in items):
        return
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if item.get_closest_marker("needs_cuda"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_fits_dir() -> Path:
    """Folder of real-format FITS files from ../shared (skips when absent)."""
    if not SHARED_FITS.is_dir():
        pytest.skip(f"real-format FITS files not found at {SHARED_FITS} (no ../shared here)")
    return SHARED_FITS


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A random ResNet-18 RadioGalaxyNet (seed 0) saved as ``tiny.safetensors`` + card.

    For mechanics only: its classes and masks mean nothing.
    """
    from napari_radiogal._napari._torch_guard import prepare_torch_import

    prepare_torch_import()  # GUI tests' viewers may have loaded Mesa's LLVM already
    import torch

    from napari_radiogal.classes import RADIOGALAXYNET
    from napari_radiogal.io.geometry import EMU_PILOT_GEOMETRY
    from napari_radiogal.models import ModelConfig, WeightsCard, build_model, save_weights

    torch.manual_seed(0)
    net = build_model(ModelConfig("resnet18", in_channels=2, num_classes=4), scheme=RADIOGALAXYNET)
    card = WeightsCard(
        name="tiny-random",
        architecture=net.config,
        classes=RADIOGALAXYNET,
        geometry=EMU_PILOT_GEOMETRY,
        training={"command": "pytest (random weights)"},
    )
    return save_weights(net, card, tmp_path_factory.mktemp("weights") / "tiny")


#: The package logger as the library leaves it (no handlers, records propagate to the root,
#: where caplog listens), taken before any test or fixture ran ``radiogal``.
_PACKAGE_LOGGER = logging.getLogger("napari_radiogal")
_PRISTINE_LOGGER = (
    list(_PACKAGE_LOGGER.handlers),
    _PACKAGE_LOGGER.level,
    _PACKAGE_LOGGER.propagate,
)


@pytest.fixture(autouse=True)
def _restore_package_logger():
    """``radiogal`` (cli.main) configures the package logger for the whole process, as an
    application should; put it back after each test so caplog sees records in later tests.

    Back to the state before any test ran, not to the state when this test began: a
    module-scoped fixture that ran ``radiogal`` before its module's first test would
    otherwise leave the CLI's configuration in place for every later module.
    """
    yield
    handlers, level, propagate = _PRISTINE_LOGGER
    _PACKAGE_LOGGER.handlers[:] = handlers
    _PACKAGE_LOGGER.setLevel(level)
    _PACKAGE_LOGGER.propagate = propagate
