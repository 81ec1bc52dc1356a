"""The render stage: every tracked box hidden on every frame, encoded -> the rendered video and its stats."""

from __future__ import annotations

import json
import time
from pathlib import Path

from faceoff import __version__
from faceoff.anonymize import anonymize_frame
from faceoff.atomic import write_text
from faceoff.boxes import boxes_by_frame, check_made_for, read_boxes, read_metadata
from faceoff.config import RenderConfig
from faceoff.decode import iter_frames
from faceoff.encode import VideoWriter
from faceoff.prefetch import prefetch
from faceoff.probe import ProbeInfo
from faceoff.provenance import timing


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
    check_made_for(tracks_path, info)
    tracks_meta = read_metadata(tracks_path)
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
        **timing(seconds, written),
    }
    write_text(stats_out, json.dumps(stats, indent=2) + "\n")
    return stats
