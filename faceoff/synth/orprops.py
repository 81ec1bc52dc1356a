"""Operating-room props for the synthetic scenes: the room (background), bodies in gowns, and occluders.

Everything is drawn with OpenCV into float32 RGB (0..255) arrays. A *layer* is
``(x0, y0, premultiplied RGB (h, w, 3), alpha (h, w))`` placed at frame pixel ``(x0, y0)``; shapes get
anti-aliased alpha by drawing them into uint8 masks with ``LINE_AA``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Layer = tuple[int, int, np.ndarray, np.ndarray]

WALLS = ((120, 150, 145), (150, 165, 170), (95, 130, 140), (170, 175, 170), (110, 135, 120), (70, 95, 105))
DRAPES = ((40, 120, 125), (45, 95, 150), (60, 130, 95), (35, 75, 120), (80, 150, 160), (30, 100, 90))
GOWNS = ((55, 95, 155), (40, 125, 130), (70, 125, 95), (40, 60, 100), (105, 145, 185), (85, 110, 150))
METAL = ((185, 190, 195), (150, 155, 160), (210, 212, 215), (120, 125, 130))


def _c(color: tuple[float, ...] | np.ndarray, k: float = 1.0) -> tuple[float, float, float]:
    return tuple(float(min(255.0, v * k)) for v in color[:3])  # type: ignore[return-value]


def pick(rng: np.random.Generator, palette: tuple[tuple[int, int, int], ...]) -> tuple[int, int, int]:
    return tuple(int(v) for v in palette[int(rng.integers(len(palette)))])  # type: ignore[return-value]


def _jitter(rng: np.random.Generator, color: tuple[int, int, int], amount: float = 12) -> tuple[float, ...]:
    return tuple(float(np.clip(c + rng.normal(0, amount), 0, 255)) for c in color)


def _noise(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    n = rng.normal(0, 1, (h, w)).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), sigma)
    return n / max(float(n.std()), 1e-6)


def screen_content(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """What a monitor shows: an endoscope view or vital-sign traces."""
    img = np.zeros((h, w, 3), np.float32)
    if rng.random() < 0.5:  # endoscopic view: a round field of pink-red tissue
        tissue = (
            np.array([200, 90, 80], np.float32) * (1 + 0.25 * _noise(rng, h, w, max(1.0, w / 20)))[..., None]
        )
        m = np.zeros((h, w), np.float32)
        cv2.ellipse(m, (w // 2, h // 2), (int(w * 0.42), int(h * 0.45)), 0, 0, 360, 1.0, -1)
        img = tissue * cv2.GaussianBlur(m, (0, 0), max(1.0, w / 40))[..., None]
        cv2.circle(img, (int(w * rng.uniform(0.3, 0.7)), int(h * 0.4)), max(1, w // 18), (255, 240, 230), -1)
    else:  # vital signs: coloured traces on black
        colors = ((60, 230, 90), (250, 220, 60), (80, 200, 250), (250, 90, 90))
        for k in range(int(rng.integers(2, 5))):
            y0 = (k + 0.7) * h / 5
            xs = np.linspace(2, w * 0.75, 40)
            ys = y0 + np.sin(xs / w * rng.uniform(10, 30)) * h / 16 * rng.random()
            pts = np.stack([xs, ys], 1).astype(np.int32)
            cv2.polylines(img, [pts], False, colors[k], max(1, w // 120))
            cv2.rectangle(img, (int(w * 0.8), int(y0 - h / 14)), (int(w * 0.95), int(y0)), colors[k], -1)
    return img


def background(rng: np.random.Generator, w: int, h: int, unit: float) -> np.ndarray:
    """An operating room seen from the wall or a boom: wall, floor, booms, equipment, monitors, lamps,
    the draped patient and an instrument table. ``unit`` = frame width / 640 (sizes scale with it)."""
    wall_top, wall_bottom = np.array(_jitter(rng, pick(rng, WALLS))), np.array(_jitter(rng, pick(rng, WALLS)))
    ramp = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    bg = np.repeat(wall_top * (1 - ramp) + wall_bottom * ramp * 0.9, w, axis=1).astype(np.float32)
    horizon = int(h * rng.uniform(0.45, 0.7))
    floor = np.array(_jitter(rng, (110, 120, 115), 20), np.float32)
    bg[horizon:] = floor * np.linspace(0.8, 1.0, h - horizon, dtype=np.float32)[:, None, None]
    if rng.random() < 0.5:  # wall tiles / panels
        step = int(rng.uniform(40, 90) * unit)
        for x in range(int(rng.integers(step)), w, step):
            cv2.line(bg, (x, 0), (x, horizon), _c(wall_top, 0.85), max(1, int(unit)))
    for _ in range(int(rng.integers(0, 3))):  # cabinets / anaesthesia machine / equipment
        bw, bh = int(rng.uniform(60, 160) * unit), int(rng.uniform(80, 200) * unit)
        x, y = int(rng.uniform(-0.1, 1.0) * w), int(horizon - bh * rng.uniform(0.3, 0.9))
        col = _jitter(rng, pick(rng, METAL + ((225, 225, 220), (90, 95, 100))))
        cv2.rectangle(bg, (x, y), (x + bw, y + bh), col, -1)
        cv2.rectangle(bg, (x + bw // 6, y + bh // 6), (x + bw * 5 // 6, y + bh // 2), _c(col, 0.5), -1)
        for k in range(int(rng.integers(1, 5))):
            cv2.circle(
                bg, (x + bw // 5 + k * bw // 6, y + bh * 2 // 3), max(1, int(4 * unit)), _c(col, 0.4), -1
            )
    for _ in range(int(rng.integers(1, 4))):  # ceiling booms and lamp arms
        x = int(rng.uniform(0, w))
        ang = rng.uniform(-0.7, 0.7)
        length = rng.uniform(0.2, 0.6) * h
        x2, y2 = int(x + np.sin(ang) * length), int(np.cos(ang) * length)
        cv2.line(
            bg, (x, -5), (x2, y2), _jitter(rng, pick(rng, METAL)), max(2, int(rng.uniform(6, 16) * unit))
        )
    for _ in range(int(rng.integers(1, 3))):  # wall or boom monitors
        mw = int(rng.uniform(70, 150) * unit)
        mh = int(mw * rng.uniform(0.55, 0.7))
        x, y = int(rng.uniform(0, w - mw)), int(rng.uniform(0.02, 0.4) * h)
        cv2.rectangle(bg, (x - 4, y - 4), (x + mw + 4, y + mh + 4), (30, 30, 34), -1)
        bg[y : y + mh, x : x + mw] = screen_content(rng, mw, mh)[: max(0, h - y), : max(0, w - x)]
    for _ in range(int(rng.integers(1, 3))):  # surgical lamps: bright discs with a halo
        r = int(rng.uniform(0.05, 0.11) * w)
        c = (int(rng.uniform(0.1, 0.9) * w), int(rng.uniform(-0.05, 0.25) * h))
        halo = np.zeros((h, w), np.float32)
        cv2.circle(halo, c, int(r * 1.3), 1.0, -1)
        halo = cv2.GaussianBlur(halo, (0, 0), r * 0.6)
        bg += 90 * halo[..., None]
        cv2.circle(bg, c, r, (200, 202, 205), -1)
        cv2.circle(bg, c, int(r * 0.8), (250, 250, 245), -1)
        for k in range(6):
            a = k * np.pi / 3
            cv2.circle(
                bg,
                (int(c[0] + np.cos(a) * r * 0.45), int(c[1] + np.sin(a) * r * 0.45)),
                max(2, r // 6),
                (255, 255, 255),
                -1,
            )
    # the draped patient / table: a large drape across the lower part, with folds
    drape = np.array(_jitter(rng, pick(rng, DRAPES)), np.float32)
    top = int(h * rng.uniform(0.6, 0.8))
    x1, x2 = int(rng.uniform(-0.2, 0.3) * w), int(rng.uniform(0.7, 1.2) * w)
    m = np.zeros((h, w), np.float32)
    pts = np.array(
        [[x1, h], [x1 + int(0.05 * w), top], [x2 - int(0.05 * w), top + int(rng.normal(0, 10))], [x2, h]]
    )
    cv2.fillPoly(m, [pts.astype(np.int32)], 1.0)
    xs = np.arange(w, dtype=np.float32)[None, :]
    folds = 1 + 0.08 * np.sin(xs / (rng.uniform(8, 25) * unit) + 2 * _noise(rng, h, w, 8 * unit))
    bg = bg * (1 - m[..., None]) + (drape * folds[..., None]) * m[..., None]
    if rng.random() < 0.8:  # instrument table: steel with instruments
        tw, th = int(rng.uniform(0.2, 0.4) * w), int(rng.uniform(0.1, 0.2) * h)
        tx, ty = int(rng.uniform(-0.1, 0.9) * w), int(h * rng.uniform(0.72, 0.9))
        cv2.rectangle(bg, (tx, ty), (tx + tw, ty + th), _jitter(rng, (175, 180, 185), 8), -1)
        cv2.rectangle(bg, (tx + 4, ty + 4), (tx + tw - 4, ty + th - 4), _jitter(rng, pick(rng, DRAPES)), -1)
        for _ in range(int(rng.integers(4, 12))):
            ix, iy = int(tx + rng.uniform(0.05, 0.9) * tw), int(ty + rng.uniform(0.15, 0.85) * th)
            length = int(rng.uniform(15, 45) * unit)
            cv2.line(
                bg,
                (ix, iy),
                (ix + length, iy + int(rng.normal(0, 4))),
                _c(pick(rng, METAL), 1.1),
                max(1, int(2 * unit)),
            )
    bg = cv2.GaussianBlur(bg, (0, 0), 0.6 * max(unit, 1.0))
    bg *= (1 + 0.03 * _noise(rng, h, w, 1.0))[..., None]
    return np.clip(bg, 0, 255).astype(np.float32)


def _mask(h: int, w: int) -> np.ndarray:
    return np.zeros((h, w), np.uint8)


def body_layer(
    head_x: float,
    head_y: float,
    rx: float,
    ry: float,
    gown: tuple[float, float, float],
    skin: tuple[float, ...],
    width_factor: float,
    texture: np.ndarray,
) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Shoulders and neck of a person in a gown below a head centred at (head_x, head_y) with radii
    (rx, ry). Returns a layer (x0, y0, premultiplied RGB, alpha)."""
    sw = 2.2 * rx * width_factor
    x0, y0 = int(np.floor(head_x - sw)) - 2, int(np.floor(head_y + 0.3 * ry))
    x1, y1 = int(np.ceil(head_x + sw)) + 2, int(np.ceil(head_y + 8.0 * ry))
    w, h = max(1, x1 - x0), max(1, y1 - y0)
    cx, cy = head_x - x0, head_y - y0
    a = _mask(h, w)
    rgb = np.empty((h, w, 3), np.float32)
    rgb[:] = gown
    tex = cv2.resize(texture, (w, h), interpolation=cv2.INTER_LINEAR)
    rgb *= tex[..., None]
    sh = 8  # fixed-point shift for sub-pixel drawing
    f = float(1 << sh)

    def p(x: float, y: float) -> tuple[int, int]:
        return int(round(x * f)), int(round(y * f))

    # torso: neck opening, rounded shoulders, straight sides
    ang = np.linspace(0, np.pi / 2, 8)
    right = [
        (cx + 0.5 * rx + (sw - 0.5 * rx) * np.sin(a), cy + 0.8 * ry + 1.0 * ry * (1 - np.cos(a))) for a in ang
    ]
    outline = right + [(cx + sw, cy + 8.0 * ry), (cx - sw, cy + 8.0 * ry)]
    outline += [(2 * cx - x, y) for x, y in reversed(right)]
    cv2.fillPoly(a, [np.array([p(x, y) for x, y in outline], np.int32)], 255, cv2.LINE_AA, sh)
    neck = np.array(
        [
            p(cx - 0.5 * rx, cy + 0.3 * ry),
            p(cx + 0.5 * rx, cy + 0.3 * ry),
            p(cx + 0.55 * rx, cy + 1.05 * ry),
            p(cx - 0.55 * rx, cy + 1.05 * ry),
        ],
        np.int32,
    )
    cv2.fillConvexPoly(a, neck, 255, cv2.LINE_AA, sh)
    cv2.fillConvexPoly(rgb, neck, _c(skin, 0.8), cv2.LINE_8, sh)
    vneck = np.array(
        [p(cx - 0.6 * rx, cy + 0.9 * ry), p(cx + 0.6 * rx, cy + 0.9 * ry), p(cx, cy + 1.6 * ry)], np.int32
    )
    cv2.fillConvexPoly(rgb, vneck, _c(skin, 0.7), cv2.LINE_8, sh)
    alpha = a.astype(np.float32) / 255.0
    return x0, y0, rgb * alpha[..., None], alpha


@dataclass(frozen=True)
class Occluder:
    """One occlusion event: a shape of some ``kind`` on frames ``start .. end - 1`` at per-frame positions."""

    kind: str  # "hand", "lamp", "monitor" or "passerby"
    start: int
    end: int
    xy: np.ndarray  # (end - start, 2) centre in frame pixels
    size: float  # reference size in pixels (the target's face width; frame height for passers-by)
    angle: float  # radians: arm direction (hand), boom direction (lamp, monitor)
    color: tuple[int, int, int]  # glove (hand), metal (lamp), gown (passer-by)
    color2: tuple[int, int, int]  # sleeve (hand)
    target: int  # person id it was aimed at (-1: none)
    blur: float  # defocus sigma in pixels (close to the camera)
    screen: np.ndarray | None = None


def occluder_layer(occ: Occluder, t: int, frame_w: int, frame_h: int) -> Layer | None:
    """The occluder's layer on frame ``t`` (None when it is not on screen)."""
    if not occ.start <= t < occ.end:
        return None
    cx, cy = (float(v) for v in occ.xy[t - occ.start])
    s = occ.size
    if occ.kind == "hand":
        ext = 3.6 * s
    elif occ.kind in ("lamp", "monitor"):  # their arms reach in from outside the frame
        ext = max(frame_w, frame_h) * 1.2
    else:
        ext = s * 0.9
    pad = int(3 * occ.blur) + 2
    x0 = max(int(cx - ext) - pad, -pad)
    y0 = max(int(cy - ext) - pad, -pad)
    x1 = min(int(cx + ext) + pad, frame_w + pad)
    y1 = min(int(cy + ext) + pad, frame_h + pad)
    if x1 <= x0 or y1 <= y0:
        return None
    w, h = x1 - x0, y1 - y0
    lx, ly = cx - x0, cy - y0
    a = _mask(h, w)
    rgb = np.zeros((h, w, 3), np.float32)
    sh = 4
    f = float(1 << sh)

    def p(x: float, y: float) -> tuple[int, int]:
        return int(round(x * f)), int(round(y * f))

    def thick_line(
        img: np.ndarray, q0: tuple[float, float], q1: tuple[float, float], width: float, col
    ) -> None:
        cv2.line(
            img,
            p(*q0),
            p(*q1),
            col,
            max(1, int(round(width))),
            cv2.LINE_AA if img.dtype == np.uint8 else cv2.LINE_8,
            sh,
        )

    ca, sa = np.cos(occ.angle), np.sin(occ.angle)
    if occ.kind == "hand":
        glove, sleeve = occ.color, occ.color2
        wrist = (lx + ca * 0.65 * s, ly + sa * 0.65 * s)
        elbow = (lx + ca * 3.5 * s, ly + sa * 3.5 * s)
        cuff = (lx + ca * 1.3 * s, ly + sa * 1.3 * s)
        for img, val in ((a, 255), (rgb, None)):
            c_arm = val if val is not None else _c(sleeve)
            c_glove = val if val is not None else _c(glove)
            thick_line(img, cuff, elbow, 0.62 * s, c_arm)
            thick_line(img, wrist, cuff, 0.5 * s, c_glove)
            cv2.ellipse(
                img,
                p(lx, ly),
                p(0.42 * s, 0.52 * s),
                float(np.degrees(occ.angle)) + 90,
                0,
                360,
                c_glove,
                -1,
                cv2.LINE_AA if val is not None else cv2.LINE_8,
                sh,
            )
            for k in range(4):  # fingers, pointing away from the arm
                off = (k - 1.5) * 0.2 * s
                base = (lx - ca * 0.3 * s - sa * off, ly - sa * 0.3 * s + ca * off)
                tip = (base[0] - ca * 0.55 * s, base[1] - sa * 0.55 * s)
                thick_line(img, base, tip, 0.16 * s, c_glove)
            thumb = (lx - sa * 0.5 * s, ly + ca * 0.5 * s)
            thick_line(img, (lx, ly), (thumb[0] - ca * 0.3 * s, thumb[1] - sa * 0.3 * s), 0.17 * s, c_glove)
        rgb *= 0.9 + 0.1 * np.linspace(1, 0, h, dtype=np.float32)[:, None, None]
    elif occ.kind == "lamp":
        r = 1.3 * s
        far = (lx - ca * 3 * ext, ly - sa * 3 * ext)
        metal = _c(occ.color)
        thick_line(a, (lx, ly), far, 0.45 * s, 255)
        thick_line(rgb, (lx, ly), far, 0.45 * s, metal)
        cv2.circle(a, p(lx, ly), int(r * f), 255, -1, cv2.LINE_AA, sh)
        cv2.circle(rgb, p(lx, ly), int(r * f), _c(occ.color, 0.9), -1, cv2.LINE_8, sh)
        cv2.circle(rgb, p(lx, ly), int(r * 0.75 * f), (245, 245, 240), -1, cv2.LINE_8, sh)
        cv2.circle(rgb, p(lx, ly), int(r * 0.2 * f), _c(occ.color, 0.7), -1, cv2.LINE_8, sh)
    elif occ.kind == "monitor":
        mw, mh = 1.6 * s, 1.0 * s
        far = (lx - ca * 3 * ext, ly - sa * 3 * ext)
        thick_line(a, (lx, ly), far, 0.15 * s, 255)
        thick_line(rgb, (lx, ly), far, 0.15 * s, (150, 155, 160))
        tl, br = p(lx - mw, ly - mh), p(lx + mw, ly + mh)
        cv2.rectangle(a, tl, br, 255, -1, cv2.LINE_AA, sh)
        cv2.rectangle(rgb, tl, br, (28, 28, 32), -1, cv2.LINE_8, sh)
        if occ.screen is not None:
            bx0, by0 = int(lx - mw * 0.9), int(ly - mh * 0.85)
            bx1, by1 = int(lx + mw * 0.9), int(ly + mh * 0.85)
            sx0, sy0, sx1, sy1 = max(bx0, 0), max(by0, 0), min(bx1, w), min(by1, h)
            if sx1 > sx0 and sy1 > sy0 and bx1 > bx0 and by1 > by0:
                scr = cv2.resize(occ.screen, (bx1 - bx0, by1 - by0))
                rgb[sy0:sy1, sx0:sx1] = scr[sy0 - by0 : sy1 - by0, sx0 - bx0 : sx1 - bx0]
    else:  # a passer-by close to the camera: a big, out-of-focus gowned shape
        cv2.ellipse(a, p(lx, ly), p(0.55 * s, 0.8 * s), 0, 0, 360, 255, -1, cv2.LINE_AA, sh)
        rgb[:] = _c(occ.color)
        rgb *= 0.85 + 0.15 * np.linspace(1, 0, w, dtype=np.float32)[None, :, None]
    alpha = a.astype(np.float32) / 255.0
    prem = rgb * alpha[..., None]
    if occ.blur > 0.3:
        prem = cv2.GaussianBlur(prem, (0, 0), occ.blur)
        alpha = cv2.GaussianBlur(alpha, (0, 0), occ.blur)
    return x0, y0, prem, alpha
