"""Offline tracking-based temporal regularisation.

Detections (kept down to the detector's low threshold) are linked into tracks frame by frame with a
constant-velocity prediction and one-to-one assignment (``scipy.optimize.linear_sum_assignment`` on
IoU and centre distance). Then, per track:

- hysteresis: a track is real only if it holds a confident detection (``confident_score``) and at least
  ``min_detections`` detections; its low-score detections then count too;
- gaps of up to ``max_gap`` frames between its detections are filled by linear interpolation;
- it is extended ``extend`` frames before its first and after its last detection, moving on with its
  velocity (faces are visible before they are first detected and after they are last detected);
- coordinates are smoothed over ``smooth_window`` frames, never shrinking a box below its detection;
- each box gets a ``pad``, which the render stage adds on every side: ``motion_margin`` times its
  per-frame motion, so fast faces stay hidden, plus up to ``uncertain_pad`` times its size as its score
  falls from ``sure_score`` to 0 (weak boxes of occluded and turned faces sit off the face). The box
  itself stays the estimate of the face.

The whole pass is offline and deterministic: the same table in gives the same table out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.ndimage import uniform_filter1d
from scipy.optimize import linear_sum_assignment

from faceoff.boxes import TRACK_SCHEMA, clip_to_frame, empty_frame
from faceoff.config import RegularizeConfig, params_from
from faceoff.metrics import iou_matrix


@dataclass(frozen=True)
class TrackParams:
    """Knobs of :func:`track_regularize`: the ``regularize`` config section's keys of the same names (their
    defaults and meaning live there, :class:`faceoff.config.RegularizeConfig`)."""

    confident_score: float
    min_detections: int
    persistent_detections: int
    link_iou: float
    link_distance: float
    link_new_distance: float
    max_gap: int
    extend: int
    smooth_window: int
    motion_margin: float
    uncertain_pad: float
    sure_score: float

    @classmethod
    def from_config(cls, cfg: RegularizeConfig) -> TrackParams:
        """The tracker's parameters from the ``regularize`` section."""
        return params_from(cls, cfg)

    def confirmed(self, scores: list[float]) -> bool:
        """Hysteresis: is a track with these detection scores a face?"""
        if len(scores) < self.min_detections:
            return False
        if max(scores) >= self.confident_score:
            return True
        return 0 < self.persistent_detections <= len(scores)


@dataclass
class _Track:
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    def predict(self, frame: int) -> np.ndarray:
        """Box expected at ``frame`` from the last two detections (constant velocity)."""
        last = self.boxes[-1]
        if len(self.frames) < 2:
            return last
        velocity = (last - self.boxes[-2]) / (self.frames[-1] - self.frames[-2])
        return last + velocity * (frame - self.frames[-1])


def _link_cost(pred: np.ndarray, dets: np.ndarray, reach: np.ndarray, params: TrackParams) -> np.ndarray:
    """Assignment cost (lower is better); ``inf`` where a pair may not link.

    ``reach``: per predicted box, how many box widths away a centre may lie and still link.
    """
    iou = iou_matrix(pred, dets)
    pc = (pred[:, None, :2] + pred[:, None, 2:]) / 2
    dc = (dets[None, :, :2] + dets[None, :, 2:]) / 2
    size = np.maximum((pred[:, None, 2] - pred[:, None, 0]), (dets[None, :, 2] - dets[None, :, 0]))
    dist = np.linalg.norm(pc - dc, axis=2) / np.maximum(size, 1.0)
    ok = (iou >= params.link_iou) | (dist <= reach[:, None])
    return np.where(ok, (1.0 - iou) + dist, np.inf)


def link_detections(detections: pd.DataFrame, params: TrackParams) -> list[_Track]:
    """Link detections into tracks, frame by frame, one-to-one, tolerating gaps up to ``max_gap``."""
    if detections.empty:
        return []
    det = detections.sort_values(["frame_index", "score", "x1"], ascending=[True, False, True], kind="stable")
    frames = det["frame_index"].to_numpy()
    boxes = det[["x1", "y1", "x2", "y2"]].to_numpy(np.float64)
    scores = det["score"].to_numpy(np.float64)
    starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]]) if len(frames) else np.array([], int)
    ends = np.r_[starts[1:], len(frames)]
    tracks: list[_Track] = []
    active: list[int] = []
    for s, e in zip(starts, ends, strict=True):
        t = int(frames[s])
        active = [i for i in active if t - tracks[i].frames[-1] <= params.max_gap + 1]
        unmatched = set(range(s, e))
        if active:
            pred = np.stack([tracks[i].predict(t) for i in active])
            seen = np.array([len(tracks[i].frames) for i in active])
            reach = np.where(seen > 1, params.link_distance, params.link_new_distance)
            cost = _link_cost(pred, boxes[s:e], reach, params)
            finite = np.where(np.isfinite(cost), cost, 1e9)
            rows, cols = linear_sum_assignment(finite)
            for r, c in zip(rows, cols, strict=True):
                if np.isfinite(cost[r, c]):
                    tr = tracks[active[r]]
                    tr.frames.append(t)
                    tr.boxes.append(boxes[s + c])
                    tr.scores.append(scores[s + c])
                    unmatched.discard(s + c)
        for j in sorted(unmatched):
            tracks.append(_Track([t], [boxes[j]], [scores[j]]))
            active.append(len(tracks) - 1)
    return tracks


def _fill(
    track: _Track, n_frames: int, params: TrackParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dense per-frame boxes of one track: detected, interpolated and extended frames."""
    f = np.asarray(track.frames)
    b = np.stack(track.boxes)
    s = np.asarray(track.scores)
    inner = np.arange(f[0], f[-1] + 1)
    box = np.stack([np.interp(inner, f, b[:, k]) for k in range(4)], axis=1)
    score = np.interp(inner, f, s)
    source = np.where(np.isin(inner, f), "detected", "interpolated").astype(object)
    # interpolated frames score no more than the weaker neighbouring detection
    nxt = np.searchsorted(f, inner)
    weaker = np.minimum(s[np.clip(nxt - 1, 0, len(f) - 1)], s[np.clip(nxt, 0, len(f) - 1)])
    score = np.where(source == "interpolated", weaker, score)

    v_head = (b[min(1, len(f) - 1)] - b[0]) / max(1, f[min(1, len(f) - 1)] - f[0])
    v_tail = (b[-1] - b[max(0, len(f) - 2)]) / max(1, f[-1] - f[max(0, len(f) - 2)])
    before = np.arange(max(0, f[0] - params.extend), f[0])
    after = np.arange(f[-1] + 1, min(n_frames, f[-1] + 1 + params.extend))
    box_before = b[0] + v_head * (before - f[0])[:, None]
    box_after = b[-1] + v_tail * (after - f[-1])[:, None]
    frames = np.concatenate([before, inner, after])
    boxes = np.concatenate([box_before, box, box_after])
    scores = np.concatenate([np.full(len(before), s[0]), score, np.full(len(after), s[-1])])
    sources = np.concatenate(
        [np.full(len(before), "extended", object), source, np.full(len(after), "extended", object)]
    )
    return frames, boxes, scores, sources


def _smooth_and_pad(
    frames: np.ndarray, boxes: np.ndarray, scores: np.ndarray, sources: np.ndarray, params: TrackParams
) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed boxes (never smaller than a detection) and each box's render ``pad`` in pixels."""
    out = boxes.copy()
    if params.smooth_window > 1 and len(boxes) > 2:
        out = uniform_filter1d(boxes, size=params.smooth_window, axis=0, mode="nearest")
        det = sources == "detected"
        out[det, :2] = np.minimum(out[det, :2], boxes[det, :2])
        out[det, 2:] = np.maximum(out[det, 2:], boxes[det, 2:])
    pad = np.zeros(len(boxes))
    if params.motion_margin > 0 and len(boxes) > 1:
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        speed = np.abs(np.gradient(centre, frames.astype(np.float64), axis=0))  # px per frame, x and y
        pad += params.motion_margin * speed.max(axis=1)
    if params.uncertain_pad > 0:
        size = np.maximum(out[:, 2] - out[:, 0], out[:, 3] - out[:, 1])
        doubt = np.clip((params.sure_score - scores) / params.sure_score, 0.0, 1.0)
        pad += params.uncertain_pad * size * doubt
    return out, pad


def track_regularize(
    detections: pd.DataFrame, pts_time: np.ndarray, params: TrackParams, width: int, height: int
) -> pd.DataFrame:
    """Tracks table (the box-table schema with ``track_id`` and ``source``) from a detections table."""
    n_frames = len(pts_time)
    if detections.empty or n_frames == 0:
        return empty_frame(TRACK_SCHEMA)
    kept = [t for t in link_detections(detections, params) if params.confirmed(t.scores)]
    parts = []
    for track_id, track in enumerate(sorted(kept, key=lambda t: (t.frames[0], t.boxes[0][0]))):
        frames, boxes, scores, sources = _fill(track, n_frames, params)
        boxes, pad = _smooth_and_pad(frames, boxes, scores, sources, params)
        part = pd.DataFrame(boxes, columns=["x1", "y1", "x2", "y2"])
        part.insert(0, "frame_index", frames.astype(np.int64))
        part["score"] = scores
        part["track_id"] = track_id
        part["source"] = sources
        part["pad"] = pad
        parts.append(part)
    if not parts:
        return empty_frame(TRACK_SCHEMA)
    tracks = clip_to_frame(pd.concat(parts, ignore_index=True), width, height)
    tracks["pts_time"] = np.asarray(pts_time, dtype=np.float64)[tracks["frame_index"].to_numpy()]
    return tracks.reset_index(drop=True)
