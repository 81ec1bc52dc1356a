"""The built-in demo: a short, deterministic OR-like clip made from a public-domain face photo.

``skimage.data.astronaut()`` (NASA, public domain) provides the face. Two "people" move over a
drape-coloured background; surgical masks and caps go on part-way, a lamp arm sweeps across one of
them. Exact ground-truth boxes (with ``masked``/``occluded``/``ignore`` flags) are written next to the
video in the box-table schema, so the demo report shows recall before and after regularisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import skimage.data

from faceoff.boxes import DETECTION_SCHEMA, write_boxes
from faceoff.synth.clips import write_clip

WIDTH, HEIGHT, FPS, FRAMES = 640, 360, 25.0, 125
CROP = (150, 20, 295, 200)  # x1 y1 x2 y2 of the head in astronaut()
FACE = (178, 60, 264, 168)  # the face box in astronaut(), hairline to chin
DEMO_ID = "or_demo"
DEMO_TAGS = {
    "creation_time": "2024-03-01T08:15:00Z",
    "location": "+51.5074-000.1278/",
    "comment": "OR 3, patient 12345",
}


@dataclass(frozen=True)
class Sprite:
    """A head image with alpha, and its face box in sprite pixels."""

    rgb: np.ndarray
    alpha: np.ndarray
    face: tuple[float, float, float, float]


def _head(masked: bool, flip: bool, scale: float, gain: float) -> Sprite:
    img = skimage.data.astronaut()[CROP[1] : CROP[3], CROP[0] : CROP[2]].astype(np.float32)
    h, w = img.shape[:2]
    fx1, fy1, fx2, fy2 = (FACE[0] - CROP[0], FACE[1] - CROP[1], FACE[2] - CROP[0], FACE[3] - CROP[1])
    alpha = np.zeros((h, w), np.float32)
    cv2.ellipse(alpha, (w // 2, h // 2), (w // 2 - 2, h // 2 - 2), 0, 0, 360, 1.0, -1)
    if masked:
        cap = (60.0, 120.0, 170.0)
        cv2.ellipse(
            img, (int((fx1 + fx2) / 2), int(fy1 + 8)), (int((fx2 - fx1) * 0.75), 38), 0, 180, 360, cap, -1
        )
        mask = (150.0, 195.0, 225.0)
        pts = np.array(
            [[fx1 - 4, fy1 + 62], [fx2 + 4, fy1 + 62], [fx2 - 6, fy2 + 4], [fx1 + 6, fy2 + 4]], np.int32
        )
        cv2.fillConvexPoly(img, pts, mask)
    img = np.clip(img * gain, 0, 255)
    if flip:
        img, alpha = img[:, ::-1], alpha[:, ::-1]
        fx1, fx2 = w - fx2, w - fx1
    size = (round(w * scale), round(h * scale))
    rgb = cv2.resize(np.ascontiguousarray(img), size, interpolation=cv2.INTER_AREA)
    alpha = cv2.GaussianBlur(cv2.resize(np.ascontiguousarray(alpha), size), (0, 0), 2)
    return Sprite(rgb, alpha, (fx1 * scale, fy1 * scale, fx2 * scale, fy2 * scale))


def _background(rng: np.random.Generator) -> np.ndarray:
    ramp = np.linspace(0, 1, WIDTH, dtype=np.float32)[None, :, None]
    bg = np.array([20, 95, 95], np.float32) * (1 - ramp) + np.array([35, 125, 115], np.float32) * ramp
    bg = np.repeat(bg, HEIGHT, axis=0)
    cv2.rectangle(bg, (0, 270), (260, 360), (150, 155, 160), -1)  # instrument table
    cv2.circle(bg, (560, 30), 45, (230, 230, 215), -1)  # OR lamp
    return np.clip(bg + rng.normal(0, 3, bg.shape), 0, 255).astype(np.float32)


def _paste(frame: np.ndarray, sprite: Sprite, x: int, y: int) -> tuple[float, float, float, float]:
    """Alpha-blend ``sprite`` at (x, y) (may be partly outside); return its face box in frame pixels."""
    h, w = sprite.alpha.shape
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + w, WIDTH), min(y + h, HEIGHT)
    if x2 > x1 and y2 > y1:
        a = sprite.alpha[y1 - y : y2 - y, x1 - x : x2 - x, None]
        frame[y1:y2, x1:x2] = frame[y1:y2, x1:x2] * (1 - a) + sprite.rgb[y1 - y : y2 - y, x1 - x : x2 - x] * a
    f = sprite.face
    return (x + f[0], y + f[1], x + f[2], y + f[3])


def _visible(box: tuple[float, float, float, float]) -> tuple[tuple[float, float, float, float], float]:
    x1, y1, x2, y2 = box
    cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, WIDTH), min(y2, HEIGHT)
    area = (x2 - x1) * (y2 - y1)
    inside = max(0.0, cx2 - cx1) * max(0.0, cy2 - cy1)
    return (cx1, cy1, cx2, cy2), inside / area


def demo_frames() -> tuple[np.ndarray, pd.DataFrame]:
    """All frames (N,H,W,3 uint8) of the demo clip and its ground-truth box table."""
    rng = np.random.default_rng(7)
    bg = _background(rng)
    a_plain, a_masked = _head(False, False, 0.8, 1.0), _head(True, False, 0.8, 1.0)
    b_masked = _head(True, True, 0.55, 0.85)
    frames = np.empty((FRAMES, HEIGHT, WIDTH, 3), np.uint8)
    rows = []
    for t in range(FRAMES):
        frame = bg.copy()
        masked_a = t >= 50
        xa = int(-40 + 3.6 * t)
        ya = int(70 + 12 * np.sin(t / 9))
        box_a = _paste(frame, a_masked if masked_a else a_plain, xa, ya)
        xb, yb = int(470 + 10 * np.sin(t / 15)), 140
        box_b = _paste(frame, b_masked, xb, yb)
        arm = None
        if 70 <= t < 100:  # the lamp arm sweeps across person B
            ax = int(420 + (t - 70) * 6)
            arm = (ax, 0, ax + 45, HEIGHT)
            cv2.rectangle(frame, arm[:2], (arm[2], arm[3]), (185, 185, 190), -1)
        for box, masked in ((box_a, masked_a), (box_b, True)):
            vis, frac = _visible(box)
            occluded = False
            if arm is not None:
                overlap = max(0.0, min(vis[2], arm[2]) - max(vis[0], arm[0])) / max(1e-6, vis[2] - vis[0])
                occluded = overlap > 0.3
            if frac > 0:
                rows.append((t, t / FPS, *vis, 1.0, frac < 0.5, masked, occluded))
        frames[t] = frame.astype(np.uint8)
    gt = pd.DataFrame(
        rows,
        columns=["frame_index", "pts_time", "x1", "y1", "x2", "y2", "score", "ignore", "masked", "occluded"],
    )
    return frames, gt


def write_demo(folder: str | Path = "demo/videos", annotations: str | Path | None = None) -> list[Path]:
    """Write the demo clip (with an audio track and identifying tags) and its annotations.

    Annotations go to ``annotations`` (default: ``annotations/`` beside ``folder``).
    """
    folder = Path(folder)
    ann_dir = Path(annotations) if annotations else folder.parent / "annotations"
    folder.mkdir(parents=True, exist_ok=True)
    frames, gt = demo_frames()
    video = write_clip(folder / f"{DEMO_ID}.mp4", frames, fps=FPS, audio=True, metadata=DEMO_TAGS)
    meta = {
        "stage": "annotations",
        "source": "faceoff demo",
        "width": WIDTH,
        "height": HEIGHT,
        "frame_count": FRAMES,
    }
    ann = ann_dir / f"{DEMO_ID}.parquet"
    write_boxes(gt, ann, meta, DETECTION_SCHEMA)
    return [Path(video), ann]
