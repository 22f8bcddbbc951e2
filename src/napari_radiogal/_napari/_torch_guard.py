"""Import torch safely inside napari: keep it from loading triton next to Mesa's LLVM.

On Linux with Mesa OpenGL (llvmpipe software rendering in VMs, remote desktops and Xvfb;
also radeonsi), napari's canvas loads Mesa's ``libLLVM``. torchvision's import makes torch
probe for triton (``torch.utils._triton.has_triton_package``), and triton's own bundled LLVM
then crashes the whole process with a segmentation fault (reproduced here with torch 2.14,
triton 3.8, Mesa libLLVM-15). Our inference never uses triton (no ``torch.compile``), so
when ``libLLVM`` is already mapped into the process we make ``import triton`` fail cleanly
(``sys.modules["triton"] = None``), which torch treats as "triton not installed". Where no
Mesa LLVM is loaded (e.g. NVIDIA drivers) nothing is changed.
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)

__all__ = ["prepare_torch_import", "mesa_llvm_loaded"]


def mesa_llvm_loaded() -> bool:
    """Whether a ``libLLVM`` shared library is mapped into this process (Linux only)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            return any("libLLVM" in line for line in fh)
    except OSError:  # not Linux
        return False


def prepare_torch_import() -> None:
    """Call before the first torch / torchvision import in a napari process."""
    if "triton" in sys.modules:
        return
    if mesa_llvm_loaded():
        sys.modules["triton"] = None  # type: ignore[assignment]
        log.info(
            "Mesa's libLLVM is loaded (OpenGL); torch will run without triton in this "
            "process to avoid a crash between the two LLVM copies"
        )
