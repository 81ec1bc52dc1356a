"""Follow faces past the ends of their tracks by appearance, forwards and backwards in time.

A track ends where the detector lost the face: the head turned away, a mask or an arm hid it, the light
changed. The head is usually still there. From each end of a confirmed track the head region is
followed frame by frame with normalised cross-correlation (``cv2.matchTemplate``, ``TM_CCOEFF_NORMED``)
on the grey frames: the template is the box at the previous frame (box and some context: hair, cap, head
outline), searched for around the same place in the next frame. Following stops after
:attr:`FollowParams.frames` frames, when the best match scores below :attr:`FollowParams.min_score`,
when the template is flat (a blank wall matches anything), when the best match lies further than the
search radius (:attr:`FollowParams.search` box sizes; the square search window's corners reach
further): a jump is drift onto something else, when the box's centre leaves the frame, or when it
reaches a box of any track (the face is covered there already). Where the match fails on a textured
box (a head turning away, bowing or passing behind a hand no longer looks like its last frame), the
step falls back on the optical flow of the head-and-shoulders region (:mod:`faceoff.headtrack`,
:attr:`FollowParams.flow`), which stops on its own rules, the same radius among them. Only tracks with a
detection of :attr:`FollowParams.min_track_score` or more, or with
:attr:`FollowParams.min_track_detections` detections whatever their scores (a masked face the detector
sees weakly but for long), are followed. A followed box's render pad is the same share of its size as its
track's pad at the end it was followed from: following never widens it.

What it buys and costs, on the synthetic OR suite (docs/recall.md): the faces it recovers are those
the detector loses while the head is still in view (turned away, masked, partly hidden); its boxes
also continue false-positive tracks and stay on a head whose face has turned fully away, which the
IoU precision counts as false positives.

Backwards needs the frames before a track's first frame: one decoding pass keeps the last
``frames + 1`` grey frames in a ring buffer, so memory stays bounded whatever the video's length.
Deterministic: the same video and tracks give the same rows.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from faceoff.anonymize import scale_boxes
from faceoff.boxes import boxes_by_frame, clip_to_frame, pads
from faceoff.config import RegularizeConfig, params_from
from faceoff.decode import iter_frames
from faceoff.headtrack import FlowParams, flow_step
from faceoff.metrics import iou_matrix
from faceoff.probe import ProbeInfo
from faceoff.shots import shot_bounds, shot_of

__all__ = ["FollowParams", "follow_tracks"]

MIN_TEMPLATE_STD = 4.0  # grey levels: a flatter template matches anything
STOP_IOU = 0.3  # a followed box overlapping a track box this much has reached covered ground


@dataclass(frozen=True)
class FollowParams:
    """Knobs of :func:`follow_tracks`: the ``regularize.follow_*`` config keys (defaults and meaning there,
    :class:`faceoff.config.RegularizeConfig`)."""

    frames: int  # at most this many frames past each end of a track; 0 = off
    min_score: float  # normalised cross-correlation the best match must reach
    min_track_score: float  # follow only tracks with a detection this confident ...
    min_track_detections: int  # ... or with this many detections (0: by score only)
    search: float  # search this share of the box size around the last position
    context: float  # template: the box enlarged by this about its centre
    flow: FlowParams | None  # where the match fails, the optical flow step; None = off

    @classmethod
    def from_config(cls, cfg: RegularizeConfig) -> FollowParams:
        """The follower's parameters from the ``regularize`` section."""
        flow = FlowParams.from_config(cfg) if cfg.follow_flow else None
        return params_from(cls, cfg, prefix="follow_", flow=flow)


@dataclass(frozen=True)
class _End:
    """One end of a track: its box on its first or last frame."""

    track_id: int
    box: np.ndarray  # x1 y1 x2 y2
    pad: float  # the track's render pad at this end, as a share of the box's larger side


def _step(
    prev: np.ndarray, cur: np.ndarray, box: np.ndarray, p: FollowParams
) -> tuple[np.ndarray, float] | None:
    """The box moved from grey frame ``prev`` to ``cur`` and its match score, or None (lost)."""
    height, width = prev.shape
    (t,) = scale_boxes(box, p.context, width, height)  # the template window, clipped to the frame
    tx1, ty1, tx2, ty2 = t.x1, t.y1, t.x2, t.y2
    if tx2 - tx1 < 4 or ty2 - ty1 < 4:
        return None
    template = prev[ty1:ty2, tx1:tx2]
    if float(template.std()) < MIN_TEMPLATE_STD:
        return None
    radius = p.search * max(box[2] - box[0], box[3] - box[1])
    sx1, sy1 = max(0, int(np.floor(tx1 - radius))), max(0, int(np.floor(ty1 - radius)))
    sx2, sy2 = min(width, int(np.ceil(tx2 + radius))), min(height, int(np.ceil(ty2 + radius)))
    search = cur[sy1:sy2, sx1:sx2]
    if search.shape[0] < template.shape[0] or search.shape[1] < template.shape[1]:
        return None
    scores = cv2.matchTemplate(search, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    if not np.isfinite(best) or best < p.min_score:
        return None
    dx, dy = sx1 + bx - tx1, sy1 + by - ty1
    if math.hypot(dx, dy) > radius + 1:  # into the window's corner (1 px: its rounding to pixels): drift
        return None
    return box + np.array([dx, dy, dx, dy], dtype=np.float64), float(best)


def _textured(grey: np.ndarray, box: np.ndarray) -> bool:
    """Whether the box holds more than a flat patch (a blank wall is no head to follow)."""
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    patch = grey[y1 : max(y1, int(np.ceil(box[3]))), x1 : max(x1, int(np.ceil(box[2])))]
    return patch.size > 0 and float(patch.std()) >= MIN_TEMPLATE_STD


def _follow(
    frames: list[tuple[int, np.ndarray]], end: _End, covered: dict[int, np.ndarray], p: FollowParams
) -> list[tuple[int, int, np.ndarray, float, float]]:
    """Rows ``(frame, track_id, box, score, pad share)`` following ``end`` through ``frames`` (its own
    frame first, then the frames in the direction of travel); every row keeps the end's pad share."""
    rows = []
    box = end.box.astype(np.float64)
    height, width = frames[0][1].shape
    for (_, prev), (index, cur) in zip(frames, frames[1:], strict=False):
        moved = _step(prev, cur, box, p)
        if moved is None and p.flow is not None and _textured(prev, box):
            moved = flow_step(prev, cur, box, p.context, p.search, p.flow)
        if moved is None:
            break
        box, score = moved
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        if not (0 <= cx < width and 0 <= cy < height):
            break
        others = covered.get(index)
        if others is not None and iou_matrix(box[None], others).max() >= STOP_IOU:
            break
        rows.append((index, end.track_id, box.copy(), score, end.pad))
    return rows


def _ends(tracks: pd.DataFrame, p: FollowParams) -> tuple[dict[int, list[_End]], dict[int, list[_End]]]:
    """Starts and ends of the tracks to follow (a detection scoring ``p.min_track_score`` or more, or
    ``p.min_track_detections`` detections), by frame: ({first frame: [backward ends]}, {last frame:
    [forward ends]})."""
    starts: dict[int, list[_End]] = {}
    stops: dict[int, list[_End]] = {}
    for tid, t in tracks.sort_values("frame_index", kind="stable").groupby("track_id", sort=True):
        detected = t.loc[t["source"] == "detected", "score"]
        long = p.min_track_detections > 0 and len(detected) >= p.min_track_detections
        if detected.max() < p.min_track_score and not long:
            continue
        boxes = t[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float64)
        pad = pads(t)
        frames = t["frame_index"].to_numpy(dtype=np.int64)
        first, last = int(frames[0]), int(frames[-1])
        share = pad / np.maximum(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]), 1.0)
        starts.setdefault(first, []).append(_End(int(tid), boxes[0], float(share[0])))
        stops.setdefault(last, []).append(_End(int(tid), boxes[-1], float(share[-1])))
    return starts, stops


def follow_tracks(
    video: str | Path,
    info: ProbeInfo,
    tracks: pd.DataFrame,
    params: FollowParams,
    batch_size: int = 16,
    cuts: Sequence[int] = (),
) -> pd.DataFrame:
    """Rows to add to ``tracks`` (box-table columns with ``track_id``, ``source`` ``"followed"`` and as
    ``score`` the match score, or after a flow step the share of points that tracked back): each
    track's face followed past both of its ends in ``video``, never across a shot cut (``cuts``: the
    frames that start a new shot, :mod:`faceoff.shots`)."""
    columns = ["frame_index", "x1", "y1", "x2", "y2", "score", "track_id", "source", "pad"]
    if params.frames <= 0 or tracks.empty:
        return pd.DataFrame(columns=columns)
    covered = boxes_by_frame(tracks)
    starts, stops = _ends(tracks, params)
    n = params.frames
    bounds = shot_bounds(cuts, info.frame_count)

    def shot(index: int) -> tuple[int, int]:
        """First and last frame of the shot of frame ``index``."""
        start, end = bounds[int(shot_of([index], cuts)[0])]
        return start, end - 1

    ring: deque[tuple[int, np.ndarray]] = deque(maxlen=n + 1)
    rows: list[tuple[int, int, np.ndarray, float, float]] = []
    for indices, batch in iter_frames(video, info, batch_size=batch_size, gray=True, fields=True):
        for index, grey in zip(indices, batch, strict=True):
            index = int(index)
            ring.append((index, grey))
            for end in starts.get(index, ()):  # backwards from a first frame: the ring holds the past
                first = shot(index)[0]
                rows += _follow([f for f in reversed(ring) if f[0] >= first], end, covered, params)
            for end in stops.get(index - n, ()):  # forwards from a last frame n frames ago
                last = shot(index - n)[1]
                rows += _follow([f for f in ring if f[0] <= last], end, covered, params)
    final = info.frame_count - 1
    for stop in range(max(0, final - n + 1), final + 1):  # ends too near the end of the video
        for end in stops.get(stop, ()):
            last = shot(stop)[1]
            rows += _follow([f for f in ring if stop <= f[0] <= last], end, covered, params)
    if not rows:
        return pd.DataFrame(columns=columns)
    boxes = np.array([r[2] for r in rows], dtype=np.float64)
    out = pd.DataFrame(boxes, columns=["x1", "y1", "x2", "y2"])
    out.insert(0, "frame_index", np.array([r[0] for r in rows], dtype=np.int64))
    out["score"] = [r[3] for r in rows]
    out["track_id"] = np.array([r[1] for r in rows], dtype=np.int64)
    out["source"] = "followed"
    share = np.array([r[4] for r in rows], dtype=np.float64)
    out = clip_to_frame(out, info.width, info.height)
    size = np.maximum(out["x2"] - out["x1"], out["y2"] - out["y1"]).to_numpy(np.float64)
    out["pad"] = share[out.index.to_numpy()] * np.maximum(size, 1.0)
    return out.sort_values(["frame_index", "track_id"], kind="stable").reset_index(drop=True)
