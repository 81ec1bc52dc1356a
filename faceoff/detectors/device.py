"""Which device a detector or a training run uses: the one resolver of ``device`` options.

``"auto"`` means CUDA when PyTorch can use a CUDA device, else the CPU. PyTorch is only asked when an
NVIDIA driver library is present at all: on a machine without one the answer is ``"cpu"`` and torch is
not imported (it takes seconds to import, and the CPU runtimes do not need it).
"""

from __future__ import annotations

import ctypes
import re

__all__ = ["resolve_device"]

_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


def _driver_present() -> bool:
    """Whether the NVIDIA driver's CUDA library can be loaded (without initialising it)."""
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def _cuda_available() -> bool:
    if not _driver_present():
        return False  # torch.cuda.is_available() needs this library too: it would say False
    import torch

    return torch.cuda.is_available()


def resolve_device(device: str) -> str:
    """``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` -> ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    ``ValueError`` for another name, or for CUDA asked for where it is not available.
    """
    if device == "auto":
        return "cuda" if _cuda_available() else "cpu"
    if not _DEVICE.fullmatch(device):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    if device.startswith("cuda") and not _cuda_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return device
