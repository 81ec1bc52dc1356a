"""A synthetic operating-room benchmark: seeded clips with exact, per-frame face ground truth.

The scene: an OR (wall, floor, booms, equipment, monitors, surgical lamps, a draped patient and an
instrument table; colours and layout vary with the seed), and ``n_people`` staff in gowns whose heads
(:mod:`faceoff.synth.heads`, from the public-domain ``skimage.data.astronaut()`` portrait) move along
smooth random paths, some walking in or out at the frame edges, with fast head or camera movements,
head turns (up to the back of the head), looking down at the table and in-plane tilt. Staff wear
surgical masks and caps (probabilities ``p_mask``/``p_cap``), sometimes glasses, loupes or a face
shield. Occluders (gloved hands and arms, lamp heads on their arms, boom monitors, out-of-focus
passers-by close to the camera) pass in front of faces for a few to about 25 frames; people also hide
each other. Fast movement gets motion blur along its direction (shutter fraction ``motion_blur``),
the camera may shake or pan, out-of-focus depths get defocus blur, and the light changes: global level
ramps (lights dimmed or switched), flicker, a moving spotlight that can overexpose faces, white
balance, vignetting and light-dependent sensor noise; the written video is H.264 at ``crf``.

Ground truth (:func:`generate_scene`): one row per person per frame whose face box touches the frame.
The box is the face region (hairline to chin, cheek to cheek, like WIDER FACE) as projected with the
head's pose: for a turned head the visible part of the face, clipped to the frame. Columns:
``frame_index``, ``pts_time`` (index / fps), ``x1 y1 x2 y2``, ``score`` (1.0), ``track_id`` (person),
flags ``masked`` (mouth and nose covered), ``occluded`` (> 30 % of the box hidden by something in
front), ``ignore`` (back of the head: less than 35 % of the face turned to the camera; less than 40 %
of the face box inside the frame; visible face narrower than 10 px; or more than 85 % of it hidden:
not a visible face), and diagnostics ``yaw`` (degrees), ``facing`` (share of the face turned to the
camera), ``occlusion`` (share of the box hidden), ``inside`` (share of the box inside the frame) and
``face_width`` (frontal face width in pixels at the current distance).

Everything derives from ``(SceneConfig, seed)``: the same pair gives identical frames and ground truth.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pyarrow as pa

from faceoff.boxes import BASE_FIELDS, write_boxes
from faceoff.synth.clips import write_clip
from faceoff.synth.heads import (
    FACE_W,
    GLOVES,
    HEAD_R,
    FaceView,
    HeadTexture,
    build_texture,
    face_view,
    random_look,
    render_head,
)
from faceoff.synth.orprops import (
    GOWNS,
    METAL,
    Layer,
    Occluder,
    background,
    body_layer,
    occluder_layer,
    pick,
    screen_content,
)

GENERATOR_VERSION = 1  # bump whenever the output for a given (config, seed) changes: it keys caches
IGNORE_FACING = 0.35  # less of the face turned towards the camera: back of the head
IGNORE_INSIDE = 0.4  # less of the face box inside the frame
IGNORE_WIDTH = 10.0  # visible face narrower than this (pixels)
OCCLUDED_AT = 0.3  # more of the face box hidden: occluded
HIDDEN_AT = 0.85  # more of it hidden: not a visible face (ignore)
GT_FIELDS = [pa.field("track_id", pa.int64())] + [
    pa.field(name, pa.float32()) for name in ("yaw", "facing", "occlusion", "inside", "face_width")
]
GT_SCHEMA = pa.schema(BASE_FIELDS + GT_FIELDS)
OCCLUDER_KINDS = ("hand", "lamp", "monitor", "passerby")


@dataclass(frozen=True)
class SceneConfig:
    """All knobs of a scene. Rates are events per second; sizes in pixels of this frame size."""

    width: int = 640
    height: int = 360
    fps: float = 25.0
    n_frames: int = 150
    n_people: int = 3
    face_px: tuple[int, int] = (24, 110)  # frontal face widths, drawn log-uniformly per person
    p_mask: float = 0.7  # a surgical mask (a tenth of them pulled down under the chin: not masked)
    p_cap: float = 0.7
    p_glasses: float = 0.2  # glasses or surgical loupes
    speed: float = 0.05  # typical head speed, frame widths per second
    fast_rate: float = 0.05  # fast head movements, per person per second
    turn_rate: float = 0.15  # head turns, per person per second
    turn_away: float = 0.2  # share of turns that end showing the back of the head
    occluder_rate: float = 0.25  # occlusion events per second (hands, lamps, monitors, passers-by)
    occluder_frames: tuple[int, int] = (3, 25)  # how long an occluder covers its target face
    entries_exits: float = 0.25  # chance that a person walks in (and, separately, out) at a frame edge
    camera_motion: float = 0.0  # camera shake/pan amplitude (1.0: about 4 % of the frame width) and whips
    blur: float = 0.6  # defocus: sigma in pixels at 640 px width, scaled with the frame
    motion_blur: float = 0.5  # shutter open fraction of the frame interval (0: no motion blur)
    light_changes: float = 0.03  # global light-level changes per second
    flicker: float = 0.02  # frame-to-frame gain flicker (relative)
    spotlight: float = 0.3  # chance of a moving spotlight that can overexpose faces
    noise: float = 2.0  # sensor noise sigma in grey levels at full light (more when dim)
    crf: int = 23  # H.264 quality of the written clip (real OR recordings are compressed)

    def scene_hash(self, seed: int) -> str:
        """Identifies the clip this config and seed generate (for caching)."""
        payload = json.dumps({"v": GENERATOR_VERSION, "seed": int(seed), "cfg": asdict(self)}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _away(ti: int, start: int, tc: int, d: int, n_in: int, n_out: int) -> float:
    """How far an occluder is from its covering place at frame ``ti``: 1 (away) easing to 0 over the
    ``n_in`` frames from ``start``, 0 for the ``d`` frames from ``tc``, back to 1 over ``n_out``."""
    if ti < tc:
        return 1 - _smoothstep((ti - start) / n_in)
    if ti >= tc + d:
        return _smoothstep((ti - tc - d + 1) / n_out)
    return 0.0


def _keyframed(n: int, keys: list[tuple[float, float]]) -> np.ndarray:
    """Values at frames 0..n-1 from (frame, value) keys, eased (smoothstep) between consecutive keys."""
    keys = sorted(keys)
    kt = np.array([k[0] for k in keys], np.float64)
    kv = np.array([k[1] for k in keys], np.float64)
    t = np.arange(n, dtype=np.float64)
    if len(kt) == 1:
        return np.full(n, kv[0])
    i = np.clip(np.searchsorted(kt, t, side="right") - 1, 0, len(kt) - 2)
    f = _smoothstep((t - kt[i]) / np.maximum(kt[i + 1] - kt[i], 1e-9))
    return kv[i] + (kv[i + 1] - kv[i]) * f


def _events(
    rng: np.random.Generator,
    n: int,
    fps: float,
    rate: float,
    start: float,
    target: Callable[[], float],
    *,
    ramp: tuple[float, float],
    hold: tuple[float, float],
    p_return: float,
    rest: Callable[[], float],
) -> np.ndarray:
    """A value that starts at ``start`` and, at Poisson times (``rate`` per second), eases to
    ``target()`` over ``ramp`` frames, holds for ``hold`` frames, then (with ``p_return``) eases back to
    ``rest()``."""
    keys = [(-1.0, start)]
    cur, t = start, 0.0
    fscale = fps / 25.0
    while rate > 0:
        t += rng.exponential(fps / rate)
        if t >= n:
            break
        goal, r1 = target(), rng.uniform(*ramp) * fscale
        keys += [(t, cur), (t + r1, goal)]
        t += r1 + rng.uniform(*hold) * fscale
        cur = goal
        if rng.random() < p_return:
            back, r2 = rest(), rng.uniform(*ramp) * fscale
            keys += [(t, cur), (t + r2, back)]
            t += r2
            cur = back
    keys.append((max(t, n) + 1.0, cur))
    return _keyframed(n, keys)


@dataclass
class _Person:
    pid: int
    tex: HeadTexture
    x: np.ndarray  # head centre, world pixels (screen = world - camera)
    y: np.ndarray
    scale: np.ndarray  # head scale: frontal face width / FACE_W
    yaw: np.ndarray  # radians
    pitch: np.ndarray
    roll: np.ndarray
    gown: tuple[float, float, float]
    fabric: np.ndarray
    defocus: float
    views: list[FaceView] = field(default_factory=list)


def _person(rng: np.random.Generator, cfg: SceneConfig, pid: int, n: int) -> _Person:
    W, H, fps = cfg.width, cfg.height, cfg.fps
    t = np.arange(n) / fps
    look = random_look(rng, cfg.p_mask, cfg.p_cap, cfg.p_glasses)
    tex = build_texture(look, rng)
    lo, hi = cfg.face_px
    f0 = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    scale = f0 * np.exp(0.12 * np.sin(2 * np.pi * rng.uniform(0.02, 0.12) * t + rng.uniform(0, 2 * np.pi)))
    scale = np.clip(scale, lo, hi) / FACE_W
    x = np.full(n, rng.uniform(0.08, 0.92) * W)
    y = np.full(n, rng.uniform(0.2, 0.62) * H)
    for _ in range(3):  # smooth wandering
        f = rng.uniform(0.03, 0.35)
        amp = min(cfg.speed * W * rng.uniform(0.2, 0.6) / (2 * np.pi * f), 0.25 * W)
        x += amp * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        y += 0.35 * amp * np.sin(2 * np.pi * rng.uniform(0.03, 0.35) * t + rng.uniform(0, 2 * np.pi))
    frames = np.arange(n, dtype=np.float64)
    for _ in range(rng.poisson(cfg.fast_rate * n / fps)):  # quick moves: 10-90 px per frame at 640x360
        t0 = rng.uniform(-5, n)
        dur = rng.uniform(3, 8) * fps / 25
        dist = rng.uniform(0.08, 0.3) * W
        xi = x[int(np.clip(t0, 0, n - 1))]
        sign = -np.sign(xi - W / 2) if rng.random() < 0.7 else np.sign(xi - W / 2)
        ang = rng.normal(0, 0.4)
        step = _smoothstep((frames - t0) / dur)
        x += sign * dist * np.cos(ang) * step
        y += dist * np.sin(ang) * 0.5 * step
    y = np.clip(y, 0.08 * H, 0.8 * H)
    half_body = 2.5 * HEAD_R[0] * scale.max() + 4
    walk = rng.uniform(0.15, 0.35) * W / fps  # pixels per frame
    if rng.random() < cfg.entries_exits:  # walks in from the nearer side edge
        t_in = rng.uniform(-0.1, 0.5) * n
        x_in = x[int(np.clip(t_in, 0, n - 1))]
        dist = (x_in + half_body) if x_in < W / 2 else (W - x_in + half_body)
        sign = -1.0 if x_in < W / 2 else 1.0
        x += sign * dist * (1 - _smoothstep((frames - t_in) / (dist / walk)))
    if rng.random() < cfg.entries_exits:  # walks out
        t_out = rng.uniform(0.4, 1.0) * n
        x_out = x[int(np.clip(t_out, 0, n - 1))]
        dist = (x_out + half_body) if x_out < W / 2 else (W - x_out + half_body)
        sign = -1.0 if x_out < W / 2 else 1.0
        x += sign * dist * _smoothstep((frames - t_out) / (dist / walk))
    deg = np.pi / 180

    def turn_target() -> float:
        side = 1 if rng.random() < 0.5 else -1
        if rng.random() < cfg.turn_away:
            return side * rng.uniform(110, 180) * deg
        return side * rng.uniform(25, 95) * deg

    yaw0 = float(np.clip(rng.normal(0, 20), -60, 60)) * deg
    yaw = _events(
        rng,
        n,
        fps,
        cfg.turn_rate,
        yaw0,
        turn_target,
        ramp=(4, 15),
        hold=(5, 50),
        p_return=0.7,
        rest=lambda: float(rng.normal(0, 15)) * deg,
    )
    pitch0 = rng.uniform(-5, 25) * deg

    def look_down() -> float:
        return rng.uniform(25, 45) * deg

    pitch = _events(
        rng,
        n,
        fps,
        cfg.turn_rate * 0.5,
        pitch0,
        look_down,
        ramp=(5, 15),
        hold=(10, 60),
        p_return=0.8,
        rest=lambda: pitch0 + rng.normal(0, 5) * deg,
    )
    roll = rng.normal(0, 5) * deg + 4 * deg * np.sin(
        2 * np.pi * rng.uniform(0.05, 0.3) * t + rng.uniform(0, 6)
    )
    fabric = 1 + 0.05 * cv2.GaussianBlur(rng.normal(0, 1, (64, 64)).astype(np.float32), (0, 0), 1.5) * 3
    fabric *= np.linspace(1.0, 0.8, 64, dtype=np.float32)[:, None]
    gown = tuple(float(np.clip(c + rng.normal(0, 10), 0, 255)) for c in pick(rng, GOWNS))
    return _Person(pid, tex, x, y, scale, yaw, pitch, roll, gown, fabric.astype(np.float32), 0.0)


def _camera(rng: np.random.Generator, cfg: SceneConfig, n: int) -> tuple[np.ndarray, int]:
    """Integer camera offsets (n, 2) and the background margin they need."""
    if cfg.camera_motion <= 0:
        return np.zeros((n, 2), np.int64), 0
    W, fps = cfg.width, cfg.fps
    t = np.arange(n) / fps
    amp = cfg.camera_motion * 0.04 * W
    cam = np.zeros((n, 2))
    for axis, k in ((0, 1.0), (1, 0.6)):
        for _ in range(3):
            cam[:, axis] += (
                k
                * amp
                * rng.uniform(0.2, 0.6)
                * np.sin(2 * np.pi * rng.uniform(0.1, 1.0) * t + rng.uniform(0, 2 * np.pi))
            )
        cam[:, axis] += k * amp * 0.08 * np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, 6))
    frames = np.arange(n, dtype=np.float64)
    for _ in range(rng.poisson(cfg.camera_motion * 0.2 * n / fps)):  # whip: a quick pan and back
        t0, dur, hold = rng.uniform(0, n), rng.uniform(3, 6) * fps / 25, rng.uniform(5, 30) * fps / 25
        d = rng.uniform(0.05, 0.15) * W
        ang = rng.uniform(0, 2 * np.pi)
        s = _smoothstep((frames - t0) / dur) - _smoothstep((frames - t0 - dur - hold) / dur)
        cam[:, 0] += d * np.cos(ang) * s
        cam[:, 1] += d * np.sin(ang) * 0.5 * s
    cam = np.round(cam).astype(np.int64)
    return cam, int(np.abs(cam).max()) + 2


def _lighting(rng: np.random.Generator, cfg: SceneConfig, n: int) -> dict:
    fps = cfg.fps
    t = np.arange(n) / fps
    base = rng.uniform(0.85, 1.1)
    level = _events(
        rng,
        n,
        fps,
        cfg.light_changes,
        1.0,
        lambda: rng.uniform(0.3, 1.35),
        ramp=(1, 25),
        hold=(10, 80),
        p_return=0.5,
        rest=lambda: rng.uniform(0.9, 1.1),
    )
    flicker = 1 + cfg.flicker * (
        0.5 * np.sin(2 * np.pi * rng.uniform(0.5, 6) * t + rng.uniform(0, 6)) + 0.5 * rng.normal(0, 1, n)
    )
    gain = base * level * flicker
    tint = 1 + rng.normal(0, 0.04, 3)
    drift = 0.02 * np.sin(2 * np.pi * rng.uniform(0.02, 0.1) * t[:, None] + rng.uniform(0, 6, 3)[None, :])
    spot = None
    if rng.random() < cfg.spotlight:
        f = rng.uniform(0.03, 0.15, 2)
        ph = rng.uniform(0, 2 * np.pi, 2)
        c0, amp = rng.uniform(0.25, 0.75, 2), rng.uniform(0.1, 0.3, 2)
        spot = {
            "cx": c0[0] + amp[0] * np.sin(2 * np.pi * f[0] * t + ph[0]),
            "cy": c0[1] + amp[1] * np.sin(2 * np.pi * f[1] * t + ph[1]) * 0.5,
            "radius": rng.uniform(0.12, 0.3),
            "strength": rng.uniform(0.4, 1.0),
        }
    return {"gain": gain, "tint": tint[None, :] + drift, "spot": spot, "vignette": rng.uniform(0, 0.35)}


def _track_at(p: _Person, t: int, cam: np.ndarray, edge: float = 0.0) -> tuple[float, float]:
    """Screen position of the head centre on frame ``t``. Rendering centres pixel ``i`` at ``i``; boxes
    use the convention that pixel ``i`` spans ``[i, i + 1)``: pass ``edge=0.5`` for those."""
    return float(p.x[t] - cam[t, 0]) + edge, float(p.y[t] - cam[t, 1]) + edge


def _occluders(
    rng: np.random.Generator, cfg: SceneConfig, people: list[_Person], n: int, unit: float
) -> list[Occluder]:
    W, H = cfg.width, cfg.height
    out: list[Occluder] = []
    lo, hi = cfg.occluder_frames
    for _ in range(rng.poisson(cfg.occluder_rate * n / cfg.fps)):
        kind = str(rng.choice(OCCLUDER_KINDS, p=[0.45, 0.25, 0.15, 0.15]))
        d = int(rng.integers(lo, hi + 1))
        tc = int(rng.integers(0, n))
        cands = []
        for p in people:
            v = p.views[tc]
            cx, cy = (v.box[0] + v.box[2]) / 2, (v.box[1] + v.box[3]) / 2
            if v.visible >= 0.5 and 0 <= cx < W and 0 <= cy < H:
                cands.append(p.pid)
        if not cands:
            continue
        target = people[int(rng.choice(cands))]

        def face(ti: int, target: _Person = target) -> tuple[float, float, float]:
            v = target.views[int(np.clip(ti, 0, n - 1))]
            return (v.box[0] + v.box[2]) / 2, (v.box[1] + v.box[3]) / 2, v.frontal_width

        fw = face(tc)[2]
        if kind == "hand":
            s = fw * rng.uniform(0.9, 1.3)
            ang = np.pi / 2 + rng.normal(0, 0.5)
            cover = rng.uniform(-0.35, 0.35) * fw, rng.uniform(-0.3, 0.35) * fw
            away = np.array([np.cos(ang), np.sin(ang)]) * 2.6 * s
            n_in, n_out = int(rng.integers(2, 6)), int(rng.integers(2, 6))
            start, end = tc - n_in, tc + d + n_out
            xy = []
            for ti in range(start, end):
                fx, fy, _ = face(ti)
                k = _away(ti, start, tc, d, n_in, n_out)
                jit = 0.05 * fw * np.sin(ti * 0.7)
                xy.append((fx + cover[0] + away[0] * k + jit, fy + cover[1] + away[1] * k))
            occ = Occluder(
                kind,
                start,
                end,
                np.array(xy),
                s,
                ang,
                pick(rng, GLOVES),
                pick(rng, GOWNS),
                target.pid,
                rng.uniform(0, 1.0) * unit,
            )
        elif kind in ("lamp", "passerby"):
            if kind == "lamp":
                s = fw * rng.uniform(0.8, 1.5)
                reach = 1.3 * s + 0.5 * fw
                ang = np.pi / 2 + rng.normal(0, 0.5)
                color, blur = pick(rng, METAL), rng.uniform(0, 2.0) * unit
            else:
                s = H * rng.uniform(0.6, 1.0)
                reach = 0.55 * s + 0.5 * fw
                ang = 0.0
                color, blur = pick(rng, GOWNS), rng.uniform(4, 10) * unit
            span = 1.25 * reach
            total = max(2, int(round(d * span / reach)))
            direction = rng.choice([-1.0, 1.0])
            dy = rng.uniform(-0.3, 0.3) * fw if kind == "lamp" else rng.uniform(-0.1, 0.3) * s
            start = tc - (total - d) // 2
            xy = []
            for ti in range(start, start + total):
                fx, fy, _ = face(ti)
                off = direction * (-span + 2 * span * (ti - start) / max(total - 1, 1))
                xy.append((fx + off, fy + dy))
            occ = Occluder(kind, start, start + total, np.array(xy), s, ang, color, color, target.pid, blur)
        else:  # monitor: slides in, stays, slides out
            s = fw * rng.uniform(0.8, 1.4)
            ang = np.pi / 2 + rng.normal(0, 0.3)
            side = rng.choice([-1.0, 1.0])
            cover_x = rng.uniform(-1.2, 1.2) * s
            away = side * (2.2 * s + fw)
            n_in, n_out = int(rng.integers(3, 7)), int(rng.integers(3, 7))
            start, end = tc - n_in, tc + d + n_out
            xy = []
            for ti in range(start, end):
                fx, fy, _ = face(ti)
                k = _away(ti, start, tc, d, n_in, n_out)
                xy.append((fx + cover_x + away * k, fy + 0.1 * s))
            scr = screen_content(rng, 96, 60)
            occ = Occluder(
                kind,
                start,
                end,
                np.array(xy),
                s,
                ang,
                (28, 28, 32),
                (28, 28, 32),
                target.pid,
                rng.uniform(0, 1.5) * unit,
                scr,
            )
        out.append(occ)
    return out


def _line_kernel(dx: float, dy: float) -> np.ndarray | None:
    """Normalised motion-blur kernel along (dx, dy) pixels; None below a pixel."""
    length = float(np.hypot(dx, dy))
    if length < 1.0:
        return None
    half = int(np.ceil(length / 2)) + 1
    k = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    sh = 4
    f = float(1 << sh)
    p0 = (int(round((half - dx / 2) * f)), int(round((half - dy / 2) * f)))
    p1 = (int(round((half + dx / 2) * f)), int(round((half + dy / 2) * f)))
    cv2.line(k, p0, p1, 1.0, 1, cv2.LINE_AA, sh)
    return k / max(float(k.sum()), 1e-6)


def _blur_layer(layer: Layer, kernel: np.ndarray | None, sigma: float) -> Layer:
    x0, y0, prem, alpha = layer
    if kernel is None and sigma <= 0.3:
        return layer
    pad = (kernel.shape[0] // 2 if kernel is not None else 0) + int(np.ceil(3 * sigma)) + 1
    prem = cv2.copyMakeBorder(prem, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    alpha = cv2.copyMakeBorder(alpha, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    if kernel is not None:
        prem = cv2.filter2D(prem, -1, kernel, borderType=cv2.BORDER_CONSTANT)
        alpha = cv2.filter2D(alpha, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    if sigma > 0.3:
        prem = cv2.GaussianBlur(prem, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
        alpha = cv2.GaussianBlur(alpha, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    return x0 - pad, y0 - pad, prem, alpha


def _person_layer(p: _Person, t: int, cam: np.ndarray, cfg: SceneConfig, light: np.ndarray) -> Layer | None:
    hx, hy = _track_at(p, t, cam)
    s = float(p.scale[t])
    rx, ry = HEAD_R[0] * s, HEAD_R[1] * s
    if hx + 2.6 * rx < 0 or hx - 2.6 * rx > cfg.width or hy + 8.5 * ry < 0 or hy - ry > cfg.height:
        return None
    ix, iy = int(np.floor(hx)), int(np.floor(hy))
    prem_h, alpha_h, c = render_head(
        p.tex, s, float(p.yaw[t]), float(p.pitch[t]), float(p.roll[t]), tuple(light), (hx - ix, hy - iy)
    )
    width_factor = 0.6 + 0.4 * abs(np.cos(p.yaw[t]))
    bx0, by0, prem_b, alpha_b = body_layer(hx, hy, rx, ry, p.gown, p.tex.skin_rgb, width_factor, p.fabric)
    hx0, hy0 = ix - c, iy - c
    x0, y0 = min(bx0, hx0), min(by0, hy0)
    x1 = max(bx0 + prem_b.shape[1], hx0 + prem_h.shape[1])
    y1 = max(by0 + prem_b.shape[0], hy0 + prem_h.shape[0])
    prem = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
    alpha = np.zeros((y1 - y0, x1 - x0), np.float32)
    sb = np.s_[by0 - y0 : by0 - y0 + prem_b.shape[0], bx0 - x0 : bx0 - x0 + prem_b.shape[1]]
    prem[sb], alpha[sb] = prem_b, alpha_b
    sh = np.s_[hy0 - y0 : hy0 - y0 + prem_h.shape[0], hx0 - x0 : hx0 - x0 + prem_h.shape[1]]
    keep = 1 - alpha_h
    prem[sh] = prem_h + prem[sh] * keep[..., None]
    alpha[sh] = alpha_h + alpha[sh] * keep
    # motion blur along the person's own (world) motion; the camera's is applied to the whole frame
    t0, t1 = max(t - 1, 0), min(t + 1, cfg.n_frames - 1)
    span = max(t1 - t0, 1)
    vx, vy = (p.x[t1] - p.x[t0]) / span, (p.y[t1] - p.y[t0]) / span
    kernel = _line_kernel(vx * cfg.motion_blur, vy * cfg.motion_blur) if cfg.motion_blur > 0 else None
    return _blur_layer((x0, y0, prem, alpha), kernel, p.defocus)


def _window(box: tuple[float, float, float, float], w: int, h: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    return (
        int(np.clip(np.ceil(x1 - 0.5), 0, w)),
        int(np.clip(np.ceil(y1 - 0.5), 0, h)),
        int(np.clip(np.ceil(x2 - 0.5), 0, w)),
        int(np.clip(np.ceil(y2 - 0.5), 0, h)),
    )


def _hidden_share(win: tuple[int, int, int, int], front: list[Layer]) -> float:
    """Share of the pixel window hidden (alpha > 0.5, union) by the layers in ``front``."""
    wx0, wy0, wx1, wy1 = win
    if wx1 <= wx0 or wy1 <= wy0:
        return 0.0
    keep = np.ones((wy1 - wy0, wx1 - wx0), np.float32)
    hit = False
    for x0, y0, _, alpha in front:
        ix0, iy0 = max(wx0, x0), max(wy0, y0)
        ix1, iy1 = min(wx1, x0 + alpha.shape[1]), min(wy1, y0 + alpha.shape[0])
        if ix1 > ix0 and iy1 > iy0:
            keep[iy0 - wy0 : iy1 - wy0, ix0 - wx0 : ix1 - wx0] *= (
                1 - alpha[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0]
            )
            hit = True
    return float(np.mean(keep < 0.5)) if hit else 0.0


def _composite(frame: np.ndarray, layer: Layer) -> None:
    x0, y0, prem, alpha = layer
    h, w = frame.shape[:2]
    ix0, iy0 = max(x0, 0), max(y0, 0)
    ix1, iy1 = min(x0 + alpha.shape[1], w), min(y0 + alpha.shape[0], h)
    if ix1 <= ix0 or iy1 <= iy0:
        return
    keep = 1 - alpha[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0]
    region = frame[iy0:iy1, ix0:ix1]
    region[:] = cv2.add(
        cv2.multiply(region, cv2.merge([keep, keep, keep])), prem[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0]
    )


def _light_map(light: dict, t: int, w: int, h: int, vignette: np.ndarray) -> np.ndarray:
    g = vignette * float(light["gain"][t])
    spot = light["spot"]
    if spot is not None:
        sw, sh = max(8, w // 8), max(8, h // 8)
        xs = (np.arange(sw, dtype=np.float32) + 0.5) / sw
        ys = (np.arange(sh, dtype=np.float32) + 0.5) / sh * (h / w)
        cx, cy = float(spot["cx"][t]), float(spot["cy"][t]) * (h / w)
        d2 = (xs[None, :] - cx) ** 2 + (ys[:, None] - cy) ** 2
        small = 1 + spot["strength"] * np.exp(-d2 / (2 * spot["radius"] ** 2))
        g = g * cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return g


def generate_scene(cfg: SceneConfig, seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Frames ``(n_frames, height, width, 3)`` uint8 RGB and the ground-truth table (see the module doc)."""
    n, W, H = int(cfg.n_frames), int(cfg.width), int(cfg.height)
    if n < 1 or W < 16 or H < 16:
        raise ValueError("a scene needs at least one frame of at least 16x16 pixels")
    unit = W / 640.0
    r_scene, r_people, r_cam, r_occ, r_light, r_noise = np.random.default_rng(seed).spawn(6)
    cam, margin = _camera(r_cam, cfg, n)
    bg = background(r_scene, W + 2 * margin, H + 2 * margin, unit)
    light_dir = np.array([r_scene.uniform(-0.5, 0.5), r_scene.uniform(-0.7, -0.2), 0.8])
    light_dir /= np.linalg.norm(light_dir)
    people = [_person(r_people, cfg, pid, n) for pid in range(cfg.n_people)]
    global_sigma = r_scene.uniform(0, cfg.blur) * unit
    if people:
        focus = float(np.median(people[int(r_scene.integers(len(people)))].scale))
        for p in people:
            p.defocus = cfg.blur * unit * min(2.0, 1.5 * abs(np.log(float(np.median(p.scale)) / focus)))
    for p in people:
        p.views = [
            face_view(
                float(p.scale[t]),
                float(p.yaw[t]),
                float(p.pitch[t]),
                float(p.roll[t]),
                _track_at(p, t, cam, 0.5),
            )
            for t in range(n)
        ]
    occluders = _occluders(r_occ, cfg, people, n, unit)
    light = _lighting(r_light, cfg, n)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    r2 = ((xx - W / 2) / (W / 2)) ** 2 + ((yy - H / 2) / (H / 2)) ** 2
    vignette = (1 - light["vignette"] * r2 / 2).astype(np.float32)
    bank = r_noise.standard_normal((4, H + 64, W + 64, 3), dtype=np.float32)
    picks = r_noise.integers(0, len(bank), n)
    shifts = r_noise.integers(0, 64, (n, 2))

    frames = np.empty((n, H, W, 3), np.uint8)
    rows = []
    for t in range(n):
        ox, oy = margin + int(cam[t, 0]), margin + int(cam[t, 1])
        frame = bg[oy : oy + H, ox : ox + W].copy()
        layers: list[tuple[float, int, Layer, int]] = []
        for p in people:
            layer = _person_layer(p, t, cam, cfg, light_dir)
            if layer is not None:
                layers.append((float(p.scale[t]), len(layers), layer, p.pid))
        for occ in occluders:
            layer = occluder_layer(occ, t, W, H)
            if layer is not None:
                depth = float(people[occ.target].scale[t]) + 1e-6 if occ.kind == "hand" else 1e9
                layers.append((depth, len(layers), layer, -1))
        layers.sort(key=lambda item: (item[0], item[1]))
        for p in people:
            v = p.views[t]
            x1, y1, x2, y2 = v.box
            area = max(x2 - x1, 1e-6) * max(y2 - y1, 1e-6)
            cx1, cy1, cx2, cy2 = max(x1, 0.0), max(y1, 0.0), min(x2, float(W)), min(y2, float(H))
            if cx2 <= cx1 or cy2 <= cy1:
                continue
            inside = (cx2 - cx1) * (cy2 - cy1) / area
            pos = next((i for i, item in enumerate(layers) if item[3] == p.pid), None)
            front = [item[2] for item in layers[pos + 1 :]] if pos is not None else []
            hidden = _hidden_share(_window((cx1, cy1, cx2, cy2), W, H), front)
            ignore = (
                v.visible < IGNORE_FACING
                or inside < IGNORE_INSIDE
                or (x2 - x1) < IGNORE_WIDTH
                or hidden > HIDDEN_AT
            )
            rows.append(
                (
                    t,
                    t / cfg.fps,
                    cx1,
                    cy1,
                    cx2,
                    cy2,
                    1.0,
                    p.pid,
                    bool(ignore),
                    p.tex.look.masked,
                    bool(hidden > OCCLUDED_AT),
                    float(np.degrees(p.yaw[t])),
                    v.visible,
                    hidden,
                    inside,
                    v.frontal_width,
                )
            )
        for _, _, layer, _ in layers:
            _composite(frame, layer)
        t0, t1 = max(t - 1, 0), min(t + 1, n - 1)
        dv = (cam[t1] - cam[t0]) / max(t1 - t0, 1)
        kernel = _line_kernel(float(dv[0]) * cfg.motion_blur, float(dv[1]) * cfg.motion_blur)
        if kernel is not None:
            frame = cv2.filter2D(frame, -1, kernel, borderType=cv2.BORDER_REFLECT)
        if global_sigma > 0.3:
            frame = cv2.GaussianBlur(frame, (0, 0), global_sigma)
        gain = float(light["gain"][t])
        lmap = _light_map(light, t, W, H, vignette)
        frame = cv2.multiply(frame, cv2.merge([lmap * np.float32(k) for k in light["tint"][t]]))
        sigma = cfg.noise / np.sqrt(max(gain, 0.2))
        sx, sy = (int(v) for v in shifts[t])
        frame = cv2.scaleAdd(bank[picks[t], sy : sy + H, sx : sx + W], float(sigma), frame)
        np.maximum(frame, 0, out=frame)
        frames[t] = cv2.convertScaleAbs(frame)  # rounds and saturates at 255
    columns = [
        "frame_index",
        "pts_time",
        "x1",
        "y1",
        "x2",
        "y2",
        "score",
        "track_id",
        "ignore",
        "masked",
        "occluded",
        "yaw",
        "facing",
        "occlusion",
        "inside",
        "face_width",
    ]
    gt = pd.DataFrame(rows, columns=columns)
    gt = gt.astype(
        {"frame_index": np.int64, "track_id": np.int64, "ignore": bool, "masked": bool, "occluded": bool}
    )
    return frames, gt.sort_values(["frame_index", "x1"], kind="stable").reset_index(drop=True)


def write_scene(folder: str | Path, clip_id: str, cfg: SceneConfig, seed: int) -> tuple[Path, Path]:
    """Write ``folder/videos/{clip_id}.mp4`` and its ground truth ``folder/annotations/{clip_id}.parquet``.

    The annotation metadata records the seed, the config and ``scene_hash`` (see
    :meth:`SceneConfig.scene_hash`), so callers can reuse files made from the same inputs.
    """
    folder = Path(folder)
    frames, gt = generate_scene(cfg, seed)
    (folder / "videos").mkdir(parents=True, exist_ok=True)
    video = write_clip(folder / "videos" / f"{clip_id}.mp4", frames, fps=cfg.fps, crf=cfg.crf)
    meta = {
        "stage": "annotations",
        "source": "faceoff.synth.orscene",
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "config": asdict(cfg),
        "scene_hash": cfg.scene_hash(seed),
        "width": cfg.width,
        "height": cfg.height,
        "frame_count": cfg.n_frames,
    }
    ann = folder / "annotations" / f"{clip_id}.parquet"
    write_boxes(gt, ann, meta, GT_SCHEMA)
    return Path(video), ann


SCENARIOS: dict[str, SceneConfig] = {
    # a mixed OR scene: a bit of everything
    "or_mixed": SceneConfig(
        n_people=4, turn_rate=0.2, occluder_rate=0.3, fast_rate=0.05, light_changes=0.05, camera_motion=0.3
    ),
    # many masked and capped staff close together, hiding each other
    "masked_crowd": SceneConfig(
        n_people=7, face_px=(28, 75), p_mask=0.95, p_cap=0.95, p_glasses=0.3, speed=0.03
    ),
    # frequent hands, lamps, monitors and passers-by in front of faces
    "occlusions": SceneConfig(n_people=3, occluder_rate=1.2, occluder_frames=(3, 25), turn_rate=0.1),
    # head turns, profiles, backs of heads, looking down
    "turns": SceneConfig(n_people=4, turn_rate=0.6, turn_away=0.3, occluder_rate=0.1),
    # quick head movements, a shaking and panning camera, motion blur
    "fast_motion": SceneConfig(n_people=3, speed=0.12, fast_rate=0.4, camera_motion=1.0, motion_blur=0.8),
    # 720p with small, distant faces (the detector runs at 1280 px width by default: native size)
    "small_faces_720p": SceneConfig(
        width=1280, height=720, n_people=6, face_px=(12, 40), speed=0.03, occluder_rate=0.2
    ),
    # dimming, switching, flicker, a moving spotlight, more noise
    "lighting": SceneConfig(n_people=3, light_changes=0.5, flicker=0.12, spotlight=1.0, noise=4.0),
    # 1080p from a wide ceiling camera: small faces that detection at 1280 px width shrinks by a third
    "small_faces_1080p": SceneConfig(
        width=1920, height=1080, n_people=8, face_px=(16, 60), speed=0.03, occluder_rate=0.2
    ),
}


def benchmark_suite(kind: str = "default") -> list[tuple[str, SceneConfig, int]]:
    """Named clips ``(clip_id, config, seed)`` of the benchmark.

    ``default``: each scenario of :data:`SCENARIOS` with 2 seeds, 150 frames (6 s) each; ``quick``: one
    seed, 50 frames; ``full``: 4 seeds, 250 frames.
    """
    plans = {"quick": (1, 50), "default": (2, 150), "full": (4, 250)}
    if kind not in plans:
        raise ValueError(f"unknown suite {kind!r}; choose one of {', '.join(plans)}")
    seeds, frames = plans[kind]
    suite = []
    for k, (name, cfg) in enumerate(SCENARIOS.items()):
        for i in range(seeds):
            suite.append((f"{name}_{i}", replace(cfg, n_frames=frames), 1000 + 100 * k + i))
    return suite
