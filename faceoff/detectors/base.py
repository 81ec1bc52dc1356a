"""The detector interface and the registry of detector factories."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Detector",
    "DetectorFactory",
    "DetectorWrapper",
    "available_detectors",
    "build_detector",
    "check_frames",
    "empty_boxes",
    "register_detector",
]


@runtime_checkable
class Detector(Protocol):
    """A face detector: a batch of RGB frames in, one box array per frame out."""

    name: str
    """Registry name, e.g. ``"centerface"``."""
    weights_sha256: str
    """sha256 of the weights file actually used."""
    runtime: str
    """Resolved runtime, e.g. ``"onnxruntime"`` or ``"torch-cuda-fp16"``."""

    def detect(self, frames: np.ndarray, threshold: float) -> list[np.ndarray]:
        """Detect faces in ``frames`` (B,H,W,3) uint8 RGB.

        Returns B float32 arrays of shape (N,5): ``x1 y1 x2 y2 score`` in pixel coordinates of the given
        frames, boxes clipped to the frame.
        """
        ...


class DetectorWrapper:
    """Base of a detector that looks through another one (the zoom, the second look at dark frames): it
    carries the wrapped detector's name, weights and runtime, which the stages record."""

    def __init__(self, detector: Detector) -> None:
        self.inner = detector
        self.name = detector.name
        self.weights_sha256 = detector.weights_sha256
        self.runtime = detector.runtime


def detect_crops(
    detector: Detector, crops: np.ndarray, threshold: float, frames: np.ndarray, owners: Sequence[int]
) -> list[np.ndarray]:
    """``detector``'s boxes on magnified ``crops`` (B,h,w,3) of ``frames`` (``owners[k]``: the index in
    ``frames`` of the frame crop ``k`` was cut from), as :meth:`Detector.detect` finds them, unless the
    detector judges a crop by its whole frame (``detect_crops`` of its own: the second look at noisy
    frames, whose noise an enlarged crop hides)."""
    own = getattr(detector, "detect_crops", None)
    if own is not None:
        return own(crops, threshold, frames, owners)
    return detector.detect(crops, threshold)


DetectorFactory = Callable[..., Detector]
_REGISTRY: dict[str, DetectorFactory] = {}


def register_detector(name: str) -> Callable[[DetectorFactory], DetectorFactory]:
    """Decorator registering ``factory(*, runtime, device, threads, checkpoint) -> Detector`` under
    ``name``: one builder per architecture."""

    def decorate(factory: DetectorFactory) -> DetectorFactory:
        existing = _REGISTRY.get(name)
        key = (factory.__module__, factory.__qualname__)
        # Re-registering the same factory (e.g. a module reload) is fine; a different one is not.
        if existing is not None and (existing.__module__, existing.__qualname__) != key:
            raise ValueError(f"detector {name!r} is already registered by {existing.__module__}")
        _REGISTRY[name] = factory
        return factory

    return decorate


def available_detectors() -> list[str]:
    """Names of the registered detectors, sorted."""
    return sorted(_REGISTRY)


def build_detector(
    name: str,
    *,
    runtime: str = "auto",
    device: str = "auto",
    threads: int | None = None,
    checkpoint: str | None = None,
) -> Detector:
    """Build the detector registered as ``name``; ``ValueError`` names the available ones if unknown.

    Every option goes to the registered builder, ``checkpoint`` included: weights written by
    ``faceoff train``/``faceoff adapt`` (the builder checks that they are its detector's).
    """
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown detector {name!r}; available detectors: {', '.join(available_detectors()) or 'none'}"
        ) from None
    return factory(runtime=runtime, device=device, threads=threads, checkpoint=checkpoint)


def empty_boxes() -> np.ndarray:
    """A (0,5) float32 box array."""
    return np.zeros((0, 5), dtype=np.float32)


def check_frames(frames: np.ndarray) -> np.ndarray:
    """Validate a (B,H,W,3) uint8 batch; returns it C-contiguous."""
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3:
        shape = getattr(frames, "shape", None)
        raise ValueError(f"frames must be a (B,H,W,3) RGB array, got shape {shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    if frames.shape[1] == 0 or frames.shape[2] == 0:
        raise ValueError(f"frames must be non-empty, got shape {frames.shape}")
    return np.ascontiguousarray(frames)
