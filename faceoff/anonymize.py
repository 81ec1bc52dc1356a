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
    """A hidden region: pixels ``[x1, x2) x [y1, y2)`` inside the frame, and the full (unclipped)
    extent ``[ex1, ex2) x [ey1, ey2)`` the ellipse is fitted to, so a face at the frame edge is hidden
    by the same ellipse as anywhere else."""

    x1: int
    y1: int
    x2: int
    y2: int
    ex1: int
    ey1: int
    ex2: int
    ey2: int

    @property
    def empty(self) -> bool:
        return self.x2 <= self.x1 or self.y2 <= self.y1


def scale_boxes(
    boxes: np.ndarray, factor: float, width: int, height: int, min_margin: float = 0.0
) -> list[Region]:
    """Enlarge (N,4) ``x1 y1 x2 y2`` boxes about their centres by ``factor``, and by at least
    ``min_margin`` pixels on each side (rounding outwards); clip to the frame."""
    regions = []
    for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        hw = max((x2 - x1) * factor, x2 - x1 + 2 * min_margin) / 2
        hh = max((y2 - y1) * factor, y2 - y1 + 2 * min_margin) / 2
        ex1, ey1 = int(np.floor(cx - hw)), int(np.floor(cy - hh))
        ex2, ey2 = int(np.ceil(cx + hw)), int(np.ceil(cy + hh))
        regions.append(
            Region(max(0, ex1), max(0, ey1), min(width, ex2), min(height, ey2), ex1, ey1, ex2, ey2)
        )
    return regions


def hidden_regions(boxes: np.ndarray, cfg: RenderConfig, width: int, height: int) -> list[Region]:
    """The regions the render stage hides for ``boxes`` (N,4) on a ``width`` x ``height`` frame."""
    return scale_boxes(boxes, cfg.box_scale, width, height, cfg.min_margin)


def region_mask(region: Region, x0: int, y0: int, x1: int, y1: int, shape: str) -> np.ndarray:
    """Boolean mask of ``region``'s hidden pixels over the frame window ``[x0, x1) x [y0, y1)``."""
    yy = np.arange(y0, y1, dtype=np.float64)[:, None]
    xx = np.arange(x0, x1, dtype=np.float64)[None, :]
    inside = (yy >= region.y1) & (yy < region.y2) & (xx >= region.x1) & (xx < region.x2)
    if shape == "rectangle":
        return inside
    h, w = region.ey2 - region.ey1, region.ex2 - region.ex1
    cy, cx = region.ey1 + (h - 1) / 2, region.ex1 + (w - 1) / 2
    ry, rx = max(h / 2, 0.5), max(w / 2, 0.5)
    return inside & (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0)


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


def anonymize_frame(frame: np.ndarray, boxes: np.ndarray, cfg: RenderConfig) -> np.ndarray:
    """Hide every box of ``boxes`` (N,4) in ``frame`` (H,W,3 uint8, modified in place and returned)."""
    height, width = frame.shape[:2]
    for region in hidden_regions(boxes, cfg, width, height):
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
        mask = region_mask(region, region.x1, region.y1, region.x2, region.y2, cfg.shape)
        _copy_where(roi, hidden, mask)
    return frame


def _copy_where(dst: np.ndarray, src: np.ndarray, mask: np.ndarray) -> None:
    """``dst[mask] = src[mask]`` in place: cv2.copyTo (~100x faster) where OpenCV can wrap ``dst``'s layout
    (not, e.g., a rotated view with negative strides), else numpy."""
    try:
        if cv2.copyTo(src, mask.view(np.uint8), dst) is dst:
            return
    except cv2.error:
        pass
    np.copyto(dst, src, where=mask[..., None])


def covered_mask(boxes: np.ndarray, cfg: RenderConfig, width: int, height: int) -> np.ndarray:
    """Boolean (H,W) mask of the pixels :func:`anonymize_frame` replaces for ``boxes``."""
    mask = np.zeros((height, width), dtype=bool)
    for r in hidden_regions(boxes, cfg, width, height):
        if not r.empty:
            mask[r.y1 : r.y2, r.x1 : r.x2] |= region_mask(r, r.x1, r.y1, r.x2, r.y2, cfg.shape)
    return mask
