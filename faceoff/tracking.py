"""Offline tracking-based temporal regularisation.

Detections (kept down to the detector's low threshold) are linked into tracks frame by frame with a
constant-velocity prediction and one-to-one assignment (``scipy.optimize.linear_sum_assignment`` on
IoU and centre distance; a track of one detection has no velocity yet and links further, furthest when
both detections are confident). Then, per track:

- hysteresis: a track is real only if it holds a confident detection (``confident_score``) and at least
  ``min_detections`` detections, or ``persistent_detections`` detections (counted in time: under a
  stride, in proportion to the share of its frames that were detected) of boxes at most
  ``persistent_max_width`` wide (a small face); its low-score detections then count too;
- gaps of up to ``max_gap`` frames between its detections are filled by linear interpolation; with a
  detection stride (``detect.stride``) a gap of any length in which no frame was detected is no miss
  and is filled too;
- a detection clipped by the frame edge (a face entering or leaving the picture) is given the size of
  the track's nearest detection that the edge does not clip, reaching past the edge on the side it
  touches: interpolation, extension and smoothing work on the whole face, so a face keeps its size
  while it slides out of or into the picture; boxes are clipped to the frame only at the end;
- it is extended ``extend`` frames before its first and after its last detection, moving on with its
  velocity (faces are visible before they are first detected and after they are last detected); with a
  stride, over the frames not detected next to those ends as well (the extension counts from the
  nearest detected frame without the face); an end at the frame edge (a face that left or entered the
  picture there) is then held where the extension left it for up to ``edge_hold`` frames in all, never
  past the frames the tracker is given (a cut ends it when the tracker runs per shot);
- coordinates are smoothed over ``smooth_window`` frames, never shrinking a box below its detection;
- each box gets a ``pad``, which the render stage adds on every side: ``motion_margin`` times its
  per-frame motion, so fast faces stay hidden, plus up to ``uncertain_pad`` times its size as its score
  falls from ``sure_score`` to 0 (weak boxes of occluded and turned faces sit off the face), and never
  more than ``max_pad_fraction`` of the (clipped) box's larger side. The box itself stays the estimate
  of the face.

Last, :func:`hold_behind`: a track's first or last box that lies behind another track's box
(``occlusion_share`` of it covered: a face passing behind another head) is held there, frame by frame,
while another track's box still covers it and none of its size lies on the same place (the face found
again), for up to ``occlusion_hold`` frames past the end's last evidence, with no pad. The tracker runs
per shot (:func:`faceoff.shots.per_shot`), so no hold crosses a cut.

After following (the regularize stage), the detections of ``keep_score`` or more that no track hides
(:func:`loose_detections`: their track was too short or never confident) are added as tracks of their
detected rows alone, of source ``unconfirmed`` (:func:`unconfirmed_tracks`): the tracks never leave
visible what the detector saw that clearly.

The whole pass is offline and deterministic: the same table in gives the same table out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.ndimage import uniform_filter1d
from scipy.optimize import linear_sum_assignment

from faceoff.boxes import TRACK_SCHEMA, XYXY, boxes_array, boxes_by_frame, clip_to_frame, empty_frame
from faceoff.config import RegularizeConfig, params_from
from faceoff.metrics import areas, intersection_matrix, iou_matrix

# A held box stops where another track of its size begins (going back: ends) on the same place: the face
# was found again. A head passing in front does not begin there.
SAME_PLACE_IOU = 0.5
SAME_SIZE = 1.25  # widths within this ratio
# A box side this near the frame edge (px) is cut by it: a detector's box of a half-visible face stops up
# to a few pixels short of the edge (real dev clips: 0-4.7 px).
EDGE_PX = 5.0
LOOSE_IOU = 0.3
"""A detection overlapping a track's box this much (IoU) on its frame is that track's: hidden already."""


@dataclass(frozen=True)
class TrackParams:
    """Knobs of :func:`track_regularize`: the ``regularize`` config section's keys of the same names (their
    defaults and meaning live there, :class:`faceoff.config.RegularizeConfig`)."""

    confident_score: float
    min_detections: int
    persistent_detections: int
    persistent_max_width: float
    link_iou: float
    link_distance: float
    link_new_distance: float
    link_sure_distance: float
    max_gap: int
    extend: int
    smooth_window: int
    motion_margin: float
    uncertain_pad: float
    sure_score: float
    edge_hold: int
    occlusion_hold: int
    occlusion_share: float
    max_pad_fraction: float
    keep_score: float

    @classmethod
    def from_config(cls, cfg: RegularizeConfig) -> TrackParams:
        """The tracker's parameters from the ``regularize`` section."""
        return params_from(cls, cfg)

    def confirmed(self, scores: list[float], looked_share: float = 1.0, width: float = 0.0) -> bool:
        """Hysteresis: is a track with these detection scores a face? ``looked_share``: the share of the
        frames of its span that were detected (a stride): persistence is counted in time, so it needs
        that share of ``persistent_detections``; ``width``: the median width of its boxes, which
        persistence allows up to ``persistent_max_width``."""
        if len(scores) < self.min_detections:
            return False
        if max(scores) >= self.confident_score:
            return True
        if self.persistent_detections == 0 or 0 < self.persistent_max_width < width:
            return False
        needed = max(self.min_detections, math.ceil(self.persistent_detections * looked_share - 1e-9))
        return needed <= len(scores)


@dataclass
class _Track:
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    def width(self) -> float:
        """Median width of its detected boxes."""
        return float(np.median([b[2] - b[0] for b in self.boxes]))

    def predict(self, frame: int) -> np.ndarray:
        """Box expected at ``frame`` from the last two detections (constant velocity)."""
        last = self.boxes[-1]
        if len(self.frames) < 2:
            return last
        velocity = (last - self.boxes[-2]) / (self.frames[-1] - self.frames[-2])
        return last + velocity * (frame - self.frames[-1])


def _link_cost(pred: np.ndarray, dets: np.ndarray, reach: np.ndarray, params: TrackParams) -> np.ndarray:
    """Assignment cost (lower is better); ``inf`` where a pair may not link.

    ``reach``: per predicted box and detection (or per predicted box, as a column), how many box widths
    away the detection's centre may lie and still link.
    """
    iou = iou_matrix(pred, dets)
    pc = (pred[:, None, :2] + pred[:, None, 2:]) / 2
    dc = (dets[None, :, :2] + dets[None, :, 2:]) / 2
    size = np.maximum((pred[:, None, 2] - pred[:, None, 0]), (dets[None, :, 2] - dets[None, :, 0]))
    dist = np.linalg.norm(pc - dc, axis=2) / np.maximum(size, 1.0)
    ok = (iou >= params.link_iou) | (dist <= reach)
    return np.where(ok, (1.0 - iou) + dist, np.inf)


def _looked_count(detected: np.ndarray | None, n_frames: int) -> np.ndarray:
    """(n_frames + 1,) int: ``c[t]`` = how many of frames ``0 .. t-1`` were detected (without a
    record: all)."""
    looked = np.ones(n_frames, dtype=bool) if detected is None else detected
    return np.r_[0, np.cumsum(looked)]


def link_detections(
    detections: pd.DataFrame, params: TrackParams, detected: np.ndarray | None = None
) -> list[_Track]:
    """Link detections into tracks, frame by frame, one-to-one, tolerating gaps up to ``max_gap`` frames
    and any gap in which no frame was detected (``detected``: (n_frames,) bool; None = every frame)."""
    if detections.empty:
        return []
    det = detections.sort_values(["frame_index", "score", "x1"], ascending=[True, False, True], kind="stable")
    frames = det["frame_index"].to_numpy()
    boxes = det[["x1", "y1", "x2", "y2"]].to_numpy(np.float64)
    scores = det["score"].to_numpy(np.float64)
    starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]]) if len(frames) else np.array([], int)
    ends = np.r_[starts[1:], len(frames)]
    count = _looked_count(detected, int(frames[-1]) + 1)
    tracks: list[_Track] = []
    active: list[int] = []
    for s, e in zip(starts, ends, strict=True):
        t = int(frames[s])
        active = [
            i
            for i in active
            if t - tracks[i].frames[-1] <= params.max_gap + 1 or count[t] == count[tracks[i].frames[-1] + 1]
        ]
        unmatched = set(range(s, e))
        if active:
            pred = np.stack([tracks[i].predict(t) for i in active])
            seen = np.array([len(tracks[i].frames) for i in active])
            reach = np.where(seen > 1, params.link_distance, params.link_new_distance)[:, None]
            sure = (seen == 1) & (np.array([tracks[i].scores[-1] for i in active]) >= params.confident_score)
            sure = sure[:, None] & (scores[s:e] >= params.confident_score)[None, :]
            reach = np.where(sure, params.link_sure_distance, reach)
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


def _at_edge(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, 4) bool: which sides (left, top, right, bottom) of ``boxes`` lie on the frame edge."""
    lo, hi = boxes[:, :2] <= EDGE_PX, boxes[:, 2:] >= np.array([width, height]) - EDGE_PX
    return np.concatenate([lo, hi], axis=1)


def _unclip(frames: np.ndarray, boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """A track's boxes with each one clipped by the frame edge on one side of an axis given the size
    along that axis of the track's nearest box (in time) that neither edge of that axis clips, reaching
    past the edge it touches; never smaller than it was. Without such a box, unchanged."""
    out = boxes.copy()
    edge = _at_edge(boxes, width, height)
    for axis in (0, 1):
        lo, hi = edge[:, axis], edge[:, axis + 2]
        whole = ~lo & ~hi
        clipped = np.flatnonzero(lo ^ hi)
        if not whole.any() or not len(clipped):
            continue
        ref = np.flatnonzero(whole)
        nearest = ref[np.abs(frames[clipped, None] - frames[None, ref]).argmin(axis=1)]
        size = boxes[nearest, axis + 2] - boxes[nearest, axis]
        size = np.maximum(size, boxes[clipped, axis + 2] - boxes[clipped, axis])
        left = lo[clipped]
        out[clipped, axis] = np.where(left, boxes[clipped, axis + 2] - size, boxes[clipped, axis])
        out[clipped, axis + 2] = np.where(left, boxes[clipped, axis + 2], boxes[clipped, axis] + size)
    return out


def _fill(
    track: _Track,
    n_frames: int,
    params: TrackParams,
    detected: np.ndarray | None = None,
    edges: tuple[bool, bool] = (False, False),
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dense per-frame boxes of one track: detected, interpolated and extended frames (``extend`` frames
    past the nearest detected frame before its first and after its last detection; ``detected`` as in
    :func:`link_detections`); ``edges``: whether its first and its last detection lie on the frame edge,
    which then holds that end up to ``edge_hold`` frames past that detection."""
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
    first, last = f[0] - 1, f[-1] + 1  # the detected frames next to the track's ends
    if detected is not None:
        looked = np.flatnonzero(detected)
        i = np.searchsorted(looked, f[0])
        first = looked[i - 1] if i > 0 else -1
        j = np.searchsorted(looked, f[-1], side="right")
        last = looked[j] if j < len(looked) else n_frames
    hold_head, hold_tail = (params.edge_hold if edge else 0 for edge in edges)
    before = np.arange(max(0, min(first + 1 - params.extend, f[0] - hold_head)), f[0])
    after = np.arange(f[-1] + 1, min(n_frames, max(last + params.extend, f[-1] + 1 + hold_tail)))
    # moving on with the velocity over the extension, then held where it left the box
    box_before = b[0] + v_head * np.maximum(before, first + 1 - params.extend)[:, None] - v_head * f[0]
    box_after = b[-1] + v_tail * np.minimum(after, last + params.extend - 1)[:, None] - v_tail * f[-1]
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


def hold_behind(tracks: pd.DataFrame, pts_time: np.ndarray, params: TrackParams) -> pd.DataFrame:
    """``tracks`` (a tracks table of one shot with these frame timestamps) with each track's first and last
    box held before and after it, frame by frame, while another track's box covers ``occlusion_share`` of
    it and no track of its size begins (going back: ends) on its place, up to ``occlusion_hold`` frames
    past the end's last evidence (rows already ``extended`` there count): a face passing behind another
    head. Held rows are ``extended``, keep the end's score and have no pad. Sorted by track, then frame."""
    if params.occlusion_hold <= 0 or tracks.empty or tracks["track_id"].nunique() < 2:
        return tracks
    frames = tracks["frame_index"].to_numpy(np.int64)
    ids = tracks["track_id"].to_numpy(np.int64)
    boxes = tracks[XYXY].to_numpy(np.float64)
    order = np.argsort(frames, kind="stable")
    bounds = np.searchsorted(frames[order], np.arange(len(pts_time) + 1))
    span = tracks.groupby("track_id")["frame_index"]
    begins_at = {1: span.min().to_dict(), -1: span.max().to_dict()}  # where a track begins, by direction

    def behind(track_id: int, frame: int, box: np.ndarray, step: int) -> bool:
        """Covered by another track's box, and the face not found again there."""
        at = order[bounds[frame] : bounds[frame + 1]]
        at = at[ids[at] != track_id]
        if not len(at):
            return False
        others = boxes[at]
        ratio = (others[:, 2] - others[:, 0]) / max(box[2] - box[0], 1e-9)
        begins = np.array([begins_at[step][int(t)] == frame for t in ids[at]])
        same = (iou_matrix(box[None], others)[0] >= SAME_PLACE_IOU) & (
            np.maximum(ratio, 1 / ratio) <= SAME_SIZE
        )
        if (begins & same).any():
            return False
        return intersection_matrix(box[None], others).max() >= params.occlusion_share * max(
            areas(box)[0], 1e-9
        )

    held = []
    for track_id, rows in tracks.groupby("track_id", sort=True):
        rows = rows.sort_values("frame_index", kind="stable")
        extended = rows["source"].to_numpy() == "extended"
        for row, step, outward in ((rows.iloc[0], -1, extended), (rows.iloc[-1], 1, extended[::-1])):
            # the budget counts from the last evidence: rows already extended at this end use it up
            budget = params.occlusion_hold - (len(outward) if outward.all() else int(np.argmin(outward)))
            frame, box = int(row["frame_index"]), row[XYXY].to_numpy(np.float64)
            at = frame + step
            while (
                abs(at - frame) <= budget and 0 <= at < len(pts_time) and behind(int(track_id), at, box, step)
            ):
                held.append(
                    {
                        **row.to_dict(),
                        "frame_index": at,
                        "pad": 0.0,  # a held box does not move; its end's motion and doubt pads would grow it
                        "pts_time": float(pts_time[at]),
                        "source": "extended",
                    }
                )
                at += step
    if not held:
        return tracks
    out = pd.concat([tracks, pd.DataFrame(held)[tracks.columns]], ignore_index=True).astype(
        tracks.dtypes.to_dict()
    )
    return out.sort_values(["track_id", "frame_index"], kind="stable").reset_index(drop=True)


def _track_rows(
    track_id: int, frames: np.ndarray, boxes: np.ndarray, scores: Any, sources: Any, pad: Any
) -> pd.DataFrame:
    """One track's rows of a tracks table (no ``pts_time`` yet); ``scores``, ``sources`` and ``pad``
    per row or one for all."""
    part = pd.DataFrame(boxes, columns=XYXY)
    part.insert(0, "frame_index", frames.astype(np.int64))
    part["score"] = scores
    part["track_id"] = track_id
    part["source"] = sources
    part["pad"] = pad
    return part


def track_regularize(
    detections: pd.DataFrame,
    pts_time: np.ndarray,
    params: TrackParams,
    width: int,
    height: int,
    detected: np.ndarray | None = None,
) -> pd.DataFrame:
    """Tracks table (the box-table schema with ``track_id`` and ``source``) from a detections table;
    ``detected``: (n_frames,) bool, the frames the detector looked at (None: every frame)."""
    n_frames = len(pts_time)
    if detections.empty or n_frames == 0:
        return empty_frame(TRACK_SCHEMA)
    count = _looked_count(detected, n_frames)

    def looked_share(t: _Track) -> float:
        return (count[t.frames[-1] + 1] - count[t.frames[0]]) / (t.frames[-1] + 1 - t.frames[0])

    kept = [
        t
        for t in link_detections(detections, params, detected)
        if params.confirmed(t.scores, looked_share(t), t.width())
    ]
    parts = []
    for track_id, track in enumerate(sorted(kept, key=lambda t: (t.frames[0], t.boxes[0][0]))):
        raw = np.stack(track.boxes)
        edge = _at_edge(raw[[0, -1]], width, height).any(axis=1)
        whole = _Track(
            track.frames, list(_unclip(np.asarray(track.frames), raw, width, height)), track.scores
        )
        frames, boxes, scores, sources = _fill(whole, n_frames, params, detected, (edge[0], edge[1]))
        boxes, pad = _smooth_and_pad(frames, boxes, scores, sources, params)
        parts.append(_track_rows(track_id, frames, boxes, scores, sources, pad))
    if not parts:
        return empty_frame(TRACK_SCHEMA)
    tracks = clip_to_frame(pd.concat(parts, ignore_index=True), width, height)
    size = np.maximum(tracks["x2"] - tracks["x1"], tracks["y2"] - tracks["y1"])
    tracks["pad"] = np.minimum(tracks["pad"], params.max_pad_fraction * size)
    pts_time = np.asarray(pts_time, dtype=np.float64)
    tracks["pts_time"] = pts_time[tracks["frame_index"].to_numpy()]
    return hold_behind(tracks.reset_index(drop=True), pts_time, params)


def loose_detections(detections: pd.DataFrame, tracks: pd.DataFrame, keep_score: float) -> pd.DataFrame:
    """The rows of ``detections`` scoring ``keep_score`` or more that overlap no box of ``tracks`` on
    their frame (IoU under ``LOOSE_IOU``): what the tracks left unhidden."""
    det = detections[detections["score"] >= keep_score]
    if det.empty or tracks.empty:
        return det
    by_frame = boxes_by_frame(tracks)
    frames, boxes = det["frame_index"].to_numpy(np.int64), boxes_array(det)
    loose = np.ones(len(det), dtype=bool)
    for f in np.intersect1d(frames, np.fromiter(by_frame, np.int64)):
        rows = np.flatnonzero(frames == f)
        loose[rows] = iou_matrix(boxes[rows], by_frame[int(f)]).max(axis=1) < LOOSE_IOU
    return det[loose]


def unconfirmed_tracks(detections: pd.DataFrame, pts_time: np.ndarray, params: TrackParams) -> pd.DataFrame:
    """A tracks table of one shot from ``detections`` (:func:`loose_detections`): linked as the tracker
    links them, each track holding its detected rows only, of source ``unconfirmed`` (no interpolation,
    extension, smoothing or pad), whatever its length and scores."""
    parts = [
        _track_rows(k, np.asarray(t.frames), np.stack(t.boxes), t.scores, "unconfirmed", 0.0)
        for k, t in enumerate(link_detections(detections, params))
    ]
    if not parts:
        return empty_frame(TRACK_SCHEMA)
    out = pd.concat(parts, ignore_index=True)
    out["pts_time"] = np.asarray(pts_time, dtype=np.float64)[out["frame_index"].to_numpy()]
    return out
