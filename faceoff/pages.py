"""HTML of the results: the per-video detail page (``reports/{id}.html``, written by the report job) and
the formatting helpers the summary's index page shares with it.

Pages are self-contained (styles inline, the plot as a data URI) and link to files by paths relative to
themselves, so a copied or moved results folder keeps working.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f0f0f0}td.l,th.l{text-align:left}
img{max-width:100%}.muted{color:#777}.bad{color:#b00020;font-weight:600}td a{white-space:nowrap}
"""
# The stages whose timing a report records (reports/{id}.json "timing").
STAGES = ("probe", "detect", "regularize", "render")


def get(d: Any, *keys: str) -> Any:
    """``d[k1][k2]...``, None where a level is missing or not a dict."""
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def esc(value: Any) -> str:
    """HTML-escape any value ('' for None)."""
    return "" if value is None else html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def pct(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def run(value: Any) -> str:
    return "–" if value is None else f"{value} fr"


def relative(path: str | os.PathLike, start: str | os.PathLike) -> str:
    """``path`` relative to the folder ``start``, with forward slashes (for links)."""
    try:
        return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(start))).as_posix()
    except ValueError:  # another drive (Windows)
        return Path(path).as_posix()


def page(title: str, body: str, script: str = "") -> str:
    """A whole HTML document."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n{body}\n"
        f"{f'<script>{script}</script>' if script else ''}</body></html>\n"
    )


def eval_table(r: dict[str, Any]) -> str:
    """The before / after table of one annotated video (empty string when not annotated)."""
    if not isinstance(r.get("recall"), dict):
        return ""
    head = (
        "<tr><th class=l></th><th>recall</th><th>precision</th><th>coverage</th>"
        "<th>faces covered</th><th>longest uncovered run</th></tr>"
    )
    rows = []
    for label, key in (("before (detections)", "detections"), ("after (tracks)", "tracks")):
        m, c = get(r, "recall", key) or {}, get(r, "coverage", key) or {}
        rows.append(
            f"<tr><td class=l>{label}</td><td>{pct(m.get('recall'))}</td><td>{pct(m.get('precision'))}</td>"
            f"<td>{pct(c.get('coverage'))}</td><td>{esc(c.get('covered'))} / {esc(c.get('n_gt'))}</td>"
            f"<td>{run(c.get('longest_uncovered_run'))}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>\n"


def _facts_table(r: dict[str, Any]) -> str:
    src = r.get("source") or {}
    ff, bx = r.get("frames_with_faces") or {}, r.get("boxes") or {}
    rows = [
        ("frames", fmt(src.get("frames"))),
        ("size", f"{fmt(src.get('width'))}×{fmt(src.get('height'))}"),
        ("fps", fmt(src.get("fps"), 2)),
        ("duration (s)", fmt(src.get("duration"))),
        ("frames with faces (detections / tracks)", f"{fmt(ff.get('detections'))} / {fmt(ff.get('tracks'))}"),
        ("boxes (detections / tracks)", f"{fmt(bx.get('detections'))} / {fmt(bx.get('tracks'))}"),
        ("tracks", fmt(get(r, "tracks", "count"))),
        *(
            (f"{stage} (frames/s)", fmt(t.get("frames_per_second")))
            for stage, t in (r.get("timing") or {}).items()
            if isinstance(t, dict)
        ),
        ("seconds, all stages", fmt(get(r, "timing", "total_seconds"))),
    ]
    return (
        "<table>"
        + "".join(f"<tr><th class=l>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
        + "</table>\n"
    )


def _audit_section(r: dict[str, Any]) -> str:
    audit = r.get("audit")
    if not isinstance(audit, dict):
        return ""
    if not audit.get("enabled", True):
        return "<h2>Audit</h2>\n<p>off</p>\n"
    n = audit.get("n_findings") or 0
    verdict = f'<span class="bad">{esc(n)} finding(s)</span>' if n else "no findings"
    if audit.get("needs_review") is not None:
        n_runs, n_high = audit.get("n_runs") or 0, audit.get("n_high") or 0
        look = '<span class="bad">needs review</span>' if audit["needs_review"] else "no run needs review"
        verdict = f"{look}: {esc(n_high)} of {esc(n_runs)} run(s) of severity high, {esc(n)} finding(s)"
    text = (
        f"<h2>Audit</h2>\n<p>{verdict} on {esc(audit.get('frames_with_findings') or 0)} frame(s) "
        f"(detector run again on the rendered video, score &ge; {esc(audit.get('threshold'))}).</p>\n"
    )
    runs = audit.get("first_runs") or []
    if runs:
        rows = "".join(
            f"<tr><td class=l>{esc(r.get('severity'))}</td><td>{esc(r.get('first_frame'))}&ndash;"
            f"{esc(r.get('last_frame'))}</td><td>{esc(r.get('frames'))}</td>"
            f"<td>{fmt(r.get('peak_score'), 2)}</td>"
            f"<td class=l>{esc('; '.join(r.get('reasons') or []))}</td></tr>"
            for r in runs
            if isinstance(r, dict)
        )
        text += (
            "<table><tr><th class=l>severity</th><th>frames</th><th>length</th><th>peak</th>"
            f"<th class=l>why</th></tr>{rows}</table>\n"
        )
    first = audit.get("first_findings") or []
    if first and not runs:
        rows = "".join(
            f"<tr><td>{esc(f.get('frame_index'))}</td><td>{fmt(f.get('score'), 2)}</td>"
            f"<td class=l>{esc(', '.join(fmt(f.get(k), 0) for k in ('x1', 'y1', 'x2', 'y2')))}</td></tr>"
            for f in first
            if isinstance(f, dict)
        )
        text += f"<table><tr><th>frame</th><th>score</th><th class=l>box</th></tr>{rows}</table>\n"
    return text


def detail_page(r: dict[str, Any], timeline: bytes, here: Path, links: dict[str, str | os.PathLike]) -> str:
    """The detail page of one video's report ``r``, to be written in the folder ``here``.

    ``timeline`` is the faces-per-frame PNG; ``links`` maps a label ("summary", "video", "QA sheet",
    "report JSON") to a file, linked relative to ``here`` (missing labels are left out).
    """
    vid = esc(r.get("id"))
    nav = " &middot; ".join(
        f'<a href="{esc(relative(path, here))}">{esc(label)}</a>' for label, path in links.items() if path
    )
    strip = (
        "<p class=muted>Red in the strip below the plot: frames where an annotated face is not covered "
        "(before: detections, after: tracks).</p>\n"
        if isinstance(r.get("coverage"), dict)
        else ""
    )
    b64 = base64.b64encode(timeline).decode("ascii")
    body = (
        f"<h1>{vid}</h1>\n<p>{nav}</p>\n<p class=muted>source: {esc(get(r, 'source', 'path'))}</p>\n"
        f"{_facts_table(r)}{_audit_section(r)}"
        + (f"<h2>Recall and coverage</h2>\n{eval_table(r)}" if isinstance(r.get("recall"), dict) else "")
        + "<h2>Faces per frame</h2>\n"
        "<p class=muted>Number of boxes per frame: detections (orange) vs regularised tracks (blue).</p>\n"
        f'{strip}<img alt="faces per frame, {vid}" src="data:image/png;base64,{b64}">'
    )
    return page(f"FaceOff: {r.get('id')}", body)
