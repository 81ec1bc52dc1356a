"""The per-video stages behind the CLI and the Snakemake rules: detect, regularize, render.

Each reads and writes files, records its timing and parameter hash in its output's metadata, and
checks that every frame of the probed video went through it (fail closed).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from faceoff import __version__
from faceoff.anonymize import anonymize_frame
from faceoff.boxes import (
    DETECTION_SCHEMA,
    TRACK_SCHEMA,
    boxes_by_frame,
    read_boxes,
    read_metadata,
    write_boxes,
)
from faceoff.config import DetectConfig, RegularizeConfig, RenderConfig
from faceoff.decode import iter_frames
from faceoff.encode import VideoWriter
from faceoff.errors import FaceOffError
from faceoff.follow import follow_tracks
from faceoff.prefetch import prefetch
from faceoff.probe import ProbeInfo
from faceoff.regularize import kernel_regularize
from faceoff.report import atomic_write_text
from faceoff.shards import ShardStore
from faceoff.tracking import track_regularize


def build_detector(name: str, **options):
    """Build a registered detector; torch is imported only when a stage needs a detector."""
    from faceoff.detectors import build_detector as build

    return build(name, **options)


def detector_from(cfg: DetectConfig, threads: int | None = None):
    """The detector the detect section describes, wrapped in the zoom (:mod:`faceoff.zoom`) when it is
    on; detect and audit both look through it. ``threads`` applies when ``cfg.threads`` is not set."""
    detector = build_detector(
        cfg.detector,
        runtime=cfg.runtime,
        device=cfg.device,
        threads=cfg.threads or threads,
        checkpoint=cfg.checkpoint,
    )
    if (zoom := cfg.zoom_params()) is None:
        return detector
    from faceoff.zoom import ZoomDetector  # imports torch, like the detector: only where one runs

    return ZoomDetector(detector, zoom)


def _timing(seconds: float, frames: int) -> dict[str, float]:
    return {
        "seconds": round(seconds, 4),
        "frames_per_second": round(frames / seconds, 3) if seconds > 0 else 0.0,
    }


def _base_metadata(stage: str, info: ProbeInfo, params_hash: str) -> dict:
    return {
        "faceoff_version": __version__,
        "stage": stage,
        "params_hash": params_hash,
        "source_sha256": info.sha256,
        "width": info.width,
        "height": info.height,
        "frame_count": info.frame_count,
    }


def detection_size(info: ProbeInfo, width: int) -> tuple[int, int] | None:
    """Decode size for detection: ``width`` wide with the source aspect, or None for source size."""
    if width <= 0 or width >= info.width:
        return None
    height = max(2, round(info.height * width / info.width / 2) * 2)
    return (width, height)


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
    meta = _base_metadata("detect", info, cfg.params_hash())
    meta.update(
        detector=detector.name,
        weights_sha256=detector.weights_sha256,
        runtime=detector.runtime,
        detection_size=list(size or (info.width, info.height)),
        timing=_timing(time.perf_counter() - start, info.frame_count),
    )
    meta["resumed_at_frame"] = resume_at
    write_boxes(df, out, meta, DETECTION_SCHEMA)
    store.clear()
    return df


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
    det_meta = read_metadata(detections)
    if det_meta.get("frame_count") not in (None, info.frame_count):
        raise FaceOffError(
            f"{detections}: made for {det_meta['frame_count']} frames, video has {info.frame_count}"
        )
    det = read_boxes(detections)
    pts_time = np.asarray(info.pts_time)
    followed = 0
    if cfg.method == "kernel":
        tracks = kernel_regularize(det, pts_time, cfg.kernel_radius, cfg.merge_iou)
    else:
        tracks = track_regularize(det, pts_time, cfg.track_params(), info.width, info.height)
        if cfg.follow_frames > 0 and not tracks.empty:
            if video is None:
                raise FaceOffError(
                    f"{detections}: regularize.follow_frames is {cfg.follow_frames}: following faces needs "
                    "the video (faceoff regularize --video); set it to 0 to track without the video"
                )
            extra = follow_tracks(video, info, tracks, cfg.follow_params())
            if len(extra):
                extra["pts_time"] = pts_time[extra["frame_index"].to_numpy()]
                tracks = pd.concat([tracks, extra[tracks.columns]], ignore_index=True)
                followed = len(extra)
    meta = _base_metadata("regularize", info, cfg.params_hash())
    meta.update(
        method=cfg.method,
        followed_boxes=followed,
        detector=det_meta.get("detector"),
        weights_sha256=det_meta.get("weights_sha256"),
        detect_params_hash=det_meta.get("params_hash"),
        timing=_timing(time.perf_counter() - start, info.frame_count),
    )
    write_boxes(tracks, out, meta, TRACK_SCHEMA)
    return tracks


def run_render(
    video: str,
    info: ProbeInfo,
    tracks_path: str | Path,
    cfg: RenderConfig,
    out: str | Path,
    stats_out: str | Path,
    log_path: str | None = None,
) -> dict:
    """Anonymize every tracked box of ``video``, encode it to ``out``, write render stats to ``stats_out``."""
    start = time.perf_counter()
    tracks_meta = read_metadata(tracks_path)
    if tracks_meta.get("frame_count") not in (None, info.frame_count):
        raise FaceOffError(
            f"{tracks_path}: made for {tracks_meta['frame_count']} frames, video has {info.frame_count}"
        )
    by_frame = boxes_by_frame(read_boxes(tracks_path), hidden=True)
    written = boxes_hidden = 0
    with VideoWriter(
        out,
        info,
        crf=cfg.crf,
        preset=cfg.preset,
        keep_audio=cfg.keep_audio,
        source_path=video,
        log_path=log_path,
    ) as writer:
        for indices, frames in prefetch(iter_frames(video, info, batch_size=cfg.batch_size)):
            for index, frame in zip(indices, frames, strict=True):
                boxes = by_frame.get(int(index))
                if boxes is not None:
                    anonymize_frame(frame, boxes, cfg)
                    boxes_hidden += len(boxes)
            writer.write(frames)
            written += len(indices)
    seconds = time.perf_counter() - start
    stats = {
        "output": str(out),
        "frames_written": written,
        "boxes_hidden": boxes_hidden,
        "params_hash": cfg.params_hash(),
        "tracks_params_hash": tracks_meta.get("params_hash"),
        "faceoff_version": __version__,
        "output_check": writer.verification,
        "kept_streams": {"video": 1, "audio": info.streams.get("audio", 0) if cfg.keep_audio else 0},
        "dropped_streams": {
            k: v
            for k, v in info.streams.items()
            if v and k != "video" and not (k == "audio" and cfg.keep_audio)
        },
        **_timing(seconds, written),
    }
    atomic_write_text(stats_out, json.dumps(stats, indent=2) + "\n")
    return stats
