"""FaceOff detector checkpoints: the ``.pt`` files ``faceoff train`` and ``faceoff adapt`` write.

A checkpoint is a ``torch.save`` of a dict: ``format``, ``detector``, ``architecture``, ``options``,
``state_dict`` (CenterFace checkpoints add ``onnx_sha256``), with its JSON model card beside it
(``model.pt`` -> ``model.json``, see :mod:`faceoff.training.card`). Each detector's registered builder
loads its own kind (``build_detector(name, checkpoint=...)``); :func:`detector_from_checkpoint` builds
whichever kind a checkpoint holds. Reading one imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faceoff.detectors.base import Detector, build_detector
from faceoff.errors import FaceOffError

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "checkpoint_card_path",
    "detector_from_checkpoint",
    "read_checkpoint",
]

CHECKPOINT_FORMAT = "faceoff-detector-checkpoint/1"


class CheckpointError(FaceOffError, ValueError):
    """A checkpoint file is missing, not a FaceOff checkpoint, or does not fit the detector asked for."""


def checkpoint_card_path(checkpoint: str | Path) -> Path:
    """The model card beside a checkpoint: ``model.pt`` -> ``model.json``."""
    return Path(checkpoint).with_suffix(".json")


def read_checkpoint(path: str | Path, detector: str | None = None) -> dict[str, Any]:
    """Load a FaceOff checkpoint (tensors only: ``weights_only=True``), optionally checking its detector."""
    import torch

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


def detector_from_checkpoint(
    checkpoint: str | Path,
    *,
    detector: str | None = None,
    runtime: str = "auto",
    device: str = "auto",
    threads: int | None = None,
) -> Detector:
    """The detector a FaceOff checkpoint holds, built by that detector's registered builder.

    ``detector`` (e.g. ``detect.detector``) must match the checkpoint's when given.
    """
    if detector is None:
        detector = read_checkpoint(checkpoint).get("detector")
        if not isinstance(detector, str):
            raise CheckpointError(f"{checkpoint}: no detector named in the checkpoint")
    return build_detector(
        detector, runtime=runtime, device=device, threads=threads, checkpoint=str(checkpoint)
    )
