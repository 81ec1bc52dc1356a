"""A second, magnified look at small faces: the detector run again on upscaled crops around them.

Single-shot detectors lose faces under about 20 px (a ceiling camera, a person at the back of the room);
at that size a face often still leaves a weak response. :class:`ZoomDetector` wraps a detector: on each
frame it takes every small box scoring at least :attr:`ZoomParams.min_score` (far below the detection
threshold), crops a :attr:`ZoomParams.window` pixel square around it, enlarges the crop
:attr:`ZoomParams.scale` times and detects again; the faces found there are merged with the frame's own
detections by non-maximum suppression. Small faces it found in one batch of frames are looked at again
on every frame of the next batch, so a face found once keeps being looked for while it stays small and
weak.

It costs one more detector call per batch, on the batch's small crops (about 6 ms per frame on two CPU
cores with 6 crops of 128x128 per frame), not a second pass over the magnified frames. On the synthetic
OR suite it finds most of what detecting on the whole frame at twice the size finds (docs/recall.md).

Batches must arrive in order: the look-again state is carried from batch to batch; :meth:`reset` clears
it (the detect stage does at each shard, so a resumed job detects exactly what an uninterrupted one does).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from faceoff.config import DetectConfig, params_from
from faceoff.detectors.base import Detector, DetectorWrapper, detect_crops, empty_boxes
from faceoff.detectors.nms import nms

__all__ = ["ZoomDetector", "ZoomParams"]

MERGE_IOU = 0.4  # a magnified detection overlapping a frame detection this much is the same face
EDGE = 1.0  # pixels (of the frame): a box this near a crop's edge is cut by it


@dataclass(frozen=True)
class ZoomParams:
    """Knobs of :class:`ZoomDetector`: the ``detect.zoom_*`` config keys (defaults and meaning there,
    :class:`faceoff.config.DetectConfig`)."""

    scale: float  # crops are enlarged this many times; 1 = off
    window: int  # side of the square crop, in pixels of the frame given to the detector
    max_face: float  # only boxes narrower than this (pixels) are looked at, and kept from a crop
    min_score: float  # a box this weak is still worth a second look

    @classmethod
    def from_config(cls, cfg: DetectConfig) -> ZoomParams:
        """The zoom's parameters from the ``detect`` section (``cfg.zoom_scale`` 1 means the zoom is off)."""
        return params_from(cls, cfg, prefix="zoom_")


def _windows(candidates: np.ndarray, window: int, width: int, height: int) -> list[tuple[int, int]]:
    """Top-left corners of the crops for ``candidates`` (N,5), strongest first; a candidate whose
    centre is near an earlier crop's centre gets none."""
    centres: list[tuple[float, float]] = []
    corners = []
    for x1, y1, x2, y2, _ in candidates[np.argsort(-candidates[:, 4], kind="stable")]:
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        if any(abs(cx - px) < window / 4 and abs(cy - py) < window / 4 for px, py in centres):
            continue
        centres.append((cx, cy))
        ox = int(np.clip(round(cx - window / 2), 0, width - window))
        oy = int(np.clip(round(cy - window / 2), 0, height - window))
        corners.append((ox, oy))
    return corners


def _whole(boxes: np.ndarray, ox: int, oy: int, window: int, width: int, height: int) -> np.ndarray:
    """Which boxes found on the crop at ``(ox, oy)`` do not run into its edges: a face cut by the crop
    is boxed off-centre, and the crop around it (or the frame's own pass) boxes it whole. A crop edge
    that is the frame's edge cuts nothing."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    left, top, right, bottom = ox + EDGE, oy + EDGE, ox + window - EDGE, oy + window - EDGE
    ok = (x1 >= left) | (ox == 0)
    ok &= (y1 >= top) | (oy == 0)
    ok &= (x2 <= right) | (ox + window >= width)
    ok &= (y2 <= bottom) | (oy + window >= height)
    return ok


def _merge(boxes: np.ndarray) -> np.ndarray:
    """Non-maximum suppression of (N,5) boxes; survivors sorted by decreasing score."""
    if len(boxes) < 2:
        return boxes
    return boxes[nms(boxes[:, :4], boxes[:, 4], MERGE_IOU)]


class ZoomDetector(DetectorWrapper):
    """A :class:`~faceoff.detectors.base.Detector` that also detects on magnified crops around small,
    weak boxes (see the module docstring)."""

    def __init__(self, detector: Detector, params: ZoomParams) -> None:
        if params.scale <= 1:
            raise ValueError(f"zoom scale must be above 1, got {params.scale}")
        super().__init__(detector)
        self.params = params
        self._carried = empty_boxes()  # small faces found on magnified crops of the previous batch

    @property
    def zoom(self) -> dict:
        """The zoom's parameters, as the audit records them."""
        return asdict(self.params)

    def reset(self) -> None:
        """Forget the faces carried from the previous batch."""
        self._carried = empty_boxes()

    def detect(
        self, frames: np.ndarray, threshold: float, carry_from: float | None = None
    ) -> list[np.ndarray]:
        """Boxes (N,5) per frame as the wrapped detector's, plus the small faces found on magnified crops.

        Only the small faces scoring at least ``carry_from`` (default ``threshold``) are looked for again
        on the next batch: a caller asking for weaker boxes on some batches (the audit's second look)
        leaves the next batch's look-again as its usual threshold makes it."""
        p = self.params
        found = self.inner.detect(frames, min(threshold, p.min_score))
        crops: list[np.ndarray] = []
        owners: list[tuple[int, int, int]] = []  # (frame in the batch, crop left, crop top)
        height, width = frames.shape[1:3]
        window = min(p.window, width, height)
        for i, (frame, boxes) in enumerate(zip(frames, found, strict=True)):
            small = boxes[(boxes[:, 2] - boxes[:, 0]) < p.max_face]
            for ox, oy in _windows(np.concatenate([small, self._carried]), window, width, height):
                crop = frame[oy : oy + window, ox : ox + window]
                crops.append(cv2.resize(crop, (round(window * p.scale),) * 2))
                owners.append((i, ox, oy))
        zoomed: list[list[np.ndarray]] = [[] for _ in frames]
        if crops:  # one detector call for the whole batch's crops
            looked = detect_crops(self.inner, np.stack(crops), threshold, frames, [o[0] for o in owners])
            for (i, ox, oy), boxes in zip(owners, looked, strict=True):
                boxes = boxes.copy()
                boxes[:, :4] = boxes[:, :4] / p.scale + (ox, oy, ox, oy)
                keep = (boxes[:, 2] - boxes[:, 0]) < p.max_face
                keep &= _whole(boxes, ox, oy, window, width, height)
                zoomed[i].append(boxes[keep])
        per_frame = [_merge(np.concatenate(z)) if z else empty_boxes() for z in zoomed]
        carried = _merge(np.concatenate(per_frame)) if per_frame else empty_boxes()
        self._carried = carried[carried[:, 4] >= (threshold if carry_from is None else carry_from)]
        kept = [boxes[boxes[:, 4] >= threshold] for boxes in found]
        return [_merge(np.concatenate([k, z])) if len(z) else k for k, z in zip(kept, per_frame, strict=True)]
