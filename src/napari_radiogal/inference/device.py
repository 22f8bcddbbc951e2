"""Choosing the torch device: CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from napari_radiogal.errors import ConfigError

__all__ = ["resolve_device", "available_devices", "torch_threads"]

log = logging.getLogger(__name__)


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    """Device names usable here, best first; ``"cpu"`` is always last.

    Examples
    --------
    >>> available_devices()[-1]
    'cpu'
    """
    import torch

    names = []
    if torch.cuda.is_available():
        names.append("cuda")
    if _mps_available():
        names.append("mps")
    names.append("cpu")
    return names


def resolve_device(name: str = "auto"):
    """The :class:`torch.device` for a name; ``"auto"`` picks CUDA, then MPS, then CPU.

    Parameters
    ----------
    name : {"auto", "cpu", "cuda", "mps"} or str
        ``"cuda:1"`` style indices are accepted.

    Returns
    -------
    torch.device

    Raises
    ------
    ConfigError
        When the named device is not available here (the message lists those that are).
    """
    import torch

    if isinstance(name, torch.device):
        name = str(name)
    name = str(name).strip().lower()
    available = available_devices()
    if name == "auto":
        device = torch.device(available[0])
        log.info("inference device: %s (auto; available: %s)", device, ", ".join(available))
        return device
    kind = name.split(":", 1)[0]
    if kind not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unknown device {name!r}; use one of auto, cpu, cuda, mps.")
    if kind not in available:
        raise ConfigError(
            f"device {name!r} is not available on this machine; available: "
            f"{', '.join(available)}. Use --device auto (or cpu)."
        )
    device = torch.device(name)
    log.info("inference device: %s", device)
    return device


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op CPU threads (``None`` = leave them alone).

    Parameters
    ----------
    n : int, optional
        Threads inside the ``with`` block; the previous number is restored on exit.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    import torch

    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
