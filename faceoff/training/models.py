"""The two trainable detectors behind one interface: losses on augmented crops, detection on frames.

* :class:`CenterFaceModel`: :class:`~faceoff.detectors.centerface_net.CenterFaceNet`, initialised from the
  shipped ONNX (every weight) or a FaceOff checkpoint. Trained with the CenterNet targets of
  :mod:`faceoff.training.targets`. The BatchNorms of the neck stay frozen (running statistics and affine
  parameters: batches here are small), and so does the landmark head (there are no landmark targets).
* :class:`FasterRCNNModel`: :func:`~faceoff.detectors.fasterrcnn.fasterrcnn_model`; ignored boxes are left
  out of its targets (torchvision's Faster R-CNN has no ignore regions).

On CUDA both train under bfloat16 autocast; on CPU in fp32.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceoff.detectors.centerface import decode, padded_size
from faceoff.detectors.centerface_net import (
    CenterFaceNet,
    CenterFaceWeights,
    file_sha256,
    load_onnx_weights,
)
from faceoff.detectors.checkpoint import read_checkpoint
from faceoff.detectors.device import resolve_device
from faceoff.detectors.fasterrcnn_net import fasterrcnn_model, predict_boxes
from faceoff.training.augment import Crop
from faceoff.training.targets import centernet_loss, centernet_targets

__all__ = ["CenterFaceModel", "FasterRCNNModel", "build_model", "resolve_device"]


def _autocast(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")


def _from_checkpoint(path: str | Path, detector: str, architecture: str | None = None) -> dict[str, Any]:
    data = read_checkpoint(path, detector)
    if architecture is not None and data["architecture"] != architecture:
        raise ValueError(f"{path}: a {data['architecture']} checkpoint, not {architecture}")
    return data


class CenterFaceModel:
    """Trainable CenterFace."""

    detector = "centerface"
    architecture = "centerface"

    def __init__(
        self,
        device: str | torch.device = "cpu",
        *,
        init_checkpoint: str | Path | None = None,
        onnx_path: str | Path | None = None,
        freeze_backbone_blocks: int = 0,
    ) -> None:
        self.device = torch.device(device)
        self.options: dict[str, Any] = {}
        net = CenterFaceNet()
        if init_checkpoint is not None:
            data = _from_checkpoint(init_checkpoint, "centerface")
            net.load_state_dict(data["state_dict"], strict=True)
            self.base = {
                "kind": "faceoff checkpoint",
                "file": str(init_checkpoint),
                "sha256": file_sha256(init_checkpoint),
                "initialised": "every weight, from the checkpoint",
            }
        else:
            weights = CenterFaceWeights.from_path(onnx_path)
            net.load_state_dict(load_onnx_weights(weights.path), strict=True)
            self.base = {
                "kind": "CenterFace ONNX",
                "file": str(weights.path),
                "source": weights.source,
                "sha256": weights.sha256,
                "initialised": "every weight (backbone, neck, heads), mapped from the ONNX initializers",
            }
        frozen = ["neck BatchNorms (affine and running statistics)", "head.lm_conv (landmarks)"]
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.requires_grad_(False)
        net.head.lm_conv.requires_grad_(False)
        for i in range(min(freeze_backbone_blocks, len(net.backbone.features))):
            net.backbone.features[i].requires_grad_(False)
        if freeze_backbone_blocks:
            frozen.append(f"backbone.features[0:{freeze_backbone_blocks}]")
        self.base["frozen"] = frozen
        self.net = net.to(self.device, memory_format=torch.channels_last)

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.net.parameters() if p.requires_grad]

    def train(self) -> None:
        self.net.train()
        for module in self.net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.eval()

    def eval(self) -> None:
        self.net.eval()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.net.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.net.load_state_dict(state, strict=True)

    def losses(self, crops: list[Crop]) -> dict[str, torch.Tensor]:
        images = torch.from_numpy(np.stack([c.image for c in crops])).to(self.device)
        x = images.permute(0, 3, 1, 2).float().contiguous(memory_format=torch.channels_last)
        h, w = x.shape[-2:]
        parts = [centernet_targets(c.boxes, c.ignore, h, w) for c in crops]
        targets = {k: torch.from_numpy(np.stack([p[k] for p in parts])).to(self.device) for k in parts[0]}
        with _autocast(self.device):
            out = self.net(x)
        return centernet_loss(out.heatmap, out.scale, out.offset, targets)

    def detect(self, frames: np.ndarray, threshold: float) -> list[np.ndarray]:
        """Boxes per frame (as the ``centerface`` detector decodes them), in eval mode."""
        was_training = self.net.training
        self.net.eval()
        b, h, w, _ = frames.shape
        hp, wp = padded_size(h, w)
        try:
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.filterwarnings("ignore", "The given NumPy array is not writable")
                blob = torch.zeros((b, 3, hp, wp), device=self.device).contiguous(
                    memory_format=torch.channels_last
                )
                blob[:, :, :h, :w] = torch.from_numpy(frames).to(self.device).permute(0, 3, 1, 2)
                with _autocast(self.device):
                    out = self.net(blob)
                return decode(out.heatmap.float(), out.scale.float(), out.offset.float(), (h, w), threshold)
        finally:
            if was_training:
                self.train()


class FasterRCNNModel:
    """Trainable Faster R-CNN (:data:`~faceoff.detectors.fasterrcnn_net.ARCHITECTURES`)."""

    detector = "fasterrcnn"

    def __init__(
        self,
        architecture: str,
        device: str | torch.device = "cpu",
        *,
        fpn_channels: int = 128,
        init_checkpoint: str | Path | None = None,
        onnx_path: str | Path | None = None,
        freeze_backbone_blocks: int = 0,
    ) -> None:
        self.device = torch.device(device)
        self.architecture = architecture
        if init_checkpoint is not None:
            data = _from_checkpoint(init_checkpoint, "fasterrcnn", architecture)
            fpn_channels = int(data.get("options", {}).get("fpn_channels", fpn_channels))
            model = fasterrcnn_model(architecture, fpn_channels=fpn_channels, init=False)
            model.load_state_dict(data["state_dict"], strict=True)
            self.base = {
                "kind": "faceoff checkpoint",
                "file": str(init_checkpoint),
                "sha256": file_sha256(init_checkpoint),
                "initialised": "every weight, from the checkpoint",
            }
        elif architecture == "fasterrcnn_centerface_fpn":
            weights = CenterFaceWeights.from_path(onnx_path)
            model = fasterrcnn_model(
                architecture, fpn_channels=fpn_channels, init=True, onnx_path=weights.path
            )
            n_init = len(model.backbone.body.state_dict())
            self.base = {
                "kind": "CenterFace ONNX (backbone only)",
                "file": str(weights.path),
                "source": weights.source,
                "sha256": weights.sha256,
                "initialised": f"backbone.body: CenterFace's MobileNetV2 feature blocks 0-17 "
                f"({n_init} tensors, BatchNorm folded into conv biases)",
                "random": "backbone.fpn, rpn, roi_heads (torchvision's default initialisation, seeded)",
            }
        else:
            model = fasterrcnn_model(architecture, fpn_channels=fpn_channels)
            self.base = {
                "kind": "random initialisation (no downloaded weights)",
                "file": None,
                "sha256": None,
                "initialised": "nothing: torchvision's default initialisation, seeded",
            }
        self.options = {"fpn_channels": fpn_channels} if architecture == "fasterrcnn_centerface_fpn" else {}
        if freeze_backbone_blocks:
            if architecture != "fasterrcnn_centerface_fpn":
                raise ValueError("freeze_backbone_blocks applies to fasterrcnn_centerface_fpn only")
            for i in range(min(freeze_backbone_blocks, 18)):
                model.backbone.body[str(i)].requires_grad_(False)
            self.base["frozen"] = [f"backbone.body[0:{freeze_backbone_blocks}]"]
        self.model = model.to(self.device)

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def train(self) -> None:
        self.model.train()

    def eval(self) -> None:
        self.model.eval()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state, strict=True)

    def losses(self, crops: list[Crop]) -> dict[str, torch.Tensor]:
        images, targets = [], []
        for c in crops:
            images.append(torch.from_numpy(c.image).to(self.device).permute(2, 0, 1).float().div_(255.0))
            keep = ~c.ignore & ((c.boxes[:, 2] - c.boxes[:, 0]) >= 2) & ((c.boxes[:, 3] - c.boxes[:, 1]) >= 2)
            boxes = torch.from_numpy(c.boxes[keep]).to(self.device).reshape(-1, 4)
            labels = torch.ones(len(boxes), dtype=torch.int64, device=self.device)
            targets.append({"boxes": boxes, "labels": labels})
        with _autocast(self.device):
            out = self.model(images, targets)
        return {k: v.float() for k, v in out.items()}

    def detect(self, frames: np.ndarray, threshold: float) -> list[np.ndarray]:
        return predict_boxes(self.model, np.ascontiguousarray(frames), threshold, self.device)


def build_model(
    detector: str,
    architecture: str,
    device: torch.device,
    *,
    fpn_channels: int = 128,
    init_checkpoint: str | None = None,
    freeze_backbone_blocks: int = 0,
) -> CenterFaceModel | FasterRCNNModel:
    """The trainable model for ``detector`` (``centerface`` or ``fasterrcnn`` of ``architecture``)."""
    if detector == "centerface":
        return CenterFaceModel(
            device, init_checkpoint=init_checkpoint, freeze_backbone_blocks=freeze_backbone_blocks
        )
    if detector == "fasterrcnn":
        return FasterRCNNModel(
            architecture,
            device,
            fpn_channels=fpn_channels,
            init_checkpoint=init_checkpoint,
            freeze_backbone_blocks=freeze_backbone_blocks,
        )
    raise ValueError(f"cannot train detector {detector!r}; choose centerface or fasterrcnn")
