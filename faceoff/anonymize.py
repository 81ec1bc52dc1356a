"""Hide face regions in frames: Gaussian blur (default), pixelation or solid fill; ellipse or rectangle.

All work happens inside each (enlarged) box's region of interest: nothing is computed over the whole
frame per box. The blur's sigma scales with the box, so a large face is blurred as hard as a small one.

Two frame forms, one set of regions: :func:`anonymize_frame` hides them on an RGB frame,
:func:`anonymize_yuv` on the Y, U and V planes of a raw YUV frame (:mod:`faceoff.yuv`, what the render
stage encodes). On the planes each region is hidden plane by plane: luma inside the region's exact shape;
chroma at its own resolution, over every chroma sample that any hidden luma pixel uses (a 2x2 block in
4:2:0), with the blur's sigma scaled to the plane. A fill colour is converted to limited-range BT.601.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from faceoff import yuv
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


def _hidden(roi: np.ndarray, cfg: RenderConfig, sigma: float, fill: int | tuple[int, ...]) -> np.ndarray:
    """``roi``'s replacement by ``cfg.method``: blurred with ``sigma`` (pixels of this plane or frame),
    pixelated, or filled with ``fill``."""
    if cfg.method == "blur":
        return _blurred(roi, sigma)
    if cfg.method == "pixelate":
        return _pixelated(roi, cfg.pixel_blocks)
    hidden = np.empty_like(roi)
    hidden[:] = np.asarray(fill, dtype=np.uint8)
    return hidden


def _sigma(region: Region, cfg: RenderConfig) -> float:
    """The blur's sigma in frame pixels: ``blur_strength`` of the (unenlarged) box's larger side."""
    return cfg.blur_strength * max(region.y2 - region.y1, region.x2 - region.x1) / cfg.box_scale


def anonymize_frame(frame: np.ndarray, boxes: np.ndarray, cfg: RenderConfig) -> np.ndarray:
    """Hide every box of ``boxes`` (N,4) in ``frame`` (H,W,3 uint8, modified in place and returned)."""
    height, width = frame.shape[:2]
    for region in hidden_regions(boxes, cfg, width, height):
        if region.empty:
            continue
        roi = frame[region.y1 : region.y2, region.x1 : region.x2]
        mask = region_mask(region, region.x1, region.y1, region.x2, region.y2, cfg.shape)
        _copy_where(roi, _hidden(roi, cfg, _sigma(region, cfg), cfg.fill_color), mask)
    return frame


def anonymize_yuv(
    planes: list[np.ndarray],
    boxes: np.ndarray,
    cfg: RenderConfig,
    *,
    color_range: str = "tv",
    color_matrix: str = "unknown",
) -> None:
    """Hide every box of ``boxes`` (N,4) on a frame's ``[Y, U, V]`` planes (uint8, in place): chroma at
    full size (4:4:4) or at half width and height (4:2:0, even frame size). ``color_range`` and
    ``color_matrix`` (the source's, :class:`faceoff.probe.ProbeInfo`) give the fill colour's codes."""
    luma, cb, cr = planes
    height, width = luma.shape
    s = 0 if cb.shape == luma.shape else 1
    if s and (cb.shape != (height // 2, width // 2) or height % 2 or width % 2):
        raise ValueError(f"chroma planes {cb.shape} do not fit a 4:2:0 frame of {width}x{height}")
    fill_y, fill_u, fill_v = yuv.rgb_to_yuv(cfg.fill_color, color_range, color_matrix)
    for region in hidden_regions(boxes, cfg, width, height):
        if region.empty:
            continue
        sigma = _sigma(region, cfg)
        # chroma window: the samples any luma pixel of the region uses (the region itself in 4:4:4)
        cx1, cy1 = region.x1 >> s, region.y1 >> s
        cx2, cy2 = -(-region.x2 >> s), -(-region.y2 >> s)
        window = region_mask(region, cx1 << s, cy1 << s, cx2 << s, cy2 << s, cfg.shape)
        lx, ly = region.x1 - (cx1 << s), region.y1 - (cy1 << s)
        mask = window[ly : ly + region.y2 - region.y1, lx : lx + region.x2 - region.x1]
        roi = luma[region.y1 : region.y2, region.x1 : region.x2]
        _copy_where(roi, _hidden(roi, cfg, sigma, fill_y), mask)
        if s:  # a chroma sample is hidden when any luma pixel of its 2x2 block is
            window = window[0::2, 0::2] | window[1::2, 0::2] | window[0::2, 1::2] | window[1::2, 1::2]
        for plane, fill in ((cb, fill_u), (cr, fill_v)):
            roi = plane[cy1:cy2, cx1:cx2]
            _copy_where(roi, _hidden(roi, cfg, sigma / (1 << s), fill), window)


def _copy_where(dst: np.ndarray, src: np.ndarray, mask: np.ndarray) -> None:
    """``dst[mask] = src[mask]`` in place: cv2.copyTo (~100x faster) where OpenCV can wrap ``dst``'s layout
    (not, e.g., a rotated view with negative strides), else numpy."""
    try:
        if cv2.copyTo(src, mask.view(np.uint8), dst) is dst:
            return
    except cv2.error:
        pass
    np.copyto(dst, src, where=mask if dst.ndim == 2 else mask[..., None])


def covered_mask(boxes: np.ndarray, cfg: RenderConfig, width: int, height: int) -> np.ndarray:
    """Boolean (H,W) mask of the pixels :func:`anonymize_frame` replaces for ``boxes``."""
    mask = np.zeros((height, width), dtype=bool)
    for r in hidden_regions(boxes, cfg, width, height):
        if not r.empty:
            mask[r.y1 : r.y2, r.x1 : r.x2] |= region_mask(r, r.x1, r.y1, r.x2, r.y2, cfg.shape)
    return mask
