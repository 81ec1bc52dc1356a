"""The review page ``review/{id}.html``: what a reviewer signs off, in one self-contained HTML file.

The delivered (anonymized) video plays in an HTML5 ``<video>`` linked by a *relative* path, so the page
works wherever ``results/`` is copied. Under it, a timeline with one lane per track source (detected,
propagated, interpolated, extended, followed, manual), the audit findings as runs
(:mod:`faceoff.findings`: one lane per severity, a table most severe first, the per-frame rows folded
below it) and, for an annotated video, the frames where an annotated face is not covered; clicking a mark,
a run or a finding seeks the video there (and outlines the box of a run's peak frame or of a finding over
the video), clicking a lane seeks to that point of the video. The QA contact sheet (itself drawn from the
anonymized video) is embedded. Only anonymized pixels appear: the page never reads the source video. No
network: CSS and script are inline.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from faceoff.atomic import write_text
from faceoff.boxes import SOURCES, read_boxes
from faceoff.probe import ProbeInfo
from faceoff.timeline import frame_runs

LANE_COLOURS = {  # as the contact sheet draws them (faceoff/contact_sheet.py); manual: the reviewer's
    "detected": "#00dc00",
    "interpolated": "#ffd200",
    "extended": "#00c8ff",
    "propagated": "#ff00ff",
    "followed": "#ff8000",
    "unconfirmed": "#9be79b",
    "manual": "#000000",
}
FINDING_COLOUR = "#ff0000"
RUN_COLOURS = {"high": FINDING_COLOUR, "low": "#f4a0a0"}  # runs of findings by severity
UNCOVERED_COLOUR = "#b00020"
CUT_COLOUR = "#444444"

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em;color:#222;max-width:1100px}
.player{position:relative;display:inline-block;width:100%;max-width:960px;background:#000}
.player video{display:block;width:100%;height:auto}
#box{position:absolute;border:3px solid #f00;pointer-events:none;display:none}
.lanes{max-width:960px;margin:.5em 0;position:relative}
.cuts{position:absolute;top:0;bottom:0;left:0;right:0;display:flex;pointer-events:none}
.cuts span{width:14em;font-size:.8em;flex:none}
.cuts svg{flex:1;height:100%}
.lane{display:flex;align-items:center;margin:2px 0}
.lane span{width:14em;font-size:.8em;flex:none}
.lane svg{flex:1;height:14px;background:#f3f3f3;cursor:pointer}
.lane rect.m{cursor:pointer}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right}
th{background:#f0f0f0}
button{font:inherit;cursor:pointer}
.muted{color:#666;font-size:.9em}
img{max-width:100%}
th.l,td.l{text-align:left}
tr.high td:first-child{color:#b00020;font-weight:bold}
.bad{color:#b00020}
"""

SCRIPT = """
const v = document.getElementById('video');
const box = document.getElementById('box');
const now = document.getElementById('now');
const W = %(width)d, H = %(height)d, DURATION = %(duration).6f, FPS = %(fps).6f;
function outline(b) {
  if (!b) { box.style.display = 'none'; return; }
  const [x1, y1, x2, y2] = b.split(',').map(Number);
  Object.assign(box.style, {display: 'block', left: 100 * x1 / W + '%%', top: 100 * y1 / H + '%%',
    width: 100 * (x2 - x1) / W + '%%', height: 100 * (y2 - y1) / H + '%%'});
}
function seek(t, b) {
  v.pause();
  v.currentTime = Math.max(0, Math.min(t, DURATION));
  outline(b);
}
document.querySelectorAll('[data-t]').forEach(el => el.addEventListener('click', e => {
  e.stopPropagation();
  seek(Number(el.dataset.t), el.dataset.box);
}));
document.querySelectorAll('.lane svg').forEach(svg => svg.addEventListener('click', e => {
  const r = svg.getBoundingClientRect();
  seek((e.clientX - r.left) / r.width * DURATION);
}));
v.addEventListener('play', () => outline(null));
v.addEventListener('timeupdate', () => {
  now.textContent = v.currentTime.toFixed(3) + ' s, frame ~' + Math.floor(v.currentTime * FPS);
  const x = 1000 * v.currentTime / DURATION;
  document.querySelectorAll('.lane line').forEach(l => { l.setAttribute('x1', x); l.setAttribute('x2', x); });
});
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


class _Clock:
    """Seek times of frames: the middle of each frame's display interval, from the video's start."""

    def __init__(self, info: ProbeInfo):
        pts = np.asarray(info.pts_time, dtype=np.float64)
        self.n = info.frame_count
        step = 1.0 / info.avg_fps if info.avg_fps > 0 else 0.04
        ends = np.append(pts[1:], pts[-1] + step) if len(pts) else pts
        self.mid = (pts + ends) / 2 - (pts[0] if len(pts) else 0.0)
        self.duration = float(ends[-1] - pts[0]) if len(pts) else 0.0

    def t(self, frame: int) -> str:
        return f"{self.mid[min(max(int(frame), 0), self.n - 1)]:.4f}"


def _lane(name: str, colour: str, runs: list[tuple[int, int]], clock: _Clock, title: str) -> str:
    n = max(clock.n, 1)
    marks = "".join(
        f'<rect class=m x="{1000 * a / n:.2f}" y="1" width="{max(1000 * m / n, 1.5):.2f}" height="12" '
        f'fill="{colour}" data-t="{clock.t(a)}"><title>{_e(title)} frames {a}-{a + m - 1}</title></rect>'
        for a, m in runs
    )
    return (
        f'<div class=lane data-lane="{_e(name)}"><span>{_e(name)} ({sum(m for _, m in runs)} fr)</span>'
        f'<svg viewBox="0 0 1000 14" preserveAspectRatio="none">{marks}'
        '<line x1="0" x2="0" y1="0" y2="14" stroke="#000" stroke-width="2"/></svg></div>'
    )


def _cut_lines(cuts: list[int], clock: _Clock) -> str:
    """Thin vertical lines through every lane at the shot cuts (under the lanes' clicks)."""
    n = max(clock.n, 1)
    lines = "".join(
        f'<rect x="{1000 * c / n - 0.6:.2f}" y="0" width="1.2" height="100" fill="{CUT_COLOUR}"/>'
        for c in cuts
    )
    svg = f'<svg viewBox="0 0 1000 100" preserveAspectRatio="none">{lines}</svg>'
    return f"<div class=cuts><span></span>{svg}</div>"


def _findings_table(findings: list[dict], clock: _Clock, total: Any) -> str:
    if not findings:
        return "<p>No audit findings.</p>"
    rows = "".join(
        f'<tr><td><button class=finding data-t="{clock.t(f["frame_index"])}" '
        f'data-box="{f["x1"]},{f["y1"]},{f["x2"]},{f["y2"]}">frame {int(f["frame_index"])}</button></td>'
        f"<td>{float(f.get('pts_time', 0)):.3f}</td><td>{float(f['score']):.3f}</td>"
        f"<td>{float(f.get('inside_fraction', 0)):.2f}</td>"
        f"<td>{f['x1']:.0f}, {f['y1']:.0f}, {f['x2']:.0f}, {f['y2']:.0f}</td></tr>"
        for f in findings
    )
    more = f"<p class=muted>{_e(total)} findings in all; the audit JSON lists the first {len(findings)}.</p>"
    return (
        "<table><tr><th>finding</th><th>time (s)</th><th>score</th><th>inside hidden</th><th>box</th></tr>"
        f"{rows}</table>" + (more if isinstance(total, int) and total > len(findings) else "")
    )


def _run_button(run: dict, clock: _Clock) -> str:
    """A button that seeks to the run's peak frame and outlines its box there."""
    peak = next((row for row in run["path"] if row[0] == run["peak_frame"]), run["path"][0])
    box = ",".join(str(v) for v in peak[1:5])
    return (
        f'<button class=finding data-t="{clock.t(peak[0])}" data-box="{_e(box)}">'
        + (
            f"frame {int(run['first_frame'])}"
            if run["first_frame"] == run["last_frame"]
            else f"frames {int(run['first_frame'])}&ndash;{int(run['last_frame'])}"
        )
        + "</button>"
    )


def _runs_table(audit: dict[str, Any], clock: _Clock) -> str:
    """The audit's runs (:mod:`faceoff.findings`), most severe first, and the verdict above them."""
    runs = audit.get("runs") or []
    if not runs:
        return "<p>No audit findings.</p>"
    verdict = (
        "<p><b class=bad>Needs review</b>: " + _e(" | ".join(audit.get("review_reasons") or [])) + "</p>"
        if audit.get("needs_review")
        else "<p>No run needs review: every run is of severity low (listed below, not flagged).</p>"
    )
    rows = "".join(
        f"<tr class={_e(r['severity'])}><td class=l>{_e(r['severity'])}</td><td>{_run_button(r, clock)}</td>"
        f"<td>{int(r['frames'])}</td><td>{float(r['peak_score']):.2f}</td><td>{float(r['width']):.0f}</td>"
        f"<td class=l>{_e(', '.join(r.get('kinds') or {}))}</td><td>{float(r['beside_hidden']):.0%}</td>"
        f"<td class=l>{_e('; '.join(r.get('reasons') or []))}</td></tr>"
        for r in runs
    )
    return (
        f"{verdict}<table><tr><th class=l>severity</th><th>run (click: peak frame)</th><th>frames</th>"
        "<th>peak score</th><th>width (px)</th><th class=l>seen by</th><th>beside hidden</th>"
        f"<th class=l>why</th></tr>{rows}</table>"
    )


def review_html(
    video_id: str,
    info: ProbeInfo,
    tracks: pd.DataFrame,
    audit: dict[str, Any],
    video_href: str,
    sheet_png: bytes | None,
    report: dict[str, Any] | None = None,
) -> str:
    """The page's HTML: ``video_href`` is the delivered video relative to the page."""
    clock = _Clock(info)
    report = report or {}
    lanes = []
    for source in SOURCES:
        frames = tracks.loc[tracks["source"] == source, "frame_index"] if len(tracks) else []
        lanes.append(_lane(source, LANE_COLOURS[source], frame_runs(frames), clock, source))
    cuts = info.cuts or []
    lanes.append(
        _lane("shot cuts", CUT_COLOUR, [(c, 1) for c in cuts], clock, "shot cut: a new shot starts at")
    )
    findings = audit.get("findings") or []
    if "runs" in audit:  # runs of findings by severity (faceoff.findings)
        for level, colour in RUN_COLOURS.items():
            frames = [row[0] for r in audit["runs"] if r["severity"] == level for row in r["path"]]
            name = f"audit runs: {level}"
            lanes.append(_lane(name, colour, frame_runs(frames), clock, name))
    else:  # an audit made before runs
        frames = [f["frame_index"] for f in findings]
        lanes.append(_lane("audit findings", FINDING_COLOUR, frame_runs(frames), clock, "audit findings"))
    coverage = report.get("coverage")
    if isinstance(coverage, dict):
        uncovered = (coverage.get("tracks") or {}).get("uncovered_frames") or []
        runs = frame_runs(uncovered)
        lanes.append(_lane("uncovered (annotated)", UNCOVERED_COLOUR, runs, clock, "uncovered"))
    corr = report.get("corrections")
    corr_line = (
        f"Corrections {_e(corr.get('file'))} (sha256 {_e(str(corr.get('sha256'))[:16])}…): "
        f"boxes added {_e(corr.get('added_boxes'))}, removed {_e(corr.get('removed_boxes'))}."
        if isinstance(corr, dict)
        else "No corrections applied."
    )
    dropped = (report.get("output") or {}).get("dropped_streams") or {}
    parts = [f"{_e(n)} {_e(kind)} stream{'s' if n != 1 else ''}" for kind, n in sorted(dropped.items())]
    leading = (report.get("source") or {}).get("leading_undecodable") or 0
    if leading:
        parts.append(
            f"{_e(leading)} frame{'s' if leading != 1 else ''} before the first keyframe "
            "(no decoder shows them)"
        )
    streams_line = (
        "Dropped from the delivered file (not anonymised, never copied): " + ", ".join(parts) + "."
        if parts
        else ""
    )
    n_findings = audit.get("n_findings")
    audit_line = (
        "Audit off."
        if audit.get("enabled") is False
        else f"Audit: {_e(n_findings)} findings on {_e(audit.get('frames_with_findings'))} frames"
        + (
            f" in {_e(audit.get('n_runs'))} runs, {_e(audit.get('n_high'))} of severity high"
            if "runs" in audit
            else ""
        )
        + f" (detector re-run at threshold {_e(audit.get('threshold'))} on the delivered video)."
    )
    per_frame = _findings_table(findings, clock, n_findings)
    audit_section = (
        f"{_runs_table(audit, clock)}\n<details><summary>Per-frame findings ({_e(n_findings)})</summary>"
        f"{per_frame}</details>"
        if "runs" in audit
        else per_frame
    )
    sheet = (
        f'<h2>Contact sheet</h2><img alt="QA contact sheet of {_e(video_id)}" '
        f'src="data:image/png;base64,{base64.b64encode(sheet_png).decode("ascii")}">'
        if sheet_png
        else ""
    )
    script = SCRIPT % {
        "width": info.width,
        "height": info.height,
        "duration": clock.duration,
        "fps": info.avg_fps or 25.0,
    }
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>FaceOff review: {_e(video_id)}</title><style>{CSS}</style></head><body>\n"
        f"<h1>Review: {_e(video_id)}</h1>\n"
        f"<p>{info.frame_count} frames, {info.width}×{info.height}, {info.avg_fps:.3f} fps, "
        f"{clock.duration:.2f} s. {audit_line} {corr_line} {streams_line}</p>\n"
        '<div class=player><video id="video" controls preload="auto" muted playsinline '
        f'src="{_e(video_href)}"></video><div id="box"></div></div>\n'
        '<p class=muted>Position: <span id="now">0.000 s</span>. Click a mark, a lane or a finding to go '
        "there. To correct: <code>faceoff export-cvat</code> (README, “Review and correct”).</p>\n"
        f"<div class=lanes>{''.join(lanes)}{_cut_lines(cuts, clock) if cuts else ''}</div>\n"
        f"<h2>Audit findings</h2>\n{audit_section}\n{sheet}\n"
        f"<script>{script}</script>\n</body></html>\n"
    )


def write_review_page(
    out: str | Path,
    video_id: str,
    info: ProbeInfo,
    tracks_path: str | Path,
    audit_json: str | Path,
    delivered: str | Path,
    sheet_png: str | Path | None = None,
    report_json: str | Path | None = None,
) -> Path:
    """Write ``review/{id}.html`` (atomically); links ``delivered`` relative to the page's folder."""
    out = Path(out)
    href = os.path.relpath(Path(delivered).resolve(), out.parent.resolve())
    audit = json.loads(Path(audit_json).read_text(encoding="utf-8"))
    report = json.loads(Path(report_json).read_text(encoding="utf-8")) if report_json else None
    sheet = Path(sheet_png).read_bytes() if sheet_png else None
    href = quote(Path(href).as_posix())
    page = review_html(video_id, info, read_boxes(tracks_path), audit, href, sheet, report)
    return write_text(out, page)
