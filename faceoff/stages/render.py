"""The render stage: every tracked box hidden on every frame, each rendered frame audited as it goes to the
encoder (check 1 of :mod:`faceoff.audit`), encoded -> the rendered video and its stats.

Frames stay in the encoder's YUV format from decoder to encoder (:func:`faceoff.decode.iter_yuv`,
:func:`faceoff.anonymize.anonymize_yuv`): no colour conversion of the full frame. The audit's detector
gets an RGB copy at ``audit.width`` made from the very buffer handed to the encoder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from faceoff import __version__, yuv
from faceoff.anonymize import anonymize_yuv
from faceoff.atomic import write_text
from faceoff.audit import AuditParams, FrameAudit
from faceoff.boxes import check_made_for, read_boxes, read_metadata
from faceoff.config import AuditConfig, DetectConfig, RenderConfig
from faceoff.corrections import write_corrected_tracks
from faceoff.decode import iter_yuv
from faceoff.deinterlace import first_field, hidden_by_frame
from faceoff.encode import VideoWriter
from faceoff.errors import FaceOffError
from faceoff.prefetch import prefetch
from faceoff.probe import ProbeInfo, sha256_file
from faceoff.progress import Progress
from faceoff.provenance import timing


def run_render(
    video: str,
    info: ProbeInfo,
    tracks_path: str | Path,
    cfg: RenderConfig,
    out: str | Path,
    stats_out: str | Path,
    log_path: str | None = None,
    *,
    corrections: str | Path | None = None,
    corrected: str | Path | None = None,
    audit: AuditConfig | None = None,
    detect: DetectConfig | None = None,
    threads: int | None = None,
    detector=None,
) -> dict:
    """Anonymize every tracked box of ``video``, encode it to ``out``, write render stats to ``stats_out``.

    With ``corrected`` the boxes hidden are the tracks with a reviewer's ``corrections`` file applied (or
    the tracks as they are, without one), written to ``corrected`` first (:mod:`faceoff.corrections`).
    With ``audit`` enabled, every rendered frame is re-detected before it is encoded (the detector
    ``detect`` describes, with its zoom, or ``detector`` when given) and the check's record goes into
    the stats under ``audit``, with the sha256 of the encoded file.
    """
    start = time.perf_counter()
    if corrected is not None:
        write_corrected_tracks(tracks_path, corrections, info, corrected)
        tracks_path = corrected
    elif corrections is not None:
        raise FaceOffError(f"{corrections}: corrections need a corrected tracks path to write (--corrected)")
    check_made_for(tracks_path, info)
    tracks_meta = read_metadata(tracks_path)
    by_frame = hidden_by_frame(read_boxes(tracks_path), info.interlace)
    checker = None
    if audit is not None and audit.enabled:
        if detector is None:
            from faceoff.stages.detect import detector_from  # imports the detector only when it runs

            detector = detector_from(detect or DetectConfig(), threads)
        params = AuditParams.from_config(audit, (detect or DetectConfig()).detector)
        checker = FrameAudit(info, tracks_path, cfg, params, detector)
    width, height = info.width, info.height
    written = boxes_hidden = 0
    with (
        VideoWriter(
            out,
            info,
            crf=cfg.crf,
            preset=cfg.preset,
            keep_audio=cfg.keep_audio,
            source_path=video,
            log_path=log_path,
            input_format="yuv",
        ) as writer,
        Progress(info.frame_count, "render") as progress,
    ):
        pix_fmt = writer.pix_fmt
        shown = {"color_range": info.color_range, "color_matrix": info.color_matrix}  # kept by the encoder
        for indices, frames in prefetch(iter_yuv(video, info, pix_fmt, batch_size=cfg.batch_size)):
            for index, frame in zip(indices, frames, strict=True):
                boxes = by_frame.get(int(index))
                if boxes is not None:
                    anonymize_yuv(yuv.planes(frame, width, height, pix_fmt), boxes, cfg, **shown)
                    boxes_hidden += len(boxes)
            if checker is not None:  # the frames exactly as they go to the encoder (interlaced: a field)
                woven = info.interlace != "progressive"
                size = None if woven else checker.size
                rgb = np.stack([yuv.to_rgb(f, width, height, pix_fmt, size, **shown) for f in frames])
                checker.check(indices, first_field(rgb, info.interlace, checker.size) if woven else rgb)
            writer.write(frames)
            written += len(indices)
            progress.update(len(indices))
    seconds = time.perf_counter() - start
    # one video stream is delivered: a second camera's stream or cover art is dropped, never copied
    kept = {"video": 1, "audio": info.streams.get("audio", 0) if cfg.keep_audio else 0}
    stats = {
        "output": str(out),
        "output_sha256": sha256_file(out),
        "frames_written": written,
        "boxes_hidden": boxes_hidden,
        "params_hash": cfg.params_hash(),
        "tracks_params_hash": tracks_meta.get("params_hash"),
        "faceoff_version": __version__,
        "output_check": writer.verification,
        "kept_streams": kept,
        "dropped_streams": {k: n - kept.get(k, 0) for k, n in info.streams.items() if n > kept.get(k, 0)},
        "audit": checker.result(out, every_finding=True) if checker is not None else {"enabled": False},
        **timing(seconds, written),
    }
    write_text(stats_out, json.dumps(stats, indent=2) + "\n")
    return stats
