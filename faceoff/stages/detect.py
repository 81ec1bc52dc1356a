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
from faceoff.progress import Progress
from faceoff.provenance import stage_metadata, timing
from faceoff.shards import ShardStore
from faceoff.stride import RevisitParams, detected_record, revisit, strided


def detector_from(cfg: DetectConfig, threads: int | None = None):
    """The detector the detect section describes, with the second look at dark and noisy frames
    (:mod:`faceoff.lowlight`), wrapped in the zoom (:mod:`faceoff.zoom`), and looking at turned frames too
    (:mod:`faceoff.rotations`, one zoom per orientation), each when it is on; detect and the render's
    frame check (the audit) look through it. ``threads`` applies when ``cfg.threads`` is not set.

    The detector modules are imported here, not at the top: only a process that runs a detector loads them.
    """
    from faceoff.detectors import build_detector
    from faceoff.lowlight import LowLightDetector
    from faceoff.rotations import RotatedDetector
    from faceoff.zoom import ZoomDetector, ZoomParams

    network = build_detector(
        cfg.detector,
        runtime=cfg.runtime,
        device=cfg.device,
        threads=cfg.threads or threads,
        checkpoint=cfg.checkpoint,
    )
    if cfg.low_light_below > 0 or cfg.noisy_above > 0:
        network = LowLightDetector(network, cfg.low_light_below, cfg.noisy_above)

    def look():  # one orientation's detector: the network (shared), with a zoom of its own
        return ZoomDetector(network, ZoomParams.from_config(cfg)) if cfg.zoom_scale > 1 else network

    return RotatedDetector(look, cfg.rotations) if cfg.rotations else look()


def run_detect(
    video: str, info: ProbeInfo, cfg: DetectConfig, out: str | Path, threads: int | None = None
) -> pd.DataFrame:
    """Detect faces on every frame of ``video`` (every ``cfg.stride``-th, and then the skipped frames
    that :func:`faceoff.stride.revisit` picks) and write the detections table to ``out``.

    ``threads`` (e.g. the Snakemake job's) applies when ``cfg.threads`` is not set.
    """
    start = time.perf_counter()
    detector = detector_from(cfg, threads)
    size = detection_size(info, cfg.width)
    scale = (info.width / size[0], info.height / size[1]) if size else (1.0, 1.0)
    pts_time = np.asarray(info.pts_time, dtype=np.float64)
    key = {"params": cfg.params_hash(), "source": info.sha256, "weights": detector.weights_sha256}
    looked = strided(info.frame_count, cfg.stride)
    again = cfg.stride > 1 and cfg.stride_revisit
    store = ShardStore(out, key)
    rows, resume_at = _detect_pass(video, info, cfg, detector, size, scale, looked, store, keep_last=again)
    revisited = np.zeros_like(looked)
    if again:  # offline: go back to the skipped frames next to track ends, gaps, weak or small boxes
        revisited = revisit(rows, looked, RevisitParams.from_config(cfg), scale[0])
    if revisited.any():  # pass 1 decoded and counted every frame; nothing to revisit: no second decode
        if hasattr(detector, "reset"):
            detector.reset()
        store = ShardStore(out, key, prefix="revisit-")
        more, _ = _detect_pass(
            video, info, cfg, detector, size, scale, revisited, store, desc="detect (frames revisited)"
        )
        rows = np.concatenate([rows, more])
    df = pd.DataFrame(rows, columns=["frame_index", "x1", "y1", "x2", "y2", "score"])
    df["frame_index"] = df["frame_index"].astype(np.int64)
    df = df.sort_values("frame_index", kind="stable").reset_index(drop=True)
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
        stride=cfg.stride,
    )
    if cfg.stride > 1:
        meta.update(
            detected_frames=detected_record(looked | revisited),
            strided_frame_count=int(looked.sum()),
            revisited_frame_count=int(revisited.sum()),
        )
    meta["resumed_at_frame"] = resume_at
    write_boxes(df, out, meta, DETECTION_SCHEMA)
    ShardStore(out, key).clear()
    return df


def _detect_pass(
    video: str,
    info: ProbeInfo,
    cfg: DetectConfig,
    detector,
    size: tuple[int, int] | None,
    scale: tuple[float, float],
    look: np.ndarray,
    store: ShardStore,
    keep_last: bool = False,
    desc: str = "detect",
) -> tuple[np.ndarray, int]:
    """One decoding pass over every frame of ``video``, detecting the frames where ``look`` is set.

    Returns the (N,6) rows ``frame_index x1 y1 x2 y2 score`` (source pixels) and the frame it resumed
    at. The rows are saved to ``store`` every ``cfg.shard_frames`` frames (``keep_last``: also the last
    shard, for a pass that another follows) and a killed pass resumes from there; the zoom restarts at
    every shard, so a resumed pass detects what an uninterrupted one does.
    """
    sx, sy = scale
    resume_at, parts = store.resume()
    if resume_at >= info.frame_count:  # finished before the job was killed
        return (np.concatenate(parts) if parts else np.empty((0, 6))), resume_at
    shard_start, shard_rows, seen = resume_at, [], 0
    with Progress(info.frame_count, desc) as progress:
        for indices, frames in prefetch(
            iter_frames(video, info, batch_size=cfg.batch_size, size=size, fields=True)
        ):
            seen += len(indices)
            progress.update(len(indices))
            todo = (indices >= resume_at) & look[indices]  # finished shards and skipped frames: decoded only
            if todo.any():
                found = detector.detect(frames[todo], cfg.threshold)
                for index, dets in zip(indices[todo], found, strict=True):
                    if len(dets):
                        part = np.empty((len(dets), 6), dtype=np.float64)
                        part[:, 0] = index
                        part[:, 1:5] = dets[:, :4] * (sx, sy, sx, sy)
                        part[:, 5] = dets[:, 4]
                        shard_rows.append(part)
            last = seen >= info.frame_count
            if seen > resume_at and seen - shard_start >= cfg.shard_frames and (keep_last or not last):
                store.save(shard_start, seen, np.concatenate(shard_rows) if shard_rows else np.empty((0, 6)))
                if hasattr(detector, "reset"):
                    detector.reset()  # the zoom: each shard starts afresh, as a job resumed there does
                parts += shard_rows
                shard_start, shard_rows = seen, []
    if seen != info.frame_count:  # iter_frames checks too; never write a table missing frames
        raise FaceOffError(f"{video}: detected on {seen} frames, expected {info.frame_count}")
    if keep_last and seen > shard_start:
        store.save(shard_start, seen, np.concatenate(shard_rows) if shard_rows else np.empty((0, 6)))
    parts += shard_rows
    return (np.concatenate(parts) if parts else np.empty((0, 6))), resume_at
