"""A second look at dark and noisy frames: the detector also runs on a brightened or smoothed copy of each
frame (or zoom crop) whose light is low or whose noise is high, and the two looks' faces are merged.

A frame's light is the 99th percentile of its luma (BT.601, on every 4th pixel of every 4th row) where
the luma is not clipped (under :data:`CLIPPED`: a lamp or a stage light in the picture, white at any
exposure, does not make a dark scene lit). Below ``below`` the copy is scaled so that percentile reaches
:data:`TARGET` (at most :data:`MAX_GAIN` times). A frame lit only in part (a stage, a window, an
operating room's lit field in a dimmed room) has a lit 99th percentile; when at least
:data:`DARK_SHARE` of its :data:`GRID` x :data:`GRID` tiles are dark by the same measure, each dark tile
is scaled by its own gain and the lit ones are left as they are (the gains spread bilinearly, so the
copy has no seams): on the real clips darkened but for a lit band at the top, 89 to 96 % coverage
(docs/recall.md). Its noise is the standard deviation of the luma's sensor noise, estimated from the
frame alone (:func:`frame_noise`). A dark or noisy frame's copy (scaled, or as it is when only noisy)
is smoothed by a Gaussian of :data:`SMOOTH_SIGMA` px: the network takes noise for texture. On a dark
copy of a street crowd it found 48 % of the faces at their own light, 41 % brightened, 74 % brightened
and smoothed (docs/recall.md). A face both looks found keeps the first look's box, scored as the surer
look; faces only the copy shows are added. Clean, lit frames cost only the two estimates. The zoom's
magnified crops (:func:`faceoff.detectors.base.detect_crops`) get the look when their own light is low
or their frame is noisy: enlarging a crop smooths its noise, which would hide it from the estimate, but
the network still takes it for texture (a noisy street crowd: 96.0 to 99.5 % coverage,
docs/recall.md). On by default for dark frames (``detect.low_light_below`` 80: in a dim room, 147, it
also confirmed false tracks, more hidden area) and noisy ones (``detect.noisy_above`` 3 levels).
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
GRID = 8  # a lit frame's light is also taken on GRID x GRID tiles ...
DARK_SHARE = 0.5  # ... and with at least this share of them dark, the dark ones get the second look
MERGE_IOU = 0.3  # a box of the second look overlapping one of the first this much is that face (as NMS)


def _light(luma: np.ndarray) -> float:
    """The light of ``luma`` (uint8): the 99th percentile of its values under :data:`CLIPPED`."""
    scene = luma[luma < CLIPPED]
    return float(np.percentile(scene, 99)) if scene.size else 255.0


def _tile_lights(luma: np.ndarray) -> np.ndarray:
    """The light of each of the :data:`GRID` x :data:`GRID` tiles of ``luma`` (H,W uint8, at least GRID
    pixels each way), as a (GRID, GRID) array: as :func:`_light`, the 99th percentile of the values under
    :data:`CLIPPED` (here the lowest value with 99 % of them at or below it; 255 where all are clipped)."""
    h, w = luma.shape
    tile = (np.arange(h) * GRID // h)[:, None] * GRID + (np.arange(w) * GRID // w)[None, :]
    hist = np.bincount((tile * 256 + luma).ravel(), minlength=GRID * GRID * 256).reshape(GRID * GRID, 256)
    hist[:, CLIPPED:] = 0
    cum = hist.cumsum(axis=1)
    light = (cum < 0.99 * cum[:, -1:]).sum(axis=1)
    light[cum[:, -1] == 0] = 255
    return light.reshape(GRID, GRID).astype(np.float64)


def frame_gain(frame: np.ndarray, below: float, tiles: bool = True) -> float | np.ndarray:
    """The gain the second look brightens (H,W,3) uint8 RGB ``frame`` by. 1.0: no second look; a float:
    the frame is dark, one gain for all of it; a (:data:`GRID`, :data:`GRID`) array (only with
    ``tiles``): the frame is lit but at least :data:`DARK_SHARE` of its tiles are dark (a dark scene with a
    lit part), each dark tile's own gain and 1 on the lit ones (:func:`brightened` spreads them over the
    picture)."""
    luma = cv2.cvtColor(np.ascontiguousarray(frame[::4, ::4]), cv2.COLOR_RGB2GRAY)
    light = _light(luma)
    if light < below:
        return min(MAX_GAIN, TARGET / max(light, 1.0))
    # a tile is dark when 99 % of its pixels are: too few dark pixels for DARK_SHARE of the tiles, no look
    if not tiles or min(luma.shape) < GRID or np.count_nonzero(luma < below) < 0.99 * DARK_SHARE * luma.size:
        return 1.0
    lights = _tile_lights(luma)
    dark = lights < below
    if dark.mean() < DARK_SHARE:
        return 1.0
    return np.where(dark, np.minimum(MAX_GAIN, TARGET / np.maximum(lights, 1.0)), 1.0)


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


def brightened(frame: np.ndarray, gain: float | np.ndarray) -> np.ndarray:
    """``frame`` with its values scaled by ``gain`` (clipped to 0..255; 1: as it is), smoothed by a
    Gaussian of :data:`SMOOTH_SIGMA` px. A grid of gains (one per tile, :func:`frame_gain`) is spread
    over the picture bilinearly (each tile's gain at its centre), so the copy has no seams."""
    if np.ndim(gain):
        h, w = frame.shape[:2]
        spread = cv2.resize(np.asarray(gain, np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        lit = np.clip(frame * spread[..., None] + 0.5, 0, 255).astype(np.uint8)
    elif gain != 1.0:
        lit = np.clip(frame.astype(np.float32) * gain + 0.5, 0, 255).astype(np.uint8)
    else:
        lit = frame
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
        # the last batch of frames detect() judged, and its verdicts (noisy; dark by tiles), which
        # detect_crops() reuses for the zoom's crops of that batch (a weak reference: the batch is not
        # kept alive)
        self._judged: tuple[weakref.ref[np.ndarray], list[bool], list[bool]] | None = None

    def _noisy(self, frame: np.ndarray) -> bool:
        """Whether ``frame``'s noise calls for the smoothed look."""
        return self.noisy_above > 0 and frame_noise(frame) > self.noisy_above

    def _gain(self, image: np.ndarray, tiles: bool) -> float | np.ndarray:
        """The gain of ``image``'s second look (:func:`frame_gain`; 1.0 when dark frames get none)."""
        return frame_gain(image, self.below, tiles) if self.below > 0 else 1.0

    def _looked(
        self, images: np.ndarray, threshold: float, noisy: list[bool], gains: list[float | np.ndarray]
    ) -> list[np.ndarray]:
        """Boxes (N,5) per image: the wrapped detector's, merged with those of the copies (brightened by
        ``gains``, smoothed) of the images that are dark or ``noisy``."""
        found = self.inner.detect(images, threshold)
        poor = [i for i, (g, n) in enumerate(zip(gains, noisy, strict=True)) if np.ndim(g) or g > 1.0 or n]
        if not poor:
            return found
        copies = np.stack([brightened(images[i], gains[i]) for i in poor])
        for i, more in zip(poor, self.inner.detect(copies, threshold), strict=True):
            found[i] = merged(found[i], more)
        return found

    def detect(self, frames: np.ndarray, threshold: float) -> list[np.ndarray]:
        """Boxes (N,5) per frame: the wrapped detector's, merged with the copies'."""
        noisy = [self._noisy(frame) for frame in frames]
        gains = [self._gain(frame, tiles=True) for frame in frames]
        self._judged = (weakref.ref(frames), noisy, [bool(np.ndim(g)) for g in gains])
        return self._looked(frames, threshold, noisy, gains)

    def detect_crops(
        self, crops: np.ndarray, threshold: float, frames: np.ndarray, owners: Sequence[int]
    ) -> list[np.ndarray]:
        """Boxes (N,5) per magnified crop of ``frames`` (``owners``: each crop's frame): as :meth:`detect`,
        but a crop is noisy when its frame is (enlarging a crop smooths its noise, not what the network
        makes of it). Its light is its own, by tiles only where its frame's was: a crop half dark in a lit
        frame is a dark coat or a head of hair, not a dark scene (by tiles, a street crowd's crops drew
        32 % more boxes, docs/recall.md)."""
        judged = self._judged
        if judged is not None and judged[0]() is frames:  # the batch detect() saw: its verdicts are known
            noisy, tiled = judged[1], judged[2]
        else:
            owned = set(owners)
            noisy = {i: self._noisy(frames[i]) for i in owned}
            tiled = {i: bool(np.ndim(self._gain(frames[i], tiles=True))) for i in owned}
        gains = [self._gain(crop, tiled[i]) for crop, i in zip(crops, owners, strict=True)]
        return self._looked(crops, threshold, [noisy[i] for i in owners], gains)
