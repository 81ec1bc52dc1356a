"""The audit stage: what the render's frame check found, the detections the rendered regions leave
uncovered, both grouped into runs with a severity and one verdict (:mod:`faceoff.findings`), a check of
the encoded file, the QA contact sheet, and delivery to ``anonymized/`` unless the audit must fail the
video. It runs no detector: the rendered frames were re-detected inside the render
(:mod:`faceoff.audit` explains the three checks)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from faceoff.atomic import write_text
from faceoff.audit import AUDIT_FORMAT, AuditFailed, AuditParams, uncovered_detections
from faceoff.boxes import check_made_for, read_boxes
from faceoff.config import AuditConfig, DetectConfig, RenderConfig
from faceoff.contact_sheet import write_contact_sheet
from faceoff.delivery import deliver
from faceoff.errors import FaceOffError
from faceoff.findings import TriageParams, triage
from faceoff.probe import ProbeInfo, probe_video


def _shape(info: ProbeInfo) -> dict:
    """Frames, size and how they are shown (pixel aspect, interlacing, colour), as the encoded file must
    repeat them."""
    shown = {k: list(v) if isinstance(v, tuple) else v for k, v in info.shown().items()}
    return {"frames": info.frame_count, "size": [info.width, info.height], **shown}


def _encoded_file_check(rendered: str | Path, source: ProbeInfo, stats: dict) -> tuple[ProbeInfo, dict]:
    """Check 3: the rendered file is the one the render encoded (sha256) with the source's frames, size,
    pixel aspect, interlacing and colour. Returns its probe (upright: no rotation, unlike a rotated
    source's) and the check's record."""
    info = probe_video(rendered)
    shape, wanted = _shape(info), _shape(source)
    if shape != wanted:
        raise FaceOffError(f"{rendered}: {shape}, source has {wanted}")
    if stats.get("output_sha256") != info.sha256:
        raise FaceOffError(
            f"{rendered}: not the file the render stage encoded (sha256 differs from its stats)"
        )
    return info, {"sha256": info.sha256, **shape, "encoder_verified": stats.get("output_check", {})}


def _checked(frames: dict, table: dict, detect: DetectConfig, audit: AuditConfig) -> list[str]:
    """What the audit checked, in words (the report repeats it)."""
    w, h = frames["detection_size"]
    inside = f"less than {1 - audit.outside_fraction:.0%} inside the hidden regions"
    zoom = "with detect's zoom on small faces" if frames.get("zoom") else "without zoom"
    return [
        f"every delivered frame ({frames['frames_audited']}), as handed to the encoder: re-detected at "
        f"{w}x{h} by {frames['detector']} ({frames['runtime']}, {zoom}) at score >= {audit.threshold}"
        + (
            f", and at >= {audit.lost_threshold} within {audit.lost_window} frames of where a track ends or "
            "starts, near its box"
            if audit.lost_window and audit.lost_threshold < audit.threshold
            else ""
        )
        + f"; a box {inside} is a finding",
        f"every detection of the detect stage at score >= {detect.threshold} ({table['n_checked']} boxes): "
        f"one {inside} is a finding",
        "the encoded file: verified by the encoder before it was moved into place (one video stream and no "
        "other, no chapters, only the allowed tags, packet count and every timestamp equal to the source's "
        "(shifted to start at 0 where the source starts below it), displayed size, no rotation), probed "
        "again here (frame count, size) and its sha256 equal to the one the render recorded for the file "
        "whose frames were checked",
    ]


def run_audit(
    rendered: str | Path,
    source: ProbeInfo,
    tracks_path: str | Path,
    detections_path: str | Path,
    render_stats: str | Path,
    render: RenderConfig,
    audit: AuditConfig,
    detect: DetectConfig,
    out_json: str | Path,
    sheet_png: str | Path,
    delivered: str | Path,
) -> dict:
    """Audit the rendered video, draw its QA contact sheet, and deliver it unless the audit must fail it.

    ``render_stats`` is the render stage's JSON (its frame check, every finding, and the encoded file's
    sha256). The findings of both checks are grouped into runs, each with a severity, and the video gets
    its verdict ``needs_review`` (:mod:`faceoff.findings`). With ``audit.fail_on_findings`` a video that
    needs review raises :class:`AuditFailed` and is not delivered.
    """
    stats = json.loads(Path(render_stats).read_text())
    info, encoded = _encoded_file_check(rendered, source, stats)
    if audit.enabled:
        frames = stats.get("audit") or {}
        params = AuditParams.from_config(audit, detect.detector)
        if not frames.get("frames_audited") == source.frame_count or frames.get("params") != asdict(params):
            raise FaceOffError(
                f"{render_stats}: the render did not check every frame with the audit's parameters; "
                "render again with this audit section"
            )
        check_made_for(detections_path, source)
        hidden = read_boxes(tracks_path)
        table = uncovered_detections(
            read_boxes(detections_path),
            hidden,
            render,
            source,
            detect.threshold,
            audit.outside_fraction,
            None,
        )
        findings = sorted(frames["findings"] + table["findings"], key=lambda f: (f["frame_index"], f["kind"]))
        n_findings = frames["n_findings"] + table["n_findings"]
        if frames.get("findings_truncated") or len(findings) != n_findings:
            raise FaceOffError(f"{render_stats}: the render's stats do not list every finding; render again")
        triage_params = TriageParams.from_config(audit)
        verdict = triage(findings, hidden, triage_params, source.cuts or ())
        result = {
            **{k: v for k, v in frames.items() if k != "findings"},
            "format": AUDIT_FORMAT,
            "enabled": True,
            "checked": _checked(frames, table, detect, audit),
            "rendered_frames": {k: frames[k] for k in ("n_findings", "frames_with_findings", "timing")},
            "detections": {k: v for k, v in table.items() if k != "findings"},
            "encoded_file": encoded,
            "n_findings": n_findings,
            "frames_with_findings": len({f["frame_index"] for f in findings}),
            "findings": findings[: audit.max_stored_findings],
            "findings_truncated": n_findings > audit.max_stored_findings,
            "passed": n_findings == 0,
            "triage": asdict(triage_params),
            **verdict,  # needs_review, review_reasons, n_runs, n_high, runs
        }
    else:
        result = {
            "enabled": False,
            "passed": None,
            "needs_review": None,
            "findings": [],
            "runs": [],
            "n_findings": None,
            "encoded_file": encoded,
        }
    write_text(out_json, json.dumps(result, indent=2) + "\n")
    write_contact_sheet(
        rendered,
        info,
        tracks_path,
        result["findings"],
        sheet_png,
        k=audit.contact_sheet_frames,
        thumb_width=audit.contact_sheet_width,
    )
    if audit.enabled and audit.fail_on_findings and result["needs_review"]:
        raise AuditFailed(result, where=str(rendered))
    deliver(rendered, delivered)
    return result
