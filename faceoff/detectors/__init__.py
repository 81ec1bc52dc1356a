"""Face detectors behind one interface, built by name from a registry.

>>> det = build_detector("centerface")            # runtime/device "auto"
>>> boxes = det.detect(frames, threshold=0.2)     # frames (B,H,W,3) uint8 RGB -> B arrays (N,5)

Each detector module registers one builder with ``@register_detector(name)``; importing this package
registers the built-in ones (``centerface``, ``fasterrcnn``) without importing torch: the PyTorch models
(:mod:`.centerface_net`, :mod:`.fasterrcnn_net`) are imported when a detector that runs on torch is built,
and the PyTorch names below on first access.
"""

from faceoff.detectors.base import Detector, available_detectors, build_detector, register_detector
from faceoff.detectors.centerface import CenterFace
from faceoff.detectors.centerface_onnx import CenterFaceWeights
from faceoff.detectors.checkpoint import detector_from_checkpoint
from faceoff.detectors.fasterrcnn import FasterRCNNDetector

__all__ = [
    "CenterFace",
    "CenterFaceNet",
    "CenterFaceWeights",
    "Detector",
    "FasterRCNNDetector",
    "available_detectors",
    "build_detector",
    "detector_from_checkpoint",
    "load_onnx_weights",
    "register_detector",
]

# of .centerface_net (its builder, centerface_net, is imported from there: a submodule has that name)
_TORCH_NAMES = ("CenterFaceNet", "load_onnx_weights")


def __getattr__(name: str):
    """The PyTorch CenterFace names, imported on first access so that this package does not load torch."""
    if name in _TORCH_NAMES:
        from faceoff.detectors import centerface_net as net

        return getattr(net, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
