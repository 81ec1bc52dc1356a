"""The report stage: one video's facts, counts, timing and provenance (recall and coverage when annotated)
-> ``reports/{id}.json`` and its detail page ``reports/{id}.html``, built by :mod:`faceoff.report`."""

from __future__ import annotations

import json
from pathlib import Path

from faceoff.atomic import write_text
from faceoff.config import RenderConfig, ReportConfig
from faceoff.errors import FaceOffError
from faceoff.pages import detail_page
from faceoff.probe import read_probe
from faceoff.report import build_report, timeline
from faceoff.review import write_review_page


def run_report(
    video_id: str,
    probe_json: str | Path,
    detections: str | Path,
    tracks: str | Path,
    render_stats: str | Path,
    annotations: str | Path | None,
    hashes: dict[str, str],
    out: str | Path,
    cfg: ReportConfig,
    render: RenderConfig,
    audit_json: str | Path | None = None,
    contact_sheet: str | Path | None = None,
    *,
    delivered: str | Path | None = None,
    page: str | Path | None = None,
    index: str | Path | None = None,
    review: str | Path | None = None,
) -> Path:
    """Write the report of ``video_id`` (and with ``page`` its detail page, linking ``delivered`` and the
    summary ``index``); coverage is scored with the ``render`` section that hid the faces. With ``review``
    also the review page (:mod:`faceoff.review`), which plays the ``delivered`` video.
    """
    if review is not None and (delivered is None or audit_json is None):
        raise FaceOffError(f"{review}: the review page needs the delivered video and the audit JSON")
    report = build_report(
        video_id,
        probe_json,
        detections,
        tracks,
        render_stats,
        annotations,
        hashes,
        cfg.iou,
        render=render,
        audit_json=audit_json,
        contact_sheet=contact_sheet,
        delivered=delivered,
        review=review,
    )
    if page is not None:
        links = {"summary": index, "video": delivered, "review page": review, "QA sheet": contact_sheet}
        plot = timeline(report, detections, tracks)
        write_text(page, detail_page(report, plot, Path(page).parent, {**links, "report JSON": out}))
    path = write_text(out, json.dumps(report, indent=2, allow_nan=False, ensure_ascii=False) + "\n")
    if review is not None:
        page_info = read_probe(probe_json)
        write_review_page(review, video_id, page_info, tracks, audit_json, delivered, contact_sheet, path)
    return path
