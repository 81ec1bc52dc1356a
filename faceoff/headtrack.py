"""Follow a head by the motion of its points when its appearance changes: sparse optical flow.

Template matching (:mod:`faceoff.follow`) loses a head that turns away, bows or passes behind a hand:
the previous frame's box no longer looks like the next one. The head and shoulders still move together.
One step picks corner points in the head-and-shoulders region (the box widened by the follower's
context and extended :attr:`FlowParams.below` box heights downwards), tracks them into the next frame
with pyramidal Lucas-Kanade (``cv2.calcOpticalFlowPyrLK``) and back again, and keeps the points that
return within :data:`FB_ERROR` box sizes of where they started (a point on a hand passing in front, or
one that slid along an edge, does not); the box moves by the median displacement of the kept points.
The shoulders matter: the surface of a turning head slides sideways across it, its shoulders do not.

A step fails (following stops) when too few points are found or kept, when fewer than
:attr:`FlowParams.min_share` of them are kept (the region's content changed: the head left it,
something covered it; points lost near the frame's edge, which may have left the picture, do not
count), or when the median moves further than the follower's search radius (a jump,
not a head's motion). Only the region and a margin around it are read, so a step costs the same at
any frame size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from faceoff.config import RegularizeConfig, params_from

__all__ = ["FlowParams", "flow_step"]

FB_ERROR = 0.05  # box sizes: a point tracked forwards then back must return this close
MIN_POINTS = 6  # fewer trackable corners than this: nothing to follow (a flat or tiny region)
MAX_POINTS = 64  # corners tracked per step
LK_LEVELS = 3  # pyramid levels of the Lucas-Kanade search


@dataclass(frozen=True)
class FlowParams:
    """Knobs of :func:`flow_step`: the ``regularize.follow_flow_*`` config keys (defaults and meaning
    there, :class:`faceoff.config.RegularizeConfig`)."""

    below: float  # the points' region reaches this many box heights below the box (shoulders)
    min_share: float  # this share of the points must come back when tracked back; else the step fails

    @classmethod
    def from_config(cls, cfg: RegularizeConfig) -> FlowParams:
        """The flow step's parameters from the ``regularize`` section."""
        return params_from(cls, cfg, prefix="follow_flow_")


def flow_step(
    prev: np.ndarray, cur: np.ndarray, box: np.ndarray, context: float, search: float, p: FlowParams
) -> tuple[np.ndarray, float] | None:
    """The box moved from grey frame ``prev`` to ``cur`` by the flow of its region's points, and the
    share of points kept; None when the step fails. ``context`` (the region's width in box widths) and
    ``search`` (the largest move, in box sizes) are the follower's."""
    height, width = prev.shape
    bw, bh = box[2] - box[0], box[3] - box[1]
    size = max(bw, bh)
    if size < 4:
        return None
    cx = (box[0] + box[2]) / 2
    region = np.array([cx - context * bw / 2, box[1], cx + context * bw / 2, box[3] + p.below * bh])
    radius = search * size
    win = int(np.clip(size / 4, 7, 31)) | 1  # Lucas-Kanade window (px)
    # the window read: the region, as far as its points may move and the flow's own window, in the frame
    margin = radius + 2 * win
    wx1, wy1 = max(0, int(region[0] - margin)), max(0, int(region[1] - margin))
    wx2, wy2 = min(width, int(np.ceil(region[2] + margin))), min(height, int(np.ceil(region[3] + margin)))
    if wx2 - wx1 < 8 or wy2 - wy1 < 8:
        return None
    a, b = prev[wy1:wy2, wx1:wx2], cur[wy1:wy2, wx1:wx2]
    mask = np.zeros(a.shape, np.uint8)
    rx1, ry1 = max(0, int(region[0]) - wx1), max(0, int(region[1]) - wy1)
    rx2, ry2 = max(0, int(np.ceil(region[2])) - wx1), max(0, int(np.ceil(region[3])) - wy1)
    mask[ry1:ry2, rx1:rx2] = 255
    points = cv2.goodFeaturesToTrack(a, MAX_POINTS, 0.01, max(2.0, size / 12), mask=mask, blockSize=3)
    if points is None or len(points) < MIN_POINTS:
        return None
    lk = {"winSize": (win, win), "maxLevel": LK_LEVELS}
    ahead, ok, _ = cv2.calcOpticalFlowPyrLK(a, b, points, None, **lk)
    back, ok_back, _ = cv2.calcOpticalFlowPyrLK(b, a, ahead, None, **lk)
    error = np.linalg.norm((back - points).reshape(-1, 2), axis=1)
    kept = (ok.ravel() == 1) & (ok_back.ravel() == 1) & (error <= FB_ERROR * size)
    # a point lost within a move of the frame's edge may have left the picture: no evidence of a change
    x, y = points[:, 0, 0] + wx1, points[:, 0, 1] + wy1
    near_edge = (x < radius) | (y < radius) | (x >= width - radius) | (y >= height - radius)
    counted = ~((ok.ravel() == 0) & near_edge)
    share = float(kept.sum() / max(1, counted.sum()))
    if kept.sum() < MIN_POINTS or share < p.min_share:
        return None
    dx, dy = np.median((ahead - points).reshape(-1, 2)[kept], axis=0)
    if np.hypot(dx, dy) > radius:
        return None
    return box + np.array([dx, dy, dx, dy], dtype=np.float64), share
