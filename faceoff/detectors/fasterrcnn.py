"""The ``fasterrcnn`` detector: a Faster R-CNN (:mod:`.fasterrcnn_net`) from a checkpoint that
``faceoff train`` wrote (:mod:`.checkpoint`). torch and torchvision are imported when one is built."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceoff.detectors.base import Detector, check_frames, register_detector
from faceoff.detectors.centerface_onnx import file_sha256
from faceoff.detectors.checkpoint import CheckpointError, read_checkpoint
from faceoff.detectors.device import resolve_device

__all__ = ["FasterRCNNDetector", "build_fasterrcnn"]


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
        import torch

        from faceoff.detectors.fasterrcnn_net import fasterrcnn_model, predict_boxes

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
        self.device = torch.device(resolve_device(device))
        if self.device.type == "cpu" and threads:
            torch.set_num_threads(threads)  # process-wide: only when asked for
        self.model = model.to(self.device).eval()
        self.runtime = "torch-cuda-amp" if self.device.type == "cuda" else "torch-cpu-fp32"
        self._predict = predict_boxes

    def __repr__(self) -> str:
        return f"FasterRCNNDetector({self.architecture}, weights_sha256={self.weights_sha256[:12]}...)"

    def detect(self, frames: np.ndarray, threshold: float) -> list[np.ndarray]:
        """Detect faces in (B,H,W,3) uint8 RGB frames; B arrays (N,5) float32 ``x1 y1 x2 y2 score``."""
        frames = check_frames(frames)
        if frames.shape[0] == 0:
            return []
        return self._predict(self.model, frames, threshold, self.device)


@register_detector("fasterrcnn")
def build_fasterrcnn(
    *,
    runtime: str = "auto",
    device: str = "auto",
    threads: int | None = None,
    checkpoint: str | Path | None = None,
) -> Detector:
    """Registry builder: Faster R-CNN from a checkpoint written by ``faceoff train`` (required)."""
    if checkpoint is None:
        raise ValueError(
            "detector 'fasterrcnn' needs a checkpoint (detect.checkpoint): train one with `faceoff train`"
        )
    return FasterRCNNDetector(checkpoint, runtime=runtime, device=device, threads=threads)
