"""Cross-video summary: a CSV with one row per video and a self-contained HTML page."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from faceoff.atomic import write_text
from faceoff.report import STAGES

CSV_COLUMNS = [
    "id",
    "source_path",
    "frames",
    "width",
    "height",
    "fps",
    "duration",
    "frames_with_faces_detections",
    "frames_with_faces_tracks",
    "boxes_detections",
    "boxes_tracks",
    "tracks",
    *(f"fps_{s}" for s in STAGES),
    "seconds_total",
    "n_gt",
    "recall_before",
    "recall_after",
    "precision_before",
    "precision_after",
    "coverage_before",
    "coverage_after",
    "longest_uncovered_run_before",
    "longest_uncovered_run_after",
    "audit_findings",
    "audit_frames_with_findings",
    "contact_sheet",
]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f0f0f0}td.l,th.l{text-align:left}
section{margin:2em 0;border-top:1px solid #ddd}img{max-width:100%}
.muted{color:#777}
"""


def _get(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _e(value: Any) -> str:
    """HTML-escape any value ('' for None)."""
    return "" if value is None else html.escape(str(value), quote=True)


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def csv_row(report: dict[str, Any]) -> dict[str, Any]:
    """The summary CSV row for one report dict."""
    row: dict[str, Any] = {
        "id": report.get("id"),
        "source_path": _get(report, "source", "path"),
        "frames": _get(report, "source", "frames"),
        "width": _get(report, "source", "width"),
        "height": _get(report, "source", "height"),
        "fps": _get(report, "source", "fps"),
        "duration": _get(report, "source", "duration"),
        "frames_with_faces_detections": _get(report, "frames_with_faces", "detections"),
        "frames_with_faces_tracks": _get(report, "frames_with_faces", "tracks"),
        "boxes_detections": _get(report, "boxes", "detections"),
        "boxes_tracks": _get(report, "boxes", "tracks"),
        "tracks": _get(report, "tracks", "count"),
        "seconds_total": _get(report, "timing", "total_seconds"),
        "n_gt": _get(report, "recall", "detections", "n_gt"),
        "recall_before": _get(report, "recall", "detections", "recall"),
        "recall_after": _get(report, "recall", "tracks", "recall"),
        "precision_before": _get(report, "recall", "detections", "precision"),
        "precision_after": _get(report, "recall", "tracks", "precision"),
        "coverage_before": _get(report, "coverage", "detections", "coverage"),
        "coverage_after": _get(report, "coverage", "tracks", "coverage"),
        "longest_uncovered_run_before": _get(report, "coverage", "detections", "longest_uncovered_run"),
        "longest_uncovered_run_after": _get(report, "coverage", "tracks", "longest_uncovered_run"),
        "audit_findings": _get(report, "audit", "n_findings"),
        "audit_frames_with_findings": _get(report, "audit", "frames_with_findings"),
        "contact_sheet": _get(report, "audit", "contact_sheet"),
    }
    for s in STAGES:
        row[f"fps_{s}"] = _get(report, "timing", s, "frames_per_second")
    return {k: ("" if row.get(k) is None else row[k]) for k in CSV_COLUMNS}


def faces_per_frame(parquet: str | Path, n_frames: int | None = None) -> np.ndarray:
    """Number of boxes in each frame (length ``n_frames``, longer if a box lies beyond it)."""
    idx = pq.read_table(parquet, columns=["frame_index"]).column("frame_index").to_numpy()
    idx = idx[idx >= 0].astype(np.int64)
    return np.bincount(idx, minlength=max(int(n_frames or 0), 0))


def frame_runs(frames: Any) -> list[tuple[int, int]]:
    """``(first frame, length)`` of each run of consecutive frame indices in ``frames``."""
    f = np.unique(np.asarray(frames if frames is not None else [], dtype=np.int64))
    if not len(f):
        return []
    breaks = np.flatnonzero(np.diff(f) != 1)
    first = np.concatenate([[0], breaks + 1])
    last = np.concatenate([breaks, [len(f) - 1]])
    return [(int(f[a]), int(b - a + 1)) for a, b in zip(first, last, strict=True)]


def timeline_png(
    det_counts: np.ndarray,
    trk_counts: np.ndarray,
    fps: float | None,
    uncovered: dict[str, Any] | None = None,
) -> bytes:
    """Faces-per-frame plot (detections vs tracks) over time as PNG bytes (Agg backend).

    ``uncovered`` ({"before": frames, "after": frames}, from the report's coverage) adds a thin strip
    under the plot with the frames holding an annotated face that is not covered marked red.
    """
    n = max(len(det_counts), len(trk_counts))
    det = np.pad(det_counts, (0, n - len(det_counts)))
    trk = np.pad(trk_counts, (0, n - len(trk_counts)))
    use_time = bool(fps) and fps > 0
    scale = 1.0 / fps if use_time else 1.0
    x = np.arange(n) * scale
    fig = Figure(figsize=(10, 2.4 + (0.5 if uncovered is not None else 0)), dpi=90)
    FigureCanvasAgg(fig)
    if uncovered is not None:
        ax, strip = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (4, 1)})
        rows = [("before", "detections"), ("after", "tracks")]
        min_width = max(n, 1) * scale / 400  # about 2 px, so a lone frame in a long video still shows
        for i, (key, _) in enumerate(rows):
            runs = [(a * scale, max(m * scale, min_width)) for a, m in frame_runs(uncovered.get(key))]
            strip.broken_barh(runs, (i + 0.1, 0.8), facecolors="tab:red", edgecolors="none")
        strip.set_ylim(0, len(rows))
        strip.set_yticks([i + 0.5 for i in range(len(rows))], [label for _, label in rows], fontsize=7)
        strip.tick_params(axis="y", length=0)
        strip.set_xlim(0, max(n, 1) * scale)
        ax.tick_params(labelbottom=False)
        xlabel_ax = strip
    else:
        ax = fig.add_subplot(1, 1, 1)
        xlabel_ax = ax
    if n:
        ax.step(x, det, where="post", lw=0.8, alpha=0.7, color="tab:orange", label="detections")
        ax.step(x, trk, where="post", lw=1.0, color="tab:blue", label="tracks")
        ax.legend(loc="upper right", fontsize=8)
    if n == 0 or (det.max(initial=0) == 0 and trk.max(initial=0) == 0):
        ax.text(0.5, 0.5, "no faces", transform=ax.transAxes, ha="center", va="center", color="0.5")
    ax.set_ylim(bottom=0, top=max(1, int(max(det.max(initial=0), trk.max(initial=0)))) + 0.5)
    xlabel_ax.set_xlabel("time (s)" if use_time else "frame")
    ax.set_ylabel("faces")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _run(value: Any) -> str:
    return "–" if value is None else f"{value} fr"


def _recall_table(reports: list[dict[str, Any]]) -> str:
    annotated = [r for r in reports if isinstance(r.get("recall"), dict)]
    if not annotated:
        return ""
    cols = ["GT faces", "recall", "precision", "coverage", "longest uncovered run"]
    head = (
        "<tr><th class=l rowspan=2>video</th><th rowspan=2>GT faces</th>"
        + "".join(f"<th colspan=2>{_e(c)}</th>" for c in cols[1:])
        + "</tr><tr>"
        + "<th>before</th><th>after</th>" * (len(cols) - 1)
        + "</tr>"
    )
    rows = []
    tot = {k: 0 for k in ("n_gt", "tp_b", "tp_a", "fp_b", "fp_a", "cn_b", "cn_a", "cv_b", "cv_a")}
    runs: dict[str, list[int]] = {"b": [], "a": []}
    for r in annotated:
        b, a = r["recall"].get("detections", {}), r["recall"].get("tracks", {})
        cb, ca = _get(r, "coverage", "detections") or {}, _get(r, "coverage", "tracks") or {}
        rows.append(
            f"<tr><td class=l>{_e(r.get('id'))}</td><td>{_e(b.get('n_gt'))}</td>"
            f"<td>{_pct(b.get('recall'))}</td><td>{_pct(a.get('recall'))}</td>"
            f"<td>{_pct(b.get('precision'))}</td><td>{_pct(a.get('precision'))}</td>"
            f"<td>{_pct(cb.get('coverage'))}</td><td>{_pct(ca.get('coverage'))}</td>"
            f"<td>{_run(cb.get('longest_uncovered_run'))}</td><td>{_run(ca.get('longest_uncovered_run'))}</td>"
            "</tr>"
        )
        tot["n_gt"] += b.get("n_gt") or 0
        tot["tp_b"] += b.get("tp") or 0
        tot["tp_a"] += a.get("tp") or 0
        tot["fp_b"] += b.get("fp") or 0
        tot["fp_a"] += a.get("fp") or 0
        for key, c in (("b", cb), ("a", ca)):
            tot[f"cn_{key}"] += c.get("n_gt") or 0
            tot[f"cv_{key}"] += c.get("covered") or 0
            if c.get("longest_uncovered_run") is not None:
                runs[key].append(c["longest_uncovered_run"])

    ious = ", ".join(sorted({_fmt(_get(r, "recall", "detections", "iou"), 2) for r in annotated}))
    thresholds = sorted({_get(r, "coverage", "tracks", "threshold") for r in annotated} - {None})
    rows.append(
        f"<tr><th class=l>all (pooled)</th><th>{tot['n_gt']}</th>"
        f"<th>{_pct(_ratio(tot['tp_b'], tot['n_gt']))}</th><th>{_pct(_ratio(tot['tp_a'], tot['n_gt']))}</th>"
        f"<th>{_pct(_ratio(tot['tp_b'], tot['tp_b'] + tot['fp_b']))}</th>"
        f"<th>{_pct(_ratio(tot['tp_a'], tot['tp_a'] + tot['fp_a']))}</th>"
        f"<th>{_pct(_ratio(tot['cv_b'], tot['cn_b']))}</th><th>{_pct(_ratio(tot['cv_a'], tot['cn_a']))}</th>"
        f"<th>{_run(max(runs['b'], default=None))}</th><th>{_run(max(runs['a'], default=None))}</th></tr>"
    )
    cover = ", ".join(_pct(t) for t in thresholds) or "–"
    return (
        "<h2>Recall and coverage before / after temporal smoothing</h2>\n"
        f"<table>{head}{''.join(rows)}</table>\n"
        f"<p class=muted>Before: raw detections; after: regularised tracks. Recall and precision: IoU &ge; "
        f"{_e(ious)}, one-to-one per frame. Coverage: share of annotated faces with at least {_e(cover)} of "
        "their box inside the rendered region (detections scored as if rendered the same way). Longest "
        "uncovered run: most consecutive frames (fr) with a face not covered. GT marked ignore "
        "excluded.</p>\n"
    )


def _video_eval_table(r: dict[str, Any]) -> str:
    """The before / after table of one annotated video (empty string when not annotated)."""
    if not isinstance(r.get("recall"), dict):
        return ""
    head = (
        "<tr><th class=l></th><th>recall</th><th>precision</th><th>coverage</th>"
        "<th>faces covered</th><th>longest uncovered run</th></tr>"
    )
    rows = []
    for label, key in (("before (detections)", "detections"), ("after (tracks)", "tracks")):
        m, c = _get(r, "recall", key) or {}, _get(r, "coverage", key) or {}
        rows.append(
            f"<tr><td class=l>{label}</td><td>{_pct(m.get('recall'))}</td><td>{_pct(m.get('precision'))}</td>"
            f"<td>{_pct(c.get('coverage'))}</td><td>{_e(c.get('covered'))} / {_e(c.get('n_gt'))}</td>"
            f"<td>{_run(c.get('longest_uncovered_run'))}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>\n"


def _relative(path: str, out_dir: Path) -> str:
    """``path`` relative to the summary's folder (links keep working when results/ is moved)."""
    try:
        return os.path.relpath(Path(path).resolve(), out_dir.resolve())
    except ValueError:
        return str(path)


def _videos_table(reports: list[dict[str, Any]], out_dir: Path) -> str:
    cols = ["video", "frames", "size", "fps", "duration (s)", "frames with faces (det / trk)"]
    cols += ["boxes (det / trk)", "tracks"] + [f"{s} fps" for s in STAGES] + ["audit findings", "QA sheet"]
    head = "<tr>" + "".join(f"<th{' class=l' if i == 0 else ''}>{_e(c)}</th>" for i, c in enumerate(cols))
    rows = []
    for i, r in enumerate(reports):
        src = r.get("source") or {}
        ff, bx = r.get("frames_with_faces") or {}, r.get("boxes") or {}
        cells = [
            _fmt(src.get("frames")),
            f"{_fmt(src.get('width'))}×{_fmt(src.get('height'))}",
            _fmt(src.get("fps"), 2),
            _fmt(src.get("duration")),
            f"{_fmt(ff.get('detections'))} / {_fmt(ff.get('tracks'))}",
            f"{_fmt(bx.get('detections'))} / {_fmt(bx.get('tracks'))}",
            _fmt(_get(r, "tracks", "count")),
        ] + [_fmt(_get(r, "timing", s, "frames_per_second")) for s in STAGES]
        cells.append(_fmt(_get(r, "audit", "n_findings")) if _get(r, "audit", "enabled") else "off")
        link = f'<a href="#v{i}">{_e(r.get("id"))}</a>'
        sheet = _get(r, "audit", "contact_sheet")
        sheet_link = f'<a href="{_e(_relative(sheet, out_dir))}">PNG</a>' if sheet else ""
        rows.append(
            f"<tr><td class=l>{link}</td>"
            + "".join(f"<td>{_e(c)}</td>" for c in cells)
            + f"<td>{sheet_link}</td></tr>"
        )
    return f"<h2>Videos</h2>\n<table>{head}</tr>{''.join(rows)}</table>\n"


def write_summary(
    report_jsons: list[str | Path],
    detections: list[str | Path],
    tracks: list[str | Path],
    out_html: str | Path,
    out_csv: str | Path,
) -> None:
    """Write the summary CSV and HTML; the three input lists are aligned by position (one per video)."""
    if not len(report_jsons) == len(detections) == len(tracks):
        raise ValueError(
            f"write_summary: {len(report_jsons)} reports, {len(detections)} detection tables and "
            f"{len(tracks)} track tables; expected one of each per video"
        )
    reports = [json.loads(Path(p).read_text(encoding="utf-8")) for p in report_jsons]

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_row(r) for r in reports)
    write_text(out_csv, buf.getvalue())

    sections = []
    for i, (r, det_path, trk_path) in enumerate(zip(reports, detections, tracks, strict=True)):
        n_frames = _get(r, "source", "frames")
        fps = _get(r, "source", "fps")
        det_counts = faces_per_frame(det_path, n_frames)
        trk_counts = faces_per_frame(trk_path, n_frames)
        uncovered = None
        if isinstance(r.get("coverage"), dict):
            uncovered = {
                "before": _get(r, "coverage", "detections", "uncovered_frames") or [],
                "after": _get(r, "coverage", "tracks", "uncovered_frames") or [],
            }
        png = timeline_png(det_counts, trk_counts, fps if isinstance(fps, int | float) else None, uncovered)
        b64 = base64.b64encode(png).decode("ascii")
        vid = _e(r.get("id"))
        strip = (
            "<p class=muted>Red in the strip below the plot: frames where an annotated face is not "
            "covered (before: detections, after: tracks).</p>\n"
            if uncovered is not None
            else ""
        )
        sections.append(
            f'<section id="v{i}"><h3>{vid}</h3>\n'
            f"<p class=muted>{_e(_get(r, 'source', 'path'))} &middot; "
            f"output: {_e(_get(r, 'output', 'path'))}</p>\n"
            f"{_video_eval_table(r)}{strip}"
            f'<img alt="faces per frame, {vid}" src="data:image/png;base64,{b64}">\n</section>'
        )

    n_annot = sum(isinstance(r.get("recall"), dict) for r in reports)
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>FaceOff summary</title><style>{CSS}</style></head><body>\n"
        "<h1>FaceOff summary</h1>\n"
        f"<p>{len(reports)} video(s), {n_annot} with annotations.</p>\n"
        f"{_videos_table(reports, Path(out_html).parent)}{_recall_table(reports)}"
        "<h2>Faces per frame</h2>\n"
        "<p class=muted>Number of boxes per frame: detections (orange) vs regularised tracks (blue).</p>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )
    write_text(out_html, page)
