"""Face detectors behind one interface, built by name from a registry.

>>> det = build_detector("centerface")            # runtime/device "auto"
>>> boxes = det.detect(frames, threshold=0.2)     # frames (B,H,W,3) uint8 RGB -> B arrays (N,5)

Backends register a factory with ``@register_detector(name)``; importing this package registers the
built-in ones.
"""

from faceoff.detectors.base import Detector, available_detectors, build_detector, register_detector
from faceoff.detectors.centerface import CenterFace
from faceoff.detectors.centerface_net import (
    CenterFaceNet,
    CenterFaceWeights,
    centerface_net,
    load_onnx_weights,
)
from faceoff.detectors.fasterrcnn import FasterRCNNDetector, detector_from_checkpoint

__all__ = [
    "CenterFace",
    "CenterFaceNet",
    "CenterFaceWeights",
    "Detector",
    "FasterRCNNDetector",
    "available_detectors",
    "build_detector",
    "centerface_net",
    "detector_from_checkpoint",
    "load_onnx_weights",
    "register_detector",
]
