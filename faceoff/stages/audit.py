"""The audit stage: look for faces the rendered video still shows, draw its QA contact sheet, and deliver
it to ``anonymized/`` unless the audit must fail it."""

from __future__ import annotations

import json
from pathlib import Path

from faceoff.atomic import write_text
from faceoff.audit import AuditFailed, AuditParams, audit_video
from faceoff.config import AuditConfig, DetectConfig, RenderConfig
from faceoff.contact_sheet import write_contact_sheet
from faceoff.delivery import deliver
from faceoff.errors import FaceOffError
from faceoff.probe import ProbeInfo, probe_video
from faceoff.stages.detect import detector_from


def run_audit(
    rendered: str | Path,
    source: ProbeInfo,
    tracks_path: str | Path,
    render: RenderConfig,
    audit: AuditConfig,
    detect: DetectConfig,
    out_json: str | Path,
    sheet_png: str | Path,
    delivered: str | Path,
    threads: int | None = None,
) -> dict:
    """Audit the rendered video, draw its QA contact sheet, and deliver it unless the audit must fail it.

    The rendered file is probed again: it must hold the source's frame count and displayed size.
    With ``audit.fail_on_findings`` a video with findings raises :class:`AuditFailed` and is not delivered.
    """
    info = probe_video(rendered)
    if (info.frame_count, info.width, info.height) != (source.frame_count, source.width, source.height):
        raise FaceOffError(
            f"{rendered}: {info.frame_count} frames {info.width}x{info.height}, source has "
            f"{source.frame_count} frames {source.width}x{source.height}"
        )
    if audit.enabled:
        detector = detector_from(detect, threads)  # with detect's zoom: small faces are checked too
        params = AuditParams.from_config(audit, detect.detector)
        result = audit_video(rendered, info, tracks_path, render, params, out_json, detector)
    else:
        result = {"enabled": False, "passed": None, "findings": [], "n_findings": None}
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
    if audit.enabled and audit.fail_on_findings and not result["passed"]:
        raise AuditFailed(result, where=str(rendered))
    deliver(rendered, delivered)
    return result
