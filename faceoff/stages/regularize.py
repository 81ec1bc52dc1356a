"""The regularize stage: detections linked over time into tracks (or the paper's kernel) -> tracks table."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from faceoff.boxes import TRACK_SCHEMA, check_made_for, read_boxes, read_metadata, write_boxes
from faceoff.config import RegularizeConfig
from faceoff.errors import FaceOffError
from faceoff.follow import FollowParams, follow_tracks
from faceoff.probe import ProbeInfo
from faceoff.provenance import stage_metadata, timing
from faceoff.regularize import kernel_regularize
from faceoff.shots import check_within_shots, per_shot, shot_bounds
from faceoff.stride import detected_frames, longest_skip
from faceoff.tracking import TrackParams, loose_detections, track_regularize, unconfirmed_tracks


def _kernel_reach(detected: np.ndarray, cuts: list[int]) -> int:
    """The kernel radius that covers every frame that was not detected (``detect.stride``): half the
    longest skip inside a shot (bridged from both sides), a skip at a shot's edge whole (one side)."""
    need = 0
    for start, end in shot_bounds(cuts, len(detected)):
        looked = np.flatnonzero(detected[start:end])
        if not len(looked):
            need = max(need, end - start)
            continue
        edge = max(int(looked[0]), end - start - 1 - int(looked[-1]))
        need = max(need, (longest_skip(detected[start:end]) + 1) // 2, edge)
    return need


def run_regularize(
    detections: str | Path,
    info: ProbeInfo,
    cfg: RegularizeConfig,
    out: str | Path,
    video: str | Path | None = None,
) -> pd.DataFrame:
    """Regularize a detections table over time and write the tracks table to ``out``.

    ``video`` (the detected video) is read when the ``tracks`` method follows faces past the ends of
    their tracks (``follow_frames`` > 0); without it that is an error, not a silent skip. Each shot
    (the probe's ``cuts``, :mod:`faceoff.shots`) is regularized on its own: no track crosses a cut.
    Last, the detections of ``keep_score`` or more that no track hides are added on their own frames.
    """
    start = time.perf_counter()
    check_made_for(detections, info)
    if info.cuts is None:
        raise FaceOffError(f"{detections}: the probe JSON records no shot cuts: probe the video again")
    cuts = info.cuts
    det_meta = read_metadata(detections)
    det = read_boxes(detections)
    pts_time = np.asarray(info.pts_time)
    followed = 0
    detected = detected_frames(det_meta, info.frame_count)  # under a detection stride; else None
    if cfg.method == "kernel":
        if detected is not None and _kernel_reach(detected, cuts) > cfg.kernel_radius:
            raise FaceOffError(
                f"{detections}: the frames that were not detected (detect.stride) need a kernel radius of "
                f"{_kernel_reach(detected, cuts)} to be covered from their own shot, more than "
                f"regularize.kernel_radius {cfg.kernel_radius}"
            )
        tracks = per_shot(
            det,
            pts_time,
            cuts,
            detected,
            lambda d, t, _: kernel_regularize(d, t, cfg.kernel_radius, cfg.merge_iou),
        )
    else:
        params = TrackParams.from_config(cfg)
        tracks = per_shot(
            det,
            pts_time,
            cuts,
            detected,
            lambda d, t, looked: track_regularize(d, t, params, info.width, info.height, looked),
        )
        if cfg.follow_frames > 0 and not tracks.empty:
            if video is None:
                raise FaceOffError(
                    f"{detections}: regularize.follow_frames is {cfg.follow_frames}: following faces needs "
                    "the video (faceoff regularize --video); set it to 0 to track without the video"
                )
            extra = follow_tracks(video, info, tracks, FollowParams.from_config(cfg), cuts=cuts)
            if len(extra):
                extra["pts_time"] = pts_time[extra["frame_index"].to_numpy()]
                tracks = pd.concat([tracks, extra[tracks.columns]], ignore_index=True)
                followed = len(extra)
        if params.keep_score > 0:
            loose = loose_detections(det, tracks, params.keep_score)
            kept = per_shot(loose, pts_time, cuts, None, lambda d, t, _: unconfirmed_tracks(d, t, params))
            if len(kept):
                kept["track_id"] += int(tracks["track_id"].max()) + 1 if len(tracks) else 0
                tracks = pd.concat([tracks, kept[tracks.columns]], ignore_index=True)
    check_within_shots(tracks, cuts, str(out))
    meta = stage_metadata("regularize", info, cfg.params_hash())
    meta.update(
        method=cfg.method,
        cuts=cuts,
        followed_boxes=followed,
        detector=det_meta.get("detector"),
        weights_sha256=det_meta.get("weights_sha256"),
        detect_params_hash=det_meta.get("params_hash"),
        timing=timing(time.perf_counter() - start, info.frame_count),
    )
    write_boxes(tracks, out, meta, TRACK_SCHEMA)
    return tracks
