"""Shot cuts: where a video's hard cuts are, and the shots between them.

A recording edited together from several takes (a stage recording switching cameras, a film) shows
another place, often other people, from one frame to the next. Nothing FaceOff does over time may
reach across such a cut: a track linked, interpolated, extended, smoothed or followed across it slides
a box from one person in the first shot towards another person in the next.

The probe stage finds the cuts once per video (:func:`find_cuts`, recorded in the probe JSON as
``cuts``, which every later stage reads): ``cuts`` is the sorted list of the frame indices that *start*
a new shot (never 0; ``[]``: one shot). The frames are decoded :data:`WIDTH` pixels wide and handed to
one of PySceneDetect's detectors (``shots`` config section). The regularize stage then links and fills
tracks in each shot on its own (:func:`per_shot`), tells the follower where the shots end, and checks
the result (:func:`check_within_shots`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from faceoff.boxes import TRACK_SCHEMA, empty_frame
from faceoff.config import ShotsConfig, params_from
from faceoff.decode import detection_size, iter_frames
from faceoff.errors import FaceOffError
from faceoff.probe import ProbeInfo

if TYPE_CHECKING:
    from scenedetect import FrameTimecode, SceneDetector

WIDTH = 256  # decode width: PySceneDetect's own default downscale target, for which its thresholds hold


@dataclass(frozen=True)
class ShotParams:
    """The cut detector: the ``shots`` config keys (defaults and meaning there, :class:`ShotsConfig`)."""

    detector: str  # adaptive | content | off
    adaptive_threshold: float
    min_content: float
    content_threshold: float
    min_shot_frames: int

    @classmethod
    def from_config(cls, cfg: ShotsConfig) -> ShotParams:
        """From the ``shots`` section."""
        return params_from(cls, cfg)


def scene_detector(p: ShotParams) -> SceneDetector:
    """PySceneDetect's detector named by ``p`` (imported here: scenedetect takes ~1 s to import, which
    the regularize stage, using only the shot bounds, need not pay)."""
    from scenedetect.detectors import AdaptiveDetector, ContentDetector

    if p.detector == "adaptive":
        return AdaptiveDetector(
            adaptive_threshold=p.adaptive_threshold,
            min_scene_len=p.min_shot_frames,
            min_content_val=p.min_content,
        )
    if p.detector == "content":
        return ContentDetector(threshold=p.content_threshold, min_scene_len=p.min_shot_frames)
    raise ValueError(f"unknown cut detector {p.detector!r}")


def find_cuts(video: str | Path, info: ProbeInfo, params: ShotParams, batch_size: int = 32) -> list[int]:
    """The frames of ``video`` that start a new shot (sorted, never 0): one decoding pass at
    :data:`WIDTH` pixels wide (every frame's pts checked against ``info``, as :func:`iter_frames` does).
    An interlaced video is read as its first fields, the frames the detector sees: an edit that cut
    between a frame's two fields then shows one clean change, not two half ones (woven frames missed 6 of
    22 such cuts on three real clips, first fields 4, each found on the frame detect sees change)."""
    if params.detector == "off" or info.frame_count < 2:
        return []
    from scenedetect import FrameTimecode

    detector = scene_detector(params)
    rate = info.avg_fps if info.avg_fps > 0 else 25.0
    size = detection_size(info, WIDTH)
    found: list[FrameTimecode] = []
    last = FrameTimecode(0, rate)
    for indices, frames in iter_frames(video, info, batch_size=batch_size, size=size, fields=True):
        for index, rgb in zip(indices, frames, strict=True):
            last = FrameTimecode(int(index), rate)
            found += detector.process_frame(last, np.ascontiguousarray(rgb[..., ::-1]))  # BGR, as it expects
    found += detector.post_process(last)
    return sorted({int(t.frame_num) for t in found} - {0})


def shot_bounds(cuts: Sequence[int], n_frames: int) -> list[tuple[int, int]]:
    """``(first frame, end)`` (end exclusive) of each shot of an ``n_frames`` video cut at ``cuts``."""
    edges = [0, *cuts, n_frames]
    if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError(f"cuts {list(cuts)} are not increasing frames inside 1..{n_frames - 1}")
    return list(zip(edges, edges[1:], strict=False))


def shot_of(frames: np.ndarray | Sequence[int], cuts: Sequence[int]) -> np.ndarray:
    """The shot number (0, 1, ...) of each frame index."""
    return np.searchsorted(np.asarray(cuts, dtype=np.int64), np.asarray(frames, dtype=np.int64), side="right")


Regularizer = Callable[[pd.DataFrame, np.ndarray, np.ndarray | None], pd.DataFrame]


def per_shot(
    detections: pd.DataFrame,
    pts_time: np.ndarray,
    cuts: Sequence[int],
    detected: np.ndarray | None,
    regularize: Regularizer,
) -> pd.DataFrame:
    """``regularize(detections, pts_time, detected)`` run on each shot alone, as if it were a video of its
    own (frames renumbered from 0), and the results put back in place: frame indices shifted back, track
    ids offset so that no two shots share one. ``detected``: (n_frames,) bool or None, sliced per shot."""
    pts_time = np.asarray(pts_time, dtype=np.float64)
    shot = shot_of(detections["frame_index"].to_numpy(), cuts) if len(detections) else np.array([], int)
    parts: list[pd.DataFrame] = []
    offset = 0
    for k, (start, end) in enumerate(shot_bounds(cuts, len(pts_time))):
        local = detections[shot == k].copy()
        local["frame_index"] -= start
        out = regularize(local, pts_time[start:end], None if detected is None else detected[start:end])
        if out.empty:
            continue
        out = out.copy()
        out["frame_index"] += start
        out["track_id"] += offset
        offset = int(out["track_id"].max()) + 1
        parts.append(out)
    if not parts:
        return empty_frame(TRACK_SCHEMA)
    return pd.concat(parts, ignore_index=True)


def check_within_shots(tracks: pd.DataFrame, cuts: Sequence[int], what: str) -> None:
    """Raise :class:`FaceOffError` (naming ``what``) if a track's rows lie in more than one shot."""
    if tracks.empty or not len(cuts):
        return
    shots = pd.Series(shot_of(tracks["frame_index"].to_numpy(), cuts), index=tracks.index)
    spread = shots.groupby(tracks["track_id"]).nunique()
    crossing = spread.index[spread > 1].tolist()
    if crossing:
        raise FaceOffError(f"{what}: tracks {crossing[:10]} cross a shot cut (cuts at {list(cuts)[:10]})")
