"""Hide face regions in frames: Gaussian blur (default), pixelation or solid fill; ellipse or rectangle.

All work happens inside each (enlarged) box's region of interest: nothing is computed over the whole
frame per box. The blur's sigma scales with the box, so a large face is blurred as hard as a small one.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from faceoff.config import RenderConfig


@dataclass(frozen=True)
class Region:
    """An integer pixel region ``[x1, x2) x [y1, y2)`` inside the frame."""

    x1: int
    y1: int
    x2: int
    y2: int

    @property
    def empty(self) -> bool:
        return self.x2 <= self.x1 or self.y2 <= self.y1


def scale_boxes(boxes: np.ndarray, factor: float, width: int, height: int) -> list[Region]:
    """Enlarge (N,4) ``x1 y1 x2 y2`` boxes about their centres; clip to the frame, rounding outwards."""
    regions = []
    for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        hw, hh = (x2 - x1) * factor / 2, (y2 - y1) * factor / 2
        regions.append(
            Region(
                max(0, int(np.floor(cx - hw))),
                max(0, int(np.floor(cy - hh))),
                min(width, int(np.ceil(cx + hw))),
                min(height, int(np.ceil(cy + hh))),
            )
        )
    return regions


def _blurred(roi: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with a large sigma, computed on a downscaled copy (same result, far cheaper)."""
    h, w = roi.shape[:2]
    shrink = max(1.0, sigma / 3.0)
    sw, sh = max(1, round(w / shrink)), max(1, round(h / shrink))
    small = cv2.resize(roi, (sw, sh), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=sigma / shrink, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _pixelated(roi: np.ndarray, blocks: int) -> np.ndarray:
    h, w = roi.shape[:2]
    bw, bh = max(1, min(blocks, w)), max(1, min(blocks, h))
    small = cv2.resize(roi, (bw, bh), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def _mask(h: int, w: int, shape: str) -> np.ndarray:
    if shape == "rectangle":
        return np.ones((h, w), dtype=bool)
    yy, xx = np.ogrid[:h, :w]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    ry, rx = max(h / 2, 0.5), max(w / 2, 0.5)
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def anonymize_frame(frame: np.ndarray, boxes: np.ndarray, cfg: RenderConfig) -> np.ndarray:
    """Hide every box of ``boxes`` (N,4) in ``frame`` (H,W,3 uint8, modified in place and returned)."""
    height, width = frame.shape[:2]
    for region in scale_boxes(boxes, cfg.box_scale, width, height):
        if region.empty:
            continue
        roi = frame[region.y1 : region.y2, region.x1 : region.x2]
        h, w = roi.shape[:2]
        if cfg.method == "blur":
            hidden = _blurred(roi, cfg.blur_strength * max(h, w) / cfg.box_scale)
        elif cfg.method == "pixelate":
            hidden = _pixelated(roi, cfg.pixel_blocks)
        else:
            hidden = np.empty_like(roi)
            hidden[:] = np.asarray(cfg.fill_color, dtype=np.uint8)
        mask = _mask(h, w, cfg.shape)
        roi[mask] = hidden[mask]
    return frame


def covered_mask(boxes: np.ndarray, cfg: RenderConfig, width: int, height: int) -> np.ndarray:
    """Boolean (H,W) mask of the pixels :func:`anonymize_frame` replaces for ``boxes``."""
    mask = np.zeros((height, width), dtype=bool)
    for r in scale_boxes(boxes, cfg.box_scale, width, height):
        if not r.empty:
            mask[r.y1 : r.y2, r.x1 : r.x2] |= _mask(r.y2 - r.y1, r.x2 - r.x1, cfg.shape)
    return mask
