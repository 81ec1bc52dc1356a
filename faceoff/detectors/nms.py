"""Non-maximum suppression in numpy, as ``torchvision.ops.nms`` computes it (without importing torch).

Boxes are ``x1 y1 x2 y2`` in float32; a box is suppressed by a higher-scoring kept box when their IoU is
above ``iou`` (strictly); equal scores keep their input order. The IoU is computed in float32 in
torchvision's order of operations and compared in float64, so the same boxes are kept.
"""

from __future__ import annotations

import numpy as np

__all__ = ["batched_nms", "nms"]


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices (int64) of the boxes (N,4) kept, by decreasing score."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float32), kind="stable")
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    zero = np.float32(0)
    keep = []
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(zero, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(zero, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        with np.errstate(invalid="ignore", divide="ignore"):  # two empty boxes: NaN, never suppressed
            overlap = inter / (areas[i] + areas[rest] - inter)
        order = rest[~(overlap.astype(np.float64) > iou)]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, iou: float) -> np.ndarray:
    """NMS within each group (e.g. frame) separately; indices kept, by group, each by decreasing score."""
    groups = np.asarray(groups)
    kept = []
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        kept.append(members[nms(boxes[members], scores[members], iou)])
    return np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)
