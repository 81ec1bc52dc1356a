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
from faceoff.tracking import TrackParams, track_regularize


def run_regularize(
    detections: str | Path,
    info: ProbeInfo,
    cfg: RegularizeConfig,
    out: str | Path,
    video: str | Path | None = None,
) -> pd.DataFrame:
    """Regularize a detections table over time and write the tracks table to ``out``.

    ``video`` (the detected video) is read when the ``tracks`` method follows faces past the ends of
    their tracks (``follow_frames`` > 0); without it that is an error, not a silent skip.
    """
    start = time.perf_counter()
    check_made_for(detections, info)
    det_meta = read_metadata(detections)
    det = read_boxes(detections)
    pts_time = np.asarray(info.pts_time)
    followed = 0
    if cfg.method == "kernel":
        tracks = kernel_regularize(det, pts_time, cfg.kernel_radius, cfg.merge_iou)
    else:
        tracks = track_regularize(det, pts_time, TrackParams.from_config(cfg), info.width, info.height)
        if cfg.follow_frames > 0 and not tracks.empty:
            if video is None:
                raise FaceOffError(
                    f"{detections}: regularize.follow_frames is {cfg.follow_frames}: following faces needs "
                    "the video (faceoff regularize --video); set it to 0 to track without the video"
                )
            extra = follow_tracks(video, info, tracks, FollowParams.from_config(cfg))
            if len(extra):
                extra["pts_time"] = pts_time[extra["frame_index"].to_numpy()]
                tracks = pd.concat([tracks, extra[tracks.columns]], ignore_index=True)
                followed = len(extra)
    meta = stage_metadata("regularize", info, cfg.params_hash())
    meta.update(
        method=cfg.method,
        followed_boxes=followed,
        detector=det_meta.get("detector"),
        weights_sha256=det_meta.get("weights_sha256"),
        detect_params_hash=det_meta.get("params_hash"),
        timing=timing(time.perf_counter() - start, info.frame_count),
    )
    write_boxes(tracks, out, meta, TRACK_SCHEMA)
    return tracks
