"""Training augmentation: surgical masks and caps drawn on annotated faces, crops, flips, light.

Masks and caps are drawn in 2D over the face box (the box itself does not change: the face is still
there, hairline to chin), in the colours of :mod:`faceoff.synth.heads`:

* mask: from 45-58 % of the box height (nose) to just below the chin, cheek to cheek with the lower
  corners drawn in towards the chin, a nose-bridge arch at the top, pleats or a centre seam, shading,
  ear loops, soft edges;
* cap: a dome from about a third of the box height above the box down over the hairline (8-22 % into
  the box), a little wider than the face, sometimes printed, with a darker rim.

Each is drawn only inside a window around the face (nothing is computed over the whole frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from faceoff.synth.heads import CAPS, MASKS
from faceoff.training.data import Sample

__all__ = ["Augmenter", "Crop", "draw_cap", "draw_mask", "photometric"]

MIN_FACE = 8.0  # faces narrower than this (pixels) get no mask or cap
KEEP_VISIBLE = 0.5  # a face cut by the crop to less than this share of its box becomes ignored


def _jitter(rng: np.random.Generator, color: tuple[int, int, int], amount: float = 14) -> np.ndarray:
    return np.clip(np.asarray(color, np.float32) + rng.uniform(-amount, amount, 3), 0, 255)


def _blend(img: np.ndarray, x0: int, y0: int, layer: np.ndarray, alpha: np.ndarray) -> None:
    """Alpha-blend ``layer`` (h,w,3 float) into ``img`` at (x0, y0), clipped to the image, in place."""
    h, w = alpha.shape
    H, W = img.shape[:2]
    ax0, ay0 = max(0, -x0), max(0, -y0)
    bx0, by0 = max(0, x0), max(0, y0)
    bx1, by1 = min(W, x0 + w), min(H, y0 + h)
    if bx1 <= bx0 or by1 <= by0:
        return
    a = alpha[ay0 : ay0 + by1 - by0, ax0 : ax0 + bx1 - bx0, None]
    lay = layer[ay0 : ay0 + by1 - by0, ax0 : ax0 + bx1 - bx0]
    roi = img[by0:by1, bx0:bx1].astype(np.float32)
    img[by0:by1, bx0:bx1] = np.clip(roi * (1 - a) + lay * a, 0, 255).astype(np.uint8)


def _window(box: np.ndarray, above: float, below: float, side: float) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    return (
        int(np.floor(x1 - side * w)) - 2,
        int(np.floor(y1 - above * h)) - 2,
        int(np.ceil(x2 + side * w)) + 2,
        int(np.ceil(y2 + below * h)) + 2,
    )


def draw_mask(img: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> None:
    """Draw a surgical mask over the lower face of ``box`` (x1 y1 x2 y2) in ``img`` (uint8 RGB), in place."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    wx0, wy0, wx1, wy1 = _window(box, 0.0, 0.15, 0.15)
    ww, wh = wx1 - wx0, wy1 - wy0
    top = y1 + h * rng.uniform(0.45, 0.58) - wy0
    bottom = y2 + h * rng.uniform(0.0, 0.08) - wy0
    left = x1 + w * rng.uniform(-0.03, 0.06) - wx0
    right = x2 - w * rng.uniform(-0.03, 0.06) - wx0
    mid = (left + right) / 2
    inset = (right - left) * rng.uniform(0.08, 0.2)
    arch = h * rng.uniform(0.02, 0.06)
    poly = np.array(
        [
            (left, top + arch),
            (mid - (right - left) * 0.2, top),
            (mid, top - arch),
            (mid + (right - left) * 0.2, top),
            (right, top + arch),
            (right - inset * 0.3, (top + bottom) / 2),
            (right - inset, bottom),
            (left + inset, bottom),
            (left + inset * 0.3, (top + bottom) / 2),
        ],
        np.float32,
    )
    shift = 4  # sub-pixel polygon vertices
    pts = np.round(poly * (1 << shift)).astype(np.int32)
    alpha = np.zeros((wh, ww), np.float32)
    cv2.fillPoly(alpha, [pts], 1.0, cv2.LINE_AA, shift)
    color = _jitter(rng, MASKS[int(rng.integers(len(MASKS)))])
    shade = np.linspace(1.06, 0.88, wh, dtype=np.float32)[:, None, None]
    grain = 1 + 0.03 * rng.standard_normal((wh, ww, 1)).astype(np.float32)
    layer = np.ascontiguousarray(np.broadcast_to(color, (wh, ww, 3)) * shade * grain, dtype=np.float32)
    dark = tuple(float(c) * 0.8 for c in color)
    thick = max(1, round(h / 60))
    if rng.random() < 0.75:  # pleats
        for k in range(1, 4):
            yy = top + (bottom - top) * k / 4.2
            cv2.line(layer, (int(left), int(yy)), (int(right), int(yy + h * 0.01)), dark, thick, cv2.LINE_AA)
    else:  # duckbill / moulded: a centre seam
        cv2.line(layer, (int(mid), int(top - arch)), (int(mid), int(bottom)), dark, thick, cv2.LINE_AA)
    if h >= 24:
        alpha = cv2.GaussianBlur(alpha, (0, 0), max(0.5, h / 120))
    _blend(img, wx0, wy0, layer, alpha * rng.uniform(0.9, 1.0))
    if w >= 20:  # ear loops towards the box sides
        loop = (235.0, 235.0, 235.0)
        for yy in (top + arch, top + (bottom - top) * 0.7):
            for xa, xb in ((left, left - w * 0.12), (right, right + w * 0.12)):
                p1 = (int(xa + wx0), int(yy + wy0))
                p2 = (int(xb + wx0), int(yy + wy0 - h * 0.06))
                cv2.line(img, p1, p2, loop, 1, cv2.LINE_AA)


def draw_cap(img: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> None:
    """Draw a surgical cap over the top of the head above ``box`` in ``img`` (uint8 RGB), in place."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    wx0, wy0, wx1, wy1 = _window(box, 0.5, 0.0, 0.2)
    ww, wh = wx1 - wx0, wy1 - wy0
    bouffant = rng.random() < 0.35
    cx = (x1 + x2) / 2 - wx0 + w * rng.uniform(-0.04, 0.04)
    rim = y1 + h * rng.uniform(0.08, 0.22) - wy0
    half_w = w * (rng.uniform(0.55, 0.62) if not bouffant else rng.uniform(0.62, 0.72))
    dome = h * (rng.uniform(0.3, 0.4) if not bouffant else rng.uniform(0.4, 0.5))
    alpha = np.zeros((wh, ww), np.float32)
    centre = (int(round(cx * 16)), int(round(rim * 16)))
    axes = (int(round(half_w * 16)), int(round(dome * 16)))
    cv2.ellipse(alpha, centre, axes, 0, 180, 360, 1.0, -1, cv2.LINE_AA, 4)
    band = h * 0.04  # a straight band at the forehead below the dome's widest line
    cv2.rectangle(alpha, (int(cx - half_w), int(rim)), (int(cx + half_w), int(rim + band)), 1.0, -1)
    color = _jitter(rng, CAPS[int(rng.integers(len(CAPS)))])
    grain = 1 + (0.06 if not bouffant else 0.12) * rng.standard_normal((wh, ww, 1)).astype(np.float32)
    layer = np.ascontiguousarray(np.broadcast_to(color, (wh, ww, 3)) * grain, dtype=np.float32)
    if rng.random() < 0.2:  # printed fabric
        accent = tuple(float(c) for c in _jitter(rng, CAPS[int(rng.integers(len(CAPS)))]))
        for _ in range(int(ww * wh / max(30.0, (h / 6) ** 2))):
            p = (int(rng.integers(ww)), int(rng.integers(wh)))
            cv2.circle(layer, p, max(1, round(h / 30)), accent, -1)
    rim_y = int(rim + band)
    cv2.line(
        layer, (int(cx - half_w), rim_y), (int(cx + half_w), rim_y), tuple(float(c) * 0.7 for c in color)
    )
    if h >= 24:
        alpha = cv2.GaussianBlur(alpha, (0, 0), max(0.5, h / 120))
    _blend(img, wx0, wy0, layer, alpha)


def photometric(img: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Brightness, contrast, per-channel gain, gamma, sensor noise and sometimes defocus blur."""
    x = img.astype(np.float32) / 255.0
    x = x ** float(np.exp(rng.uniform(-0.35, 0.35) * strength))  # gamma
    mean = float(x.mean())
    x = (x - mean) * (1 + rng.uniform(-0.3, 0.3) * strength) + mean  # contrast
    x = x * (1 + rng.uniform(-0.4, 0.4) * strength)  # brightness
    x = x * (1 + rng.uniform(-0.08, 0.08, 3).astype(np.float32) * strength)  # white balance
    if rng.random() < 0.5 * strength:
        x = x + rng.standard_normal(x.shape).astype(np.float32) * rng.uniform(0, 0.025)
    out = np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.2 * strength:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.5, 1.5)))
    return out


@dataclass
class Crop:
    """An augmented training crop."""

    image: np.ndarray  # (crop, crop, 3) uint8
    boxes: np.ndarray  # (N, 4) float32
    ignore: np.ndarray  # (N,) bool


@dataclass
class Augmenter:
    """Sample -> augmented square crop (masks/caps, scale, crop around a face, flip, light)."""

    crop: int = 512
    mask_prob: float = 0.4
    cap_prob: float = 0.4
    scale_range: tuple[float, float] = (0.6, 1.5)
    face_centred: float = 0.8  # chance the crop is placed around a face (else anywhere)
    flip: bool = True
    light: float = 1.0  # photometric strength (0: none)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Crop:
        img = sample.image
        faces = np.flatnonzero(~sample.ignore)
        widths = sample.boxes[:, 2] - sample.boxes[:, 0]
        if self.mask_prob > 0 or self.cap_prob > 0:
            img = img.copy()
            for i in faces:
                if widths[i] < MIN_FACE:
                    continue
                if not sample.masked[i] and rng.random() < self.mask_prob:
                    draw_mask(img, sample.boxes[i], rng)
                if rng.random() < self.cap_prob:
                    draw_cap(img, sample.boxes[i], rng)
        lo, hi = np.log(self.scale_range[0]), np.log(self.scale_range[1])
        scale = float(np.exp(rng.uniform(lo, hi)))
        span = self.crop / scale  # crop side in source pixels
        H, W = img.shape[:2]
        if len(faces) and rng.random() < self.face_centred:
            b = sample.boxes[int(rng.choice(faces))]
            cx = (b[0] + b[2]) / 2 + rng.uniform(-0.35, 0.35) * span
            cy = (b[1] + b[3]) / 2 + rng.uniform(-0.35, 0.35) * span
        else:
            cx, cy = rng.uniform(0, W), rng.uniform(0, H)
        # keep the crop over the image where it can be
        cx = float(np.clip(cx, min(span / 2, W / 2), max(W - span / 2, W / 2)))
        cy = float(np.clip(cy, min(span / 2, H / 2), max(H - span / 2, H / 2)))
        x0, y0 = cx - span / 2, cy - span / 2
        m = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], np.float32)
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        out = cv2.warpAffine(img, m, (self.crop, self.crop), flags=interp, borderValue=(114, 114, 114))
        boxes = (sample.boxes - np.float32([x0, y0, x0, y0])) * scale
        area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
        clipped = np.clip(boxes, 0, self.crop)
        visible = np.clip(clipped[:, 2] - clipped[:, 0], 0, None) * np.clip(
            clipped[:, 3] - clipped[:, 1], 0, None
        )
        keep = visible > 0
        ignore = sample.ignore | (visible < KEEP_VISIBLE * np.maximum(area, 1e-6))
        boxes, ignore = clipped[keep], ignore[keep]
        if self.flip and rng.random() < 0.5:
            out = np.ascontiguousarray(out[:, ::-1])
            boxes = np.stack([self.crop - boxes[:, 2], boxes[:, 1], self.crop - boxes[:, 0], boxes[:, 3]], 1)
        if self.light > 0:
            out = photometric(out, rng, self.light)
        return Crop(out, boxes.astype(np.float32).reshape(-1, 4), ignore.astype(bool))
