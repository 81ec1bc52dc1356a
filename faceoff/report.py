"""Per-video report: source facts, face counts, stage timing, provenance; recall and coverage if annotated."""

from __future__ import annotations

import json
import math
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from faceoff.annotations import detect_format, load_annotations
from faceoff.boxes import SOURCES, read_boxes, read_metadata
from faceoff.config import RenderConfig
from faceoff.evaluate import evaluate_video
from faceoff.timeline import faces_per_frame, timeline_png

# Distribution names tried in order for each reported package (first installed one wins).
PACKAGES: dict[str, tuple[str, ...]] = {
    "faceoff": ("faceoff",),
    "torch": ("torch",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "decord": ("decord",),
    "av": ("av",),
    "numpy": ("numpy",),
    "pyarrow": ("pyarrow",),
}


def versions() -> dict[str, str | None]:
    """Installed versions of python and the packages that shape the output (None if missing)."""
    out: dict[str, str | None] = {}
    for key, dists in PACKAGES.items():
        out[key] = None
        for dist in dists:
            try:
                out[key] = version(dist)
                break
            except PackageNotFoundError:
                continue
    out["python"] = platform.python_version()
    return out


def jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and non-finite floats (-> None) into strict-JSON values."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _load_json(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _fps(frames: Any, seconds: Any) -> float | None:
    if not isinstance(frames, int | float) or not isinstance(seconds, int | float) or seconds <= 0:
        return None
    return float(frames) / float(seconds)


def _timing(seconds: Any, fps: Any, frames: Any) -> dict[str, float | None]:
    sec = float(seconds) if isinstance(seconds, int | float) else None
    rate = float(fps) if isinstance(fps, int | float) else _fps(frames, sec)
    return {"seconds": sec, "frames_per_second": rate}


def _table_stats(df: pd.DataFrame, n_frames: int | None) -> dict[str, Any]:
    frames = int(df["frame_index"].nunique()) if len(df) else 0
    return {
        "boxes": len(df),
        "frames_with_faces": frames,
        "fraction_frames_with_faces": (frames / n_frames) if n_frames else None,
    }


def build_report(
    video_id: str,
    probe_json: str | Path,
    detections_parquet: str | Path,
    tracks_parquet: str | Path,
    render_json: str | Path,
    annotations: str | Path | None,
    config_hashes: dict[str, str],
    iou: float = 0.5,
    *,
    render: RenderConfig | None = None,
    audit_json: str | Path | None = None,
    contact_sheet: str | Path | None = None,
    delivered: str | Path | None = None,
    review: str | Path | None = None,
) -> dict[str, Any]:
    """Assemble the report dict for one video from the outputs of every stage.

    With ``annotations`` (any format :func:`faceoff.annotations.load_annotations` reads), the report
    gains ``recall`` ({"detections": ..., "tracks": ...}, i.e. before / after temporal smoothing,
    recall and precision at IoU ``iou``), ``coverage`` (the same two, scored as the share of each
    annotated face hidden by the region ``render`` draws, see :mod:`faceoff.evaluate`, plus the
    render settings used) and ``annotations`` (what was read).
    """
    render_cfg = render if render is not None else RenderConfig()
    probe = _load_json(probe_json)
    render_stats = _load_json(render_json)
    det, trk = read_boxes(detections_parquet), read_boxes(tracks_parquet)
    det_meta, trk_meta = read_metadata(detections_parquet), read_metadata(tracks_parquet)
    n_frames = probe.get("frame_count")
    n_frames = int(n_frames) if isinstance(n_frames, int | float) else None

    det_stats, trk_stats = _table_stats(det, n_frames), _table_stats(trk, n_frames)
    by_source = {s: 0 for s in SOURCES}
    if len(trk) and "source" in trk.columns:
        for s, n in trk["source"].astype(str).value_counts().items():
            by_source[str(s)] = int(n)
    n_tracks = int(trk["track_id"].nunique()) if len(trk) and "track_id" in trk.columns else 0

    params = {
        "detect": det_meta.get("params_hash"),
        "regularize": trk_meta.get("params_hash"),
        "render": render_stats.get("params_hash"),
    }
    mismatch = sorted(
        k for k, v in config_hashes.items() if k in params and params[k] is not None and params[k] != v
    )
    sha = probe.get("sha256")
    source_match = {
        stage: (meta.get("source_sha256") == sha) if meta.get("source_sha256") and sha else None
        for stage, meta in (("detect", det_meta), ("regularize", trk_meta))
    }

    out_path = render_stats.get("output")
    out_size = None
    if out_path and Path(out_path).is_file():
        out_size = Path(out_path).stat().st_size
    frames_written = render_stats.get("frames_written")

    det_timing = det_meta.get("timing") or {}
    trk_timing = trk_meta.get("timing") or {}
    timing = {
        "probe": _timing(probe.get("seconds"), None, n_frames),
        "detect": _timing(det_timing.get("seconds"), det_timing.get("frames_per_second"), n_frames),
        "regularize": _timing(trk_timing.get("seconds"), trk_timing.get("frames_per_second"), n_frames),
        "render": _timing(render_stats.get("seconds"), render_stats.get("frames_per_second"), frames_written),
    }
    secs = [t["seconds"] for t in timing.values() if t["seconds"] is not None]
    timing["total_seconds"] = float(sum(secs)) if secs else None

    report: dict[str, Any] = {
        "id": video_id,
        "source": {
            "path": probe.get("path"),
            "sha256": sha,
            "frames": n_frames,
            "width": probe.get("width"),
            "height": probe.get("height"),
            "rotation": probe.get("rotation"),
            "fps": probe.get("avg_fps"),
            "duration": probe.get("duration"),
            "vfr": probe.get("variable_frame_rate"),
            "codec": probe.get("codec"),
            "pix_fmt": probe.get("pix_fmt"),
            "size_bytes": probe.get("size_bytes"),
            "streams": probe.get("streams"),
            # frames before the first keyframe of a file cut from a stream: no decoder shows them
            "leading_undecodable": probe.get("leading_undecodable", 0),
            "cuts": probe.get("cuts"),  # frames that start a new shot (faceoff/shots.py)
        },
        "frames_with_faces": {
            "detections": det_stats["frames_with_faces"],
            "tracks": trk_stats["frames_with_faces"],
        },
        "fraction_frames_with_faces": {
            "detections": det_stats["fraction_frames_with_faces"],
            "tracks": trk_stats["fraction_frames_with_faces"],
        },
        "boxes": {"detections": det_stats["boxes"], "tracks": trk_stats["boxes"]},
        "tracks": {"count": n_tracks, "boxes_by_source": by_source},
        # a reviewer's corrections applied to the tracks (faceoff/corrections.py): file, sha256, counts
        "corrections": trk_meta.get("corrections"),
        "timing": timing,
        "params_hashes": params,
        "config_hashes": dict(config_hashes),
        "params_mismatch": mismatch,
        "provenance": {
            "detector": det_meta.get("detector"),
            "weights_sha256": det_meta.get("weights_sha256"),
            "faceoff_version": {
                "detect": det_meta.get("faceoff_version"),
                "regularize": trk_meta.get("faceoff_version"),
            },
            "source_sha256_matches": source_match,
        },
        "versions": versions(),
        "output": {
            "path": out_path,
            "exists": out_size is not None,
            "size_bytes": out_size,
            "frames_written": frames_written,
            "frames_match_source": (frames_written == n_frames)
            if frames_written is not None and n_frames is not None
            else None,
            "kept_streams": render_stats.get("kept_streams"),
            "check": render_stats.get("output_check"),
            "dropped_streams": render_stats.get("dropped_streams"),
            "delivered": str(delivered) if delivered else None,
            "review": str(review) if review else None,
        },
        "inputs": {
            "probe": str(probe_json),
            "detections": str(detections_parquet),
            "tracks": str(tracks_parquet),
            "render": str(render_json),
            "annotations": str(annotations) if annotations else None,
        },
    }
    if audit_json:
        report["audit"] = _audit_block(_load_json(audit_json), contact_sheet)
    if annotations:
        report.update(_evaluation(annotations, probe, render_stats, det, trk, render_cfg, n_frames, iou))
    return jsonable(report)


def _audit_block(audit: dict[str, Any], contact_sheet: str | Path | None) -> dict[str, Any]:
    """What the post-render audit found (the full list stays in the audit JSON)."""
    keys = ("enabled", "passed", "threshold", "n_findings", "frames_with_findings", "hits_inside_hidden")
    block = {k: audit.get(k) for k in keys}
    block["enabled"] = audit.get("enabled", True)
    block["max_score_inside_hidden"] = audit.get("max_score_inside_hidden")
    block["needs_review"] = audit.get("needs_review")
    block["review_reasons"] = audit.get("review_reasons") or []
    block["n_runs"] = audit.get("n_runs")
    block["n_high"] = audit.get("n_high")
    runs = audit.get("runs") or []  # most severe first (faceoff.findings)
    block["first_runs"] = [{k: v for k, v in r.items() if k != "path"} for r in runs[:10]]
    block["first_findings"] = (audit.get("findings") or [])[:10]
    block["checked"] = audit.get("checked")  # what the audit checked, in words
    block["contact_sheet"] = str(contact_sheet) if contact_sheet else None
    return block


def _evaluation(
    annotations: str | Path,
    probe: dict[str, Any],
    render_stats: dict[str, Any],
    det: pd.DataFrame,
    trk: pd.DataFrame,
    render: RenderConfig,
    n_frames: int | None,
    iou: float,
) -> dict[str, Any]:
    """The ``annotations``, ``recall`` and ``coverage`` blocks of an annotated video's report."""
    width, height = probe.get("width"), probe.get("height")
    if not isinstance(width, int) or not isinstance(height, int):
        raise ValueError(f"{annotations}: the probe gives no frame size, cannot score coverage")
    pts = probe.get("pts_time")
    gt = load_annotations(
        annotations, frame_count=n_frames, pts_time=pts if isinstance(pts, list) and pts else None
    )
    ev = evaluate_video(det, trk, gt, render, width, height, n_frames, iou)
    rendered = render_stats.get("params_hash")
    faces = gt.loc[~gt["ignore"]]
    return {
        "annotations": {
            "path": str(annotations),
            "format": detect_format(annotations),
            "boxes": len(gt),
            "faces": len(faces),
            "ignored": int(gt["ignore"].sum()),
            "frames": int(faces["frame_index"].nunique()),
            "tracks": int(faces.loc[faces["track_id"] >= 0, "track_id"].nunique()),
        },
        "recall": {"detections": ev["detections"], "tracks": ev["tracks"]},
        "coverage": {
            **ev["coverage"],
            "render": {
                "shape": render.shape,
                "box_scale": render.box_scale,
                "min_margin": render.min_margin,
                "params_hash": render.params_hash(),
                # coverage is only meaningful for the settings the video was rendered with
                "matches_rendered": (render.params_hash() == rendered) if rendered else None,
            },
        },
    }


def timeline(report: dict[str, Any], detections: str | Path, tracks: str | Path) -> bytes:
    """The faces-per-frame PNG of a report's video, uncovered frames marked when it is annotated."""
    n_frames, fps = report["source"]["frames"], report["source"]["fps"]
    uncovered = None
    if isinstance(report.get("coverage"), dict):
        cov = report["coverage"]
        uncovered = {
            "before": (cov.get("detections") or {}).get("uncovered_frames") or [],
            "after": (cov.get("tracks") or {}).get("uncovered_frames") or [],
        }
    rate = fps if isinstance(fps, int | float) and fps > 0 else None
    return timeline_png(
        faces_per_frame(detections, n_frames),
        faces_per_frame(tracks, n_frames),
        rate,
        uncovered,
        report["source"].get("cuts") or (),
    )
