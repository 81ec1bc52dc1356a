"""The audit stage and delivery: a rendered video reaches ``anonymized/`` only through here."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path

from faceoff.audit import AuditFailed, run_audit
from faceoff.config import AuditConfig, DetectConfig, RenderConfig
from faceoff.contact_sheet import write_contact_sheet
from faceoff.errors import FaceOffError
from faceoff.probe import ProbeInfo, probe_video
from faceoff.report import atomic_write_text
from faceoff.stages import detector_from

FICLONE = 0x40049409  # Linux ioctl: share the source's blocks copy-on-write (btrfs, XFS, ...)


def _clone_or_copy(src: Path, dst: Path) -> None:
    """Write ``src``'s bytes to the new file ``dst``: a reflink clone where possible, else a copy."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        try:
            fcntl.ioctl(fout.fileno(), FICLONE, fin.fileno())
            return
        except OSError:
            pass
    shutil.copyfile(src, dst)


def deliver(rendered: str | Path, delivered: str | Path) -> None:
    """Place a copy of ``rendered`` at ``delivered`` atomically (temporary name, then rename).

    Never a hard link: Snakemake touches a finished job's outputs, and touching a hard link would also touch
    the job's input (the rendered file), which then looks newer than the job's other outputs and fails the
    job. The workflow marks the rendered file ``temp()``, so only the delivered copy stays on disk.
    """
    rendered, delivered = Path(rendered), Path(delivered)
    delivered.parent.mkdir(parents=True, exist_ok=True)
    tmp = delivered.with_name(f".{delivered.name}.partial-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        _clone_or_copy(rendered, tmp)
        if tmp.stat().st_size != rendered.stat().st_size:
            raise FaceOffError(f"{delivered}: copy of {rendered} is incomplete")
        os.replace(tmp, delivered)
    finally:
        tmp.unlink(missing_ok=True)


def run_audit_stage(
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
        params = audit.audit_params(detect.detector)
        result = run_audit(rendered, info, tracks_path, render, params, out_json, detector=detector)
    else:
        result = {"enabled": False, "passed": None, "findings": [], "n_findings": None}
        atomic_write_text(out_json, json.dumps(result, indent=2) + "\n")
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
