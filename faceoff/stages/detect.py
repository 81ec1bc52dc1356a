"""The detect stage: faces on every frame of a video -> the detections table."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from faceoff.boxes import DETECTION_SCHEMA, write_boxes
from faceoff.config import DetectConfig
from faceoff.decode import detection_size, iter_frames
from faceoff.errors import FaceOffError
from faceoff.prefetch import prefetch
from faceoff.probe import ProbeInfo
from faceoff.provenance import stage_metadata, timing
from faceoff.shards import ShardStore


def detector_from(cfg: DetectConfig, threads: int | None = None):
    """The detector the detect section describes, wrapped in the zoom (:mod:`faceoff.zoom`) when it is
    on; detect and audit both look through it. ``threads`` applies when ``cfg.threads`` is not set.

    The detector modules are imported here, not at the top: only a process that runs a detector loads them.
    """
    from faceoff.detectors import build_detector
    from faceoff.zoom import ZoomDetector, ZoomParams

    detector = build_detector(
        cfg.detector,
        runtime=cfg.runtime,
        device=cfg.device,
        threads=cfg.threads or threads,
        checkpoint=cfg.checkpoint,
    )
    if cfg.zoom_scale <= 1:
        return detector
    return ZoomDetector(detector, ZoomParams.from_config(cfg))


def run_detect(
    video: str, info: ProbeInfo, cfg: DetectConfig, out: str | Path, threads: int | None = None
) -> pd.DataFrame:
    """Detect faces on every frame of ``video`` and write the detections table to ``out``.

    ``threads`` (e.g. the Snakemake job's) applies when ``cfg.threads`` is not set.
    """
    start = time.perf_counter()
    detector = detector_from(cfg, threads)
    size = detection_size(info, cfg.width)
    sx, sy = (info.width / size[0], info.height / size[1]) if size else (1.0, 1.0)
    pts_time = np.asarray(info.pts_time, dtype=np.float64)
    key = {"params": cfg.params_hash(), "source": info.sha256, "weights": detector.weights_sha256}
    store = ShardStore(out, key)
    resume_at, parts = store.resume()
    shard_start, shard_rows, seen = resume_at, [], 0
    for indices, frames in prefetch(iter_frames(video, info, batch_size=cfg.batch_size, size=size)):
        seen += len(indices)
        todo = indices >= resume_at  # frames of finished shards are decoded but not detected again
        if not todo.any():
            continue
        for index, dets in zip(indices[todo], detector.detect(frames[todo], cfg.threshold), strict=True):
            if len(dets):
                part = np.empty((len(dets), 6), dtype=np.float64)
                part[:, 0] = index
                part[:, 1:5] = dets[:, :4] * (sx, sy, sx, sy)
                part[:, 5] = dets[:, 4]
                shard_rows.append(part)
        if seen - shard_start >= cfg.shard_frames and seen < info.frame_count:
            store.save(shard_start, seen, np.concatenate(shard_rows) if shard_rows else np.empty((0, 6)))
            if hasattr(detector, "reset"):
                detector.reset()  # the zoom: each shard starts afresh, as a job resumed there does
            parts += shard_rows
            shard_start, shard_rows = seen, []
    parts += shard_rows
    if seen != info.frame_count:  # iter_frames checks too; never write a table missing frames
        raise FaceOffError(f"{video}: detected on {seen} frames, expected {info.frame_count}")
    rows = np.concatenate(parts) if parts else np.empty((0, 6))
    df = pd.DataFrame(rows, columns=["frame_index", "x1", "y1", "x2", "y2", "score"])
    df["frame_index"] = df["frame_index"].astype(np.int64)
    df[["x1", "x2"]] = df[["x1", "x2"]].clip(0, info.width)
    df[["y1", "y2"]] = df[["y1", "y2"]].clip(0, info.height)
    df["pts_time"] = pts_time[df["frame_index"].to_numpy()]
    meta = stage_metadata("detect", info, cfg.params_hash())
    meta.update(
        detector=detector.name,
        weights_sha256=detector.weights_sha256,
        runtime=detector.runtime,
        detection_size=list(size or (info.width, info.height)),
        timing=timing(time.perf_counter() - start, info.frame_count),
    )
    meta["resumed_at_frame"] = resume_at
    write_boxes(df, out, meta, DETECTION_SCHEMA)
    store.clear()
    return df
