"""A second look at dark frames: the detector also runs on a brightened, smoothed copy of each frame (or
zoom crop) whose light is low, and the two looks' faces are merged.

A frame's light is the 99th percentile of its luma (BT.601, on every 4th pixel of every 4th row) where
the luma is not clipped (under :data:`CLIPPED`: a lamp or a stage light in the picture, white at any
exposure, does not make a dark scene lit). Below ``below`` the copy is scaled so that percentile reaches
:data:`TARGET` (at most :data:`MAX_GAIN` times), then smoothed (a Gaussian of :data:`SMOOTH_SIGMA` px).
The gain raises the sensor noise with the faces, and the network takes noise for texture: on a dark copy
of a street crowd it found 48 % of the faces at their own light, 41 % brightened, 74 % brightened and
smoothed (docs/recall.md). A face both looks found keeps the first look's box, scored as the surer look;
faces only the copy shows are added. Lit frames cost nothing more. On by default for dark frames only
(``detect.low_light_below`` 80): in a dim room (147) it also confirmed false tracks (more hidden area).
"""

from __future__ import annotations

import cv2
import numpy as np

from faceoff.detectors.base import Detector, DetectorWrapper
from faceoff.metrics import iou_matrix

TARGET = 220.0  # the 99th luma percentile of a dark frame's brightened copy
MAX_GAIN = 8.0
CLIPPED = 250  # luma at or above this is a light source or blown highlight, not the scene's light
SMOOTH_SIGMA = 1.0  # px: the brightened copy's Gaussian smoothing, which takes most of the raised noise
MERGE_IOU = 0.3  # a box of the second look overlapping one of the first this much is that face (as NMS)


def frame_gain(frame: np.ndarray, below: float) -> float:
    """The gain the second look brightens (H,W,3) uint8 RGB ``frame`` by; 1.0: no second look."""
    luma = cv2.cvtColor(np.ascontiguousarray(frame[::4, ::4]), cv2.COLOR_RGB2GRAY)
    scene = luma[luma < CLIPPED]
    light = float(np.percentile(scene, 99)) if scene.size else 255.0
    if light >= below:
        return 1.0
    return min(MAX_GAIN, TARGET / max(light, 1.0))


def brightened(frame: np.ndarray, gain: float) -> np.ndarray:
    """``frame`` with its values scaled by ``gain`` (clipped to 0..255), smoothed by a Gaussian of
    :data:`SMOOTH_SIGMA` px."""
    lit = np.clip(frame.astype(np.float32) * gain + 0.5, 0, 255).astype(np.uint8)
    return cv2.GaussianBlur(lit, (0, 0), SMOOTH_SIGMA)


def merged(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The boxes (N,5) of ``first``, each scored the higher of its own score and that of the ``second`` box
    overlapping it most (IoU >= :data:`MERGE_IOU`), then the ``second`` boxes that overlap no box of
    ``first`` that much: the second look confirms faces the first found (never moving or removing one)
    and adds those only it found."""
    if not len(first) or not len(second):
        return np.concatenate([first, second]).astype(first.dtype, copy=False)
    out = first.copy()
    overlap = iou_matrix(second[:, :4], first[:, :4])
    best = overlap.argmax(axis=1)
    same = overlap[np.arange(len(second)), best] >= MERGE_IOU
    np.maximum.at(out[:, 4], best[same], second[same, 4])
    return np.concatenate([out, second[~same]])


class LowLightDetector(DetectorWrapper):
    """A :class:`~faceoff.detectors.base.Detector` that also detects on brightened, smoothed copies of its
    dark frames and merges the boxes (see the module docstring)."""

    def __init__(self, detector: Detector, below: float) -> None:
        if below <= 0:
            raise ValueError(f"the low-light level must be above 0, got {below}")
        super().__init__(detector)
        self.below = below

    def detect(self, frames: np.ndarray, threshold: float) -> list[np.ndarray]:
        """Boxes (N,5) per frame: the wrapped detector's, merged with the brightened copies'."""
        found = self.inner.detect(frames, threshold)
        gains = [frame_gain(frame, self.below) for frame in frames]
        dark = [i for i, gain in enumerate(gains) if gain > 1.0]
        if not dark:
            return found
        copies = np.stack([brightened(frames[i], gains[i]) for i in dark])
        for i, more in zip(dark, self.inner.detect(copies, threshold), strict=True):
            found[i] = merged(found[i], more)
        return found
