"""Faces lying at an angle: the detector also runs on each frame turned by a quarter, a half or three
quarters, and the boxes found there are turned back and merged.

Face detectors learn upright faces. A ceiling camera over the table sees a supine patient, and staff
bending over them, at any angle in the picture: CenterFace found 97.5-100 % of synthetic OR faces
upright, 0-25 % of them turned by 90 degrees (docs/recall.md). :class:`RotatedDetector` holds one look
per angle (upright, and each of ``detect.rotations``), each a whole detector with its own zoom
(:mod:`faceoff.zoom`), so a lying face's small crops are looked at in the orientation that found it.
Each look detects on the frames turned its way (``np.rot90``, exact: no resampling), its boxes are
turned back, and all looks are merged by non-maximum suppression, so a face two looks found is one box,
the surer look's. Each angle costs about one more detection of the frame. Off by default
(``detect.rotations``: []).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from faceoff.detectors.base import Detector, DetectorWrapper
from faceoff.detectors.nms import nms
from faceoff.zoom import ZoomDetector

__all__ = ["RotatedDetector", "turn_boxes"]

ANGLES = (90, 180, 270)  # counter-clockwise, as np.rot90 turns
MERGE_IOU = 0.4  # boxes of two looks overlapping this much are one face


def turn_boxes(boxes: np.ndarray, quarters: int, height: int, width: int) -> np.ndarray:
    """``boxes`` (N, 4+) of a ``height`` x ``width`` frame, as they lie on the frame turned
    ``quarters`` times by 90 degrees counter-clockwise (``np.rot90(frame, quarters)``); columns after
    the fourth are kept."""
    out = np.array(boxes, dtype=np.float32, copy=True)
    out = out.reshape(len(out), out.shape[-1] if out.ndim > 1 else 4)
    for _ in range(quarters % 4):
        x1, y1, x2, y2 = (out[:, i].copy() for i in range(4))
        out[:, 0], out[:, 1], out[:, 2], out[:, 3] = y1, width - x2, y2, width - x1
        height, width = width, height
    return out


class RotatedDetector(DetectorWrapper):
    """A :class:`~faceoff.detectors.base.Detector` that also detects on its frames turned by ``angles``
    (90, 180, 270), each angle by its own look from ``make_look()`` (see the module docstring); the
    upright look is :attr:`inner`."""

    def __init__(self, make_look: Callable[[], Detector], angles: Sequence[int]) -> None:
        if not angles or any(a not in ANGLES for a in angles) or len(set(angles)) != len(angles):
            raise ValueError(f"rotations must be distinct angles among {ANGLES}, got {list(angles)}")
        super().__init__(make_look())
        self.turned = {angle: make_look() for angle in angles}

    @property
    def zoom(self) -> dict | None:
        """The looks' zoom parameters (as the audit records them), None without zoom."""
        return getattr(self.inner, "zoom", None)

    def reset(self) -> None:
        """Forget what each look's zoom carried from the previous batch."""
        for look in (self.inner, *self.turned.values()):
            if isinstance(look, ZoomDetector):
                look.reset()

    def detect(
        self, frames: np.ndarray, threshold: float, carry_from: float | None = None
    ) -> list[np.ndarray]:
        """Boxes (N,5) per frame, in the frames' own coordinates: the upright look's and the turned ones'.
        ``carry_from`` goes to zoomed looks (:meth:`faceoff.zoom.ZoomDetector.detect`)."""
        looks = [_detect(self.inner, frames, threshold, carry_from)]
        for angle, look in self.turned.items():
            quarters = angle // 90
            turned = np.ascontiguousarray(np.rot90(frames, quarters, axes=(1, 2)))
            found = _detect(look, turned, threshold, carry_from)
            looks.append([turn_boxes(b, 4 - quarters, *turned.shape[1:3]) for b in found])
        return [_merge([look[i] for look in looks]) for i in range(len(frames))]


def _detect(
    look: Detector, frames: np.ndarray, threshold: float, carry_from: float | None
) -> list[np.ndarray]:
    """``look``'s boxes for ``frames``; a zoomed look also gets ``carry_from``."""
    if isinstance(look, ZoomDetector):
        return look.detect(frames, threshold, carry_from=carry_from)
    return look.detect(frames, threshold)


def _merge(looks: list[np.ndarray]) -> np.ndarray:
    """One frame's boxes (N,5) from all looks, overlapping ones merged by NMS: the surer look's box stays.
    (Keeping the upright look's box, scored the surer of the two, lost faces lying at an angle, whose
    upright boxes are weak and misplaced: 96.3 -> 81.5 % on the test's turned OR faces.)"""
    boxes = np.concatenate([np.asarray(b, dtype=np.float32).reshape(-1, 5) for b in looks])
    if len(boxes) < 2:
        return boxes
    return boxes[nms(boxes[:, :4], boxes[:, 4], MERGE_IOU)]
