"""A second look at dark and noisy frames: the detector also runs on a brightened or smoothed copy of each
frame (or zoom crop) whose light is low or whose noise is high, and the two looks' faces are merged.

A frame's light is the 99th percentile of its luma (BT.601, on every 4th pixel of every 4th row) where
the luma is not clipped (under :data:`CLIPPED`: a lamp or a stage light in the picture, white at any
exposure, does not make a dark scene lit). Below ``below`` the copy is scaled so that percentile reaches
:data:`TARGET` (at most :data:`MAX_GAIN` times). Its noise is the standard deviation of the luma's
sensor noise, estimated from the frame alone (:func:`frame_noise`). A dark or noisy frame's copy (scaled,
or as it is when only noisy) is smoothed by a Gaussian of :data:`SMOOTH_SIGMA` px: the network takes
noise for texture. On a dark copy of a street crowd it found 48 % of the faces at their own light, 41 %
brightened, 74 % brightened and smoothed (docs/recall.md). A face both looks found keeps the first look's
box, scored as the surer look; faces only the copy shows are added. Clean, lit frames cost only the two
estimates. The zoom's magnified crops (:func:`faceoff.detectors.base.detect_crops`) get the look when
their own light is low or their frame is noisy: enlarging a crop smooths its noise, which would hide it
from the estimate, but the network still takes it for texture (a noisy street crowd: 96.0 to 99.5 %
coverage, docs/recall.md). On by
default for dark frames (``detect.low_light_below`` 80: in a dim room, 147, it also confirmed false
tracks, more hidden area) and noisy ones (``detect.noisy_above`` 3 levels).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

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


def frame_noise(frame: np.ndarray) -> float:
    """The standard deviation (luma levels) of the noise in (H,W,3) uint8 RGB ``frame``: Immerkaer's
    estimate ("Fast noise variance estimation", 1996), the mean absolute response of the 3x3 mask
    [[1,-2,1],[-2,4,-2],[1,-2,1]] (the product of two second differences: it cancels smooth shading and
    straight edges), here centred on every 4th row. Clean or compressed video gives 0.2-0.6, a sensor at
    high gain 3 and more."""
    n = (frame.shape[0] - 2) // 4 * 4  # centre rows 1, 5, ..., n - 3: each with the rows above and below
    if n == 0 or frame.shape[1] < 3:
        return 0.0
    above, centre, below = (
        cv2.cvtColor(np.ascontiguousarray(frame[k : k + n : 4]), cv2.COLOR_RGB2GRAY).astype(np.float32)
        for k in (0, 1, 2)
    )
    vertical = above - 2 * centre + below
    response = vertical[:, :-2] - 2 * vertical[:, 1:-1] + vertical[:, 2:]
    return float(np.sqrt(np.pi / 2) * np.abs(response).mean() / 6)


def brightened(frame: np.ndarray, gain: float) -> np.ndarray:
    """``frame`` with its values scaled by ``gain`` (clipped to 0..255; 1: as it is), smoothed by a
    Gaussian of :data:`SMOOTH_SIGMA` px."""
    lit = frame if gain == 1.0 else np.clip(frame.astype(np.float32) * gain + 0.5, 0, 255).astype(np.uint8)
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
    """A :class:`~faceoff.detectors.base.Detector` that also detects on brightened or smoothed copies of
    its dark and noisy frames and merges the boxes (see the module docstring). ``below``: the light under
    which a frame is dark; ``noisy_above``: the noise over which it is noisy; 0 turns either off."""

    def __init__(self, detector: Detector, below: float, noisy_above: float = 0.0) -> None:
        if below < 0 or noisy_above < 0 or (below == 0 and noisy_above == 0):
            raise ValueError(
                f"the low-light level and the noise level must be 0 or more, one above 0; got {below}, "
                f"{noisy_above}"
            )
        super().__init__(detector)
        self.below = below
        self.noisy_above = noisy_above
        # the last batch of frames detect() judged, and its verdicts, which detect_crops() reuses for the
        # zoom's crops of that batch (a weak reference: the batch is not kept alive)
        self._judged: tuple[weakref.ref[np.ndarray], list[bool]] | None = None

    def _noisy(self, frame: np.ndarray) -> bool:
        """Whether ``frame``'s noise calls for the smoothed look."""
        return self.noisy_above > 0 and frame_noise(frame) > self.noisy_above

    def _second_look(self, image: np.ndarray, noisy: bool) -> np.ndarray | None:
        """The copy of ``image`` (a frame or a crop) the second look detects on, or None when it needs none:
        brightened when it is dark, smoothed too when it is dark or ``noisy``."""
        gain = frame_gain(image, self.below) if self.below > 0 else 1.0
        if gain > 1.0 or noisy:
            return brightened(image, gain)
        return None

    def _looked(self, images: np.ndarray, threshold: float, noisy: list[bool]) -> list[np.ndarray]:
        """Boxes (N,5) per image: the wrapped detector's, merged with those of the images' copies."""
        found = self.inner.detect(images, threshold)
        copies = [self._second_look(image, n) for image, n in zip(images, noisy, strict=True)]
        poor = [i for i, copy in enumerate(copies) if copy is not None]
        if not poor:
            return found
        for i, more in zip(
            poor, self.inner.detect(np.stack([copies[i] for i in poor]), threshold), strict=True
        ):
            found[i] = merged(found[i], more)
        return found

    def detect(self, frames: np.ndarray, threshold: float) -> list[np.ndarray]:
        """Boxes (N,5) per frame: the wrapped detector's, merged with the copies'."""
        noisy = [self._noisy(frame) for frame in frames]
        self._judged = (weakref.ref(frames), noisy)
        return self._looked(frames, threshold, noisy)

    def detect_crops(
        self, crops: np.ndarray, threshold: float, frames: np.ndarray, owners: Sequence[int]
    ) -> list[np.ndarray]:
        """Boxes (N,5) per magnified crop of ``frames`` (``owners``: each crop's frame): as :meth:`detect`,
        but a crop is noisy when its frame is (enlarging a crop smooths its noise, not what the network
        makes of it); its light is its own."""
        judged = self._judged
        if judged is not None and judged[0]() is frames:  # the batch detect() saw: its noise is known
            noisy = judged[1]
        else:
            noisy = {i: self._noisy(frames[i]) for i in set(owners)}
        return self._looked(crops, threshold, [noisy[i] for i in owners])
