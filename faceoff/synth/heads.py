"""Synthetic heads for the operating-room scenes, made from one public-domain face photo.

``skimage.data.astronaut()`` (NASA portrait of Eileen Collins, public domain) is the only face source.
Variety comes from a head model rather than from more photos: the photo is the front of an ellipsoid
("sphere" in normalised coordinates) whose back and sides are procedural hair and surgical cap, so a
head can be rendered at any yaw (left/right turn, up to the back of the head), pitch (looking down at
the table) and roll (in-plane tilt). Features compress towards the silhouette as the head turns, exactly
as they would on a round head, and the ground-truth face box follows the same projection.

Per person: horizontal flip, skin tone (CIE Lab lightness and warmth), hair colour, surgical mask
(pleated, duckbill, or pulled down under the chin), cap (skull cap or bouffant, plain or printed),
glasses or surgical loupes, a face shield and a headlight, each drawn on the textures in head
coordinates so they turn with the head.

Face region: hairline/forehead to chin, cheek to cheek (WIDER FACE style); in the photo it is the box
``FACE``; it spans +-60 degrees of the head's horizontal circumference, so at 90 degrees of yaw half the
face (nose to one cheek) is still visible and beyond about 105 degrees only the cheek edge is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np
import skimage.data

# Geometry of the photo (astronaut() pixels).
FACE = (178.0, 60.0, 264.0, 168.0)  # face box: hairline to chin, cheek to cheek
HEAD_C = (221.0, 93.5)  # head ellipse centre
HEAD_R = (50.0, 78.5)  # head ellipse radii: the face's half width is sin(60 deg) of the horizontal one
EYES = ((202.0, 100.0), (247.0, 101.0))
FACE_W = FACE[2] - FACE[0]  # 86 px: scale 1.0 means a face this wide
BACK_W, BACK_H = 256, 128  # back texture: longitude (-pi..pi) x latitude (v = -1..1)

SKIN_TONES = (1.0, 0.92, 0.8, 0.68, 0.56, 0.45)  # Lab lightness factors (light .. dark skin)
HAIR = ((40, 30, 25), (70, 48, 32), (115, 80, 50), (170, 140, 95), (150, 148, 145), (120, 60, 35))
CAPS = (
    (55, 95, 165),
    (120, 170, 215),
    (60, 135, 105),
    (40, 120, 130),
    (222, 224, 228),
    (35, 50, 95),
    (150, 105, 160),
    (175, 70, 70),
)
MASKS = ((150, 195, 225), (160, 205, 175), (228, 230, 232), (120, 175, 220), (215, 205, 185))
GLOVES = ((235, 225, 200), (95, 120, 200), (120, 90, 170), (175, 145, 110), (240, 240, 240))


@dataclass(frozen=True)
class Look:
    """The appearance of one person."""

    flip: bool = False
    skin: float = 1.0  # Lab lightness factor
    warmth: float = 0.0  # added to Lab b* (yellow) and a* (red)/2
    hair: tuple[int, int, int] = HAIR[2]
    cap: tuple[int, int, int] | None = None
    bouffant: bool = False
    cap_print: bool = False
    mask: str | None = None  # "pleated", "duckbill", "down" (under the chin: face visible) or None
    mask_color: tuple[int, int, int] = MASKS[0]
    glasses: str | None = None  # "glasses", "loupes" or None
    shield: bool = False
    headlight: bool = False

    @property
    def masked(self) -> bool:
        """Whether mouth and nose are covered."""
        return self.mask in ("pleated", "duckbill")


def random_look(rng: np.random.Generator, p_mask: float, p_cap: float, p_glasses: float = 0.2) -> Look:
    """A random appearance: mask with probability ``p_mask`` (a few pulled down), cap with ``p_cap``."""
    mask = None
    if rng.random() < p_mask:
        mask = str(
            rng.choice(["pleated", "pleated", "pleated", "duckbill", "down"], p=[0.3, 0.3, 0.2, 0.1, 0.1])
        )
    capped = rng.random() < p_cap
    glasses = None
    if rng.random() < p_glasses:
        glasses = "loupes" if rng.random() < 0.4 else "glasses"
    return Look(
        flip=bool(rng.random() < 0.5),
        skin=float(rng.choice(SKIN_TONES)) * float(rng.uniform(0.95, 1.05)),
        warmth=float(rng.uniform(-3, 8)),
        hair=tuple(int(c) for c in HAIR[rng.integers(len(HAIR))]),
        cap=tuple(int(c) for c in CAPS[rng.integers(len(CAPS))]) if capped else None,
        bouffant=bool(capped and rng.random() < 0.35),
        cap_print=bool(capped and rng.random() < 0.2),
        mask=mask,
        mask_color=tuple(int(c) for c in MASKS[rng.integers(len(MASKS))]),
        glasses=glasses,
        shield=bool(mask is not None and rng.random() < 0.08),
        headlight=bool(capped and glasses == "loupes" and rng.random() < 0.5),
    )


@lru_cache(maxsize=1)
def _photo() -> np.ndarray:
    return skimage.data.astronaut().astype(np.float32)


def _tone(rgb: np.ndarray, skin: float, warmth: float) -> np.ndarray:
    """Shift skin tone: scale Lab lightness, add warmth; float32 RGB 0..255 in and out."""
    lab = cv2.cvtColor(np.clip(rgb / 255.0, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)
    lab[..., 0] *= skin
    lab[..., 1] += warmth / 2 + (1 - skin) * 6  # darker skin: a little redder and more saturated
    lab[..., 2] += warmth + (1 - skin) * 10
    return cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255.0


def _fabric(rng: np.random.Generator, shape: tuple[int, int], strength: float, streak: int = 1) -> np.ndarray:
    """Multiplicative texture noise around 1 (``streak`` > 1 stretches it vertically, like hair)."""
    noise = rng.normal(0, 1, shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), sigmaX=0.8, sigmaY=0.8 * streak)
    noise /= max(float(noise.std()), 1e-6)
    return 1.0 + strength * noise


@dataclass
class HeadTexture:
    """Front texture (photo with mask/glasses, RGBA: alpha = face skin/mask, 0 = show hair/cap) and the
    back texture (longitude x latitude: hair/neck RGB, and the cap RGBA), at base scale."""

    front: np.ndarray  # (Hf, Wf, 4) float32
    hair: np.ndarray  # (BACK_H, BACK_W, 3) float32
    cap: np.ndarray  # (BACK_H, BACK_W, 4) float32, alpha 0 where there is no cap
    skin_rgb: tuple[float, float, float]
    look: Look
    origin: tuple[float, float]  # head centre in front-texture pixels
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def back(self) -> np.ndarray:
        """Hair RGB and cap RGBA stacked (BACK_H, BACK_W, 7), for a single remap."""
        if "back" not in self._cache:
            self._cache["back"] = np.ascontiguousarray(np.dstack([self.hair, self.cap]))
        return self._cache["back"]

    def scaled_front(self, scale: float) -> tuple[np.ndarray, float]:
        """The front texture resized to about ``scale`` (quarter-octave steps, area interpolation when
        shrinking) and the exact factor used; cached."""
        key = round(float(np.log2(max(scale, 1e-3))) * 4)  # quarter-octave steps
        cache = self._cache
        if key not in cache:
            s = 2.0 ** (key / 4)
            h, w = self.front.shape[:2]
            size = (max(4, round(w * s)), max(4, round(h * s)))
            interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
            cache[key] = (cv2.resize(self.front, size, interpolation=interp), size[0] / w)
        return cache[key]


def _shade(rgb: np.ndarray, k: float) -> tuple[float, float, float]:
    return tuple(float(c) * k for c in rgb)  # type: ignore[return-value]


def _lat(y: float) -> float:
    """Photo row -> head latitude coordinate v (-1 top .. 1 bottom)."""
    return (y - HEAD_C[1]) / HEAD_R[1]


def build_texture(look: Look, rng: np.random.Generator) -> HeadTexture:
    """Textures of a head with the given look (``rng`` only adds fabric/hair grain)."""
    photo = _photo()
    cx, cy = HEAD_C
    rx, ry = HEAD_R
    pad = 4
    x0, y0 = int(cx - rx) - pad, int(cy - ry) - pad
    x1, y1 = int(np.ceil(cx + rx)) + pad, int(np.ceil(cy + ry)) + pad
    rgb = _tone(photo[y0:y1, x0:x1].copy(), look.skin, look.warmth)
    h, w = rgb.shape[:2]
    ox, oy = cx - x0, cy - y0  # head centre in texture pixels

    def pt(x: float, y: float) -> tuple[int, int]:
        return int(round(x - x0)), int(round(y - y0))

    alpha = np.zeros((h, w), np.float32)
    fcx, fcy = (FACE[0] + FACE[2]) / 2, (FACE[1] + FACE[3]) / 2
    cv2.ellipse(alpha, pt(fcx, fcy + 2), (45, 57), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 3.5)
    cheek = rgb[int(125 - y0) : int(140 - y0), int(190 - x0) : int(200 - x0)].reshape(-1, 3).mean(axis=0)
    skin_rgb = tuple(float(c) for c in cheek)

    if look.glasses:
        for ex, ey in EYES:
            if look.glasses == "loupes":
                cv2.circle(rgb, pt(ex, ey + 2), 11, (28, 28, 32), -1)
                cv2.circle(rgb, pt(ex, ey + 2), 7, (55, 60, 70), -1)
                cv2.circle(rgb, pt(ex - 2, ey), 2, (170, 175, 185), -1)
            else:
                cv2.ellipse(rgb, pt(ex, ey + 1), (13, 10), 0, 0, 360, (30, 28, 28), 2)
        if look.glasses == "glasses":
            cv2.line(rgb, pt(EYES[0][0] + 13, 99), pt(EYES[1][0] - 13, 99), (30, 28, 28), 2)
        else:
            cv2.rectangle(rgb, pt(EYES[0][0] - 14, 86), pt(EYES[1][0] + 14, 90), (35, 35, 38), -1)
    if look.mask:
        color = np.array(look.mask_color, np.float32)
        top = 150.0 if look.mask == "down" else 111.0
        bottom = cy + ry + 2
        if look.mask == "duckbill":
            poly = [(172, top + 8), (198, top - 2), (221, top - 5), (244, top - 2), (270, top + 8)]
            poly += [(268, 150), (245, bottom), (197, bottom), (174, 150)]
        else:
            poly = [(174, top + 3), (200, top), (221, top - 4), (242, top), (268, top + 3)]
            poly += [(266, bottom), (176, bottom)]
        pts = np.array([pt(x, y) for x, y in poly], np.int32)
        m = np.zeros((h, w), np.float32)
        cv2.fillPoly(m, [pts], 1.0)
        grain = _fabric(rng, (h, w), 0.03)[..., None]
        shade = np.linspace(1.05, 0.9, h, dtype=np.float32)[:, None, None]
        layer = color * grain * shade
        if look.mask == "pleated":
            for k in range(3):
                yy = top + 14 + k * 13
                if yy < bottom - 4:
                    cv2.line(layer, pt(176, yy), pt(266, yy + 1), tuple(float(c) * 0.82 for c in color), 1)
        else:
            cv2.line(layer, pt(221, top - 4), pt(221, bottom), tuple(float(c) * 0.85 for c in color), 1)
        m = cv2.GaussianBlur(m, (0, 0), 0.7)[..., None]
        rgb = rgb * (1 - m) + layer * m
        for yy in (top + 6, top + 40):  # ear loops / ties towards the ears
            cv2.line(rgb, pt(172, min(yy, 160)), pt(x0 + 1, min(yy, 160) - 8), (235, 235, 235), 1)
        alpha = np.maximum(alpha, m[..., 0])
    if look.shield:
        band = np.zeros((h, w), np.float32)
        cv2.rectangle(band, pt(170, 62), pt(272, 172), 1.0, -1)
        glare = np.zeros((h, w), np.float32)
        cv2.line(glare, pt(190, 62), pt(250, 172), 1.0, 7)
        glare = cv2.GaussianBlur(glare, (0, 0), 3)
        rgb = rgb * (1 - 0.12 * band[..., None]) + 255 * 0.35 * (glare * band)[..., None]
    front = np.dstack([np.clip(rgb, 0, 255), alpha]).astype(np.float32)
    if look.flip:
        front = np.ascontiguousarray(front[:, ::-1])
        ox = w - 1 - ox

    # back texture: longitude theta (-pi .. pi, 0 = front) x latitude v (-1 .. 1)
    theta = np.linspace(-np.pi, np.pi, BACK_W, dtype=np.float32)[None, :]
    lat = np.linspace(-1, 1, BACK_H, dtype=np.float32)[:, None]
    back_mix = (1 - np.cos(theta)) / 2  # 0 front .. 1 back
    hair_edge = -0.45 + 0.95 * back_mix + 0.05 * np.sin(theta * 7)  # hairline .. nape
    hair_col = np.array(look.hair, np.float32)
    skin = np.array(skin_rgb, np.float32)
    hair_a = np.clip((hair_edge - lat) * 12, 0, 1)[..., None]
    hair = hair_col * _fabric(rng, (BACK_H, BACK_W), 0.15, streak=4)[..., None]
    hair = hair * hair_a + skin * 0.92 * (1 - hair_a)
    ear_y = int(round((_lat(118.0) + 1) / 2 * (BACK_H - 1)))
    for lon in (-np.pi / 2, np.pi / 2):  # ears, from eye level to the bottom of the nose
        c = (int(round((lon / np.pi + 1) / 2 * (BACK_W - 1))), ear_y)
        cv2.ellipse(hair, c, (9, 17), 0, 0, 360, _shade(skin, 0.86), -1, cv2.LINE_AA)
        cv2.ellipse(hair, c, (9, 17), 0, 0, 360, _shade(skin, 0.62), 1, cv2.LINE_AA)
        cv2.ellipse(hair, (c[0], c[1] + 2), (5, 10), 0, 0, 360, _shade(skin, 0.6), -1, cv2.LINE_AA)
    cap = np.zeros((BACK_H, BACK_W, 4), np.float32)
    if look.cap is not None:
        front_edge = _lat(68.0) if not look.bouffant else _lat(64.0)
        back_edge = 0.3 if not look.bouffant else 0.55
        cap_edge = front_edge + (back_edge - front_edge) * back_mix
        if not look.bouffant:  # a skull cap leaves the ears and a little hair at the sides
            cap_edge = cap_edge - 0.12 * np.sin(theta) ** 2
        cap_a = np.clip((cap_edge - lat) * 25, 0, 1)
        col = np.array(look.cap, np.float32)
        fabric = col * _fabric(rng, (BACK_H, BACK_W), 0.06 if not look.bouffant else 0.12)[..., None]
        if look.cap_print:
            dots = np.zeros((BACK_H, BACK_W), np.float32)
            for _ in range(60):
                cv2.circle(dots, (int(rng.integers(BACK_W)), int(rng.integers(BACK_H))), 3, 1.0, -1)
            accent = np.array(CAPS[int(rng.integers(len(CAPS)))], np.float32)
            fabric = fabric * (1 - dots[..., None]) + accent * dots[..., None]
        # a darker rim where the cap meets the forehead
        rim = np.clip(1 - np.abs(cap_edge - 0.04 - lat) * 20, 0, 1)[..., None]
        fabric = fabric * (1 - 0.25 * rim)
        if look.headlight:
            c = (BACK_W // 2, int((front_edge - 0.1 + 1) / 2 * (BACK_H - 1)))
            cv2.circle(fabric, c, 7, (70, 70, 75), -1)
            cv2.circle(fabric, c, 4, (255, 255, 245), -1)
        cap = np.dstack([np.clip(fabric, 0, 255), cap_a]).astype(np.float32)
    return HeadTexture(front, hair.astype(np.float32), cap, skin_rgb, look, (ox, oy))


def rotation(yaw: float, pitch: float) -> np.ndarray:
    """Head-to-camera rotation (radians): pitch (positive = looking down) then yaw (positive = turning
    towards the image's right)."""
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]], np.float64)
    rx = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]], np.float64)
    return ry @ rx


def _face_points() -> tuple[np.ndarray, np.ndarray]:
    """Points of the face ellipse (boundary, interior) in unit head coordinates (u, v, z)."""
    fcx, fcy = (FACE[0] + FACE[2]) / 2, (FACE[1] + FACE[3]) / 2
    u0, v0 = (fcx - HEAD_C[0]) / HEAD_R[0], (fcy - HEAD_C[1]) / HEAD_R[1]
    a, b = (FACE[2] - FACE[0]) / 2 / HEAD_R[0], (FACE[3] - FACE[1]) / 2 / HEAD_R[1]
    t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    boundary = np.stack([u0 + a * np.cos(t), v0 + b * np.sin(t)], axis=1)
    g = np.linspace(-1, 1, 15)
    gu, gv = np.meshgrid(g, g)
    keep = gu**2 + gv**2 <= 1
    interior = np.stack([u0 + a * gu[keep], v0 + b * gv[keep]], axis=1)

    def lift(p: np.ndarray) -> np.ndarray:
        z = np.sqrt(np.clip(1 - p[:, 0] ** 2 - p[:, 1] ** 2, 0, None))
        return np.column_stack([p, z])

    return lift(boundary), lift(interior)


FACE_BOUNDARY, FACE_INTERIOR = _face_points()
FACE_ANNOTATION = np.concatenate([FACE_BOUNDARY, FACE_INTERIOR])
FACE_HALF_U = (FACE[2] - FACE[0]) / 2 / HEAD_R[0]  # the cheek contour: sin(60 degrees)


@dataclass(frozen=True)
class FaceView:
    """Where a rendered head's face is: its box in patch pixels and how much of it faces the camera."""

    box: tuple[float, float, float, float]  # visible face (or, when turned away, where it would be)
    visible: float  # share of the face area turned towards the camera, 0..1
    frontal_width: float  # face width in pixels if it were frontal at this scale


EAR_LONGITUDE = np.radians(85.0)  # a turned face's box reaches back to just before the ear


def _towards_ear(points: np.ndarray, yaw: float) -> np.ndarray:
    """Face points with the half that turns towards the camera stretched in longitude from the cheek
    contour (+-60 degrees) towards the ear, fully from 45 degrees of yaw on: a frontal face's box stays
    cheek to cheek, a profile's spans nose to ear, as annotators draw them."""
    s = min(1.0, abs(yaw) / np.radians(45.0))
    if s == 0:
        return points
    u, v, z = points[:, 0], points[:, 1], points[:, 2]
    rho = np.sqrt(np.clip(1 - v * v, 0, None))
    lon = np.arctan2(u, z)
    cheek = np.arcsin(FACE_HALF_U)
    stretch = 1 + s * (EAR_LONGITUDE / cheek - 1)
    near = u * np.sign(yaw) < 0
    lon = np.where(near, lon * stretch, lon)
    return np.column_stack([rho * np.sin(lon), v, rho * np.cos(lon)])


def face_view(scale: float, yaw: float, pitch: float, roll: float, centre: tuple[float, float]) -> FaceView:
    """Project the face region of a head with centre ``centre`` (pixels) and the given pose.

    ``visible`` is the share of the face region turned towards the camera. The box bounds the visible
    part of the region (towards the ear on the near side once the head turns, see
    :func:`_towards_ear`); when less than 5 % is visible it bounds where the face would be.
    """
    m = rotation(yaw, pitch)
    visible = float(((FACE_INTERIOR @ m.T)[:, 2] > 0.02).mean())
    cam = _towards_ear(FACE_ANNOTATION, yaw) @ m.T
    pts = cam[cam[:, 2] > 0.02] if visible >= 0.05 else cam
    rx, ry = HEAD_R[0] * scale, HEAD_R[1] * scale
    x, y = pts[:, 0] * rx, pts[:, 1] * ry
    cr, sr = np.cos(roll), np.sin(roll)
    px, py = cr * x - sr * y + centre[0], sr * x + cr * y + centre[1]
    box = (float(px.min()), float(py.min()), float(px.max()), float(py.max()))
    return FaceView(box, visible, FACE_W * scale)


def render_head(
    tex: HeadTexture,
    scale: float,
    yaw: float,
    pitch: float,
    roll: float,
    light: tuple[float, float, float] = (0.25, -0.45, 0.86),
    offset: tuple[float, float] = (0.0, 0.0),
) -> tuple[np.ndarray, np.ndarray, int]:
    """Render a head: (premultiplied RGB (S,S,3) float32, alpha (S,S), c) with the head centre at
    pixel ``(c + offset[0], c + offset[1])`` of the square patch (offsets below one pixel place it
    between pixel centres)."""
    rx, ry = HEAD_R[0] * scale, HEAD_R[1] * scale
    half = int(np.ceil(max(rx, ry))) + 3
    size = 2 * half + 1
    d = np.arange(size, dtype=np.float32) - half
    dx, dy = np.meshgrid(d - np.float32(offset[0]), d - np.float32(offset[1]))
    cr, sr = np.float32(np.cos(roll)), np.float32(np.sin(roll))
    u = (cr * dx + sr * dy) / np.float32(rx)
    v = (-sr * dx + cr * dy) / np.float32(ry)
    r2 = u * u + v * v
    z = np.sqrt(np.clip(1 - r2, 0, None))
    m = rotation(yaw, pitch).astype(np.float32)  # camera = m @ head  ->  head = m.T @ camera
    us = m[0, 0] * u + m[1, 0] * v + m[2, 0] * z
    vs = m[0, 1] * u + m[1, 1] * v + m[2, 1] * z
    zs = m[0, 2] * u + m[1, 2] * v + m[2, 2] * z
    front, s_tex = tex.scaled_front(scale)
    ox, oy = tex.origin
    fx = (ox + us * HEAD_R[0]) * s_tex
    fy = (oy + vs * HEAD_R[1]) * s_tex
    f = cv2.remap(front, fx, fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    lon = np.arctan2(us, zs)
    bx = ((lon / np.float32(np.pi) + 1) / 2 * (BACK_W - 1)).astype(np.float32)
    by = ((np.clip(vs, -1, 1) + 1) / 2 * (BACK_H - 1)).astype(np.float32)
    back = cv2.remap(tex.back, bx, by, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    hair, cap, ca = back[..., :3], back[..., 3:6], back[..., 6:7]
    fa = f[..., 3:4] * (zs > 0)[..., None]
    rgb = ca * cap + (1 - ca) * (fa * f[..., :3] + (1 - fa) * hair)
    lx, ly, lz = light
    lambert = np.clip(u * lx + v * ly + z * lz, 0, 1)
    rgb *= (0.55 + 0.45 * lambert**0.8)[..., None]
    edge = min(rx, ry)
    alpha = np.clip((1 - np.sqrt(r2)) * edge + 0.5, 0, 1).astype(np.float32)
    return rgb * alpha[..., None], alpha, half
