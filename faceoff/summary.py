"""Cross-video summary: a CSV with one row per video and an index page (``summary.html``).

Both are built from the report JSONs alone (no box table is read), so the summary of 10,000 videos takes
seconds. The index is one sortable, filterable table (failed videos, audit findings of severity high
(:mod:`faceoff.findings`; the most severe first) and low coverage first), rendered in the browser from
JSON embedded in the page, linking each video to its detail page (``reports/{id}.html``, written with its
plot by the video's own report job), its delivered video and its contact sheet.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from faceoff.atomic import write_text
from faceoff.layout import scan
from faceoff.pages import STAGES, page, pct, relative
from faceoff.pages import esc as _e
from faceoff.pages import fmt as _fmt
from faceoff.pages import get as _get
from faceoff.pages import run as _run

CSV_COLUMNS = [
    "id",
    "source_path",
    "frames",
    "width",
    "height",
    "fps",
    "duration",
    "dropped_streams",
    "leading_undecodable",
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
    "audit_runs",
    "audit_runs_high",
    "audit_needs_review",
    "contact_sheet",
]


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
        "dropped_streams": ";".join(
            f"{kind}:{n}" for kind, n in sorted((_get(report, "output", "dropped_streams") or {}).items())
        ),
        "leading_undecodable": _get(report, "source", "leading_undecodable"),
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
        "audit_runs": _get(report, "audit", "n_runs"),
        "audit_runs_high": _get(report, "audit", "n_high"),
        "audit_needs_review": _get(report, "audit", "needs_review"),
        "contact_sheet": _get(report, "audit", "contact_sheet"),
    }
    for s in STAGES:
        row[f"fps_{s}"] = _get(report, "timing", s, "frames_per_second")
    return {k: ("" if row.get(k) is None else row[k]) for k in CSV_COLUMNS}


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _recall_table(reports: list[dict[str, Any]]) -> str:
    annotated = [r for r in reports if isinstance(r.get("recall"), dict)]
    if not annotated:
        return ""
    cols = ["GT faces", "recall", "precision", "coverage", "longest uncovered run"]
    head = (
        "<tr><th class=l rowspan=2>videos</th><th rowspan=2>GT faces</th>"
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
        f"<th>{pct(_ratio(tot['tp_b'], tot['n_gt']))}</th><th>{pct(_ratio(tot['tp_a'], tot['n_gt']))}</th>"
        f"<th>{pct(_ratio(tot['tp_b'], tot['tp_b'] + tot['fp_b']))}</th>"
        f"<th>{pct(_ratio(tot['tp_a'], tot['tp_a'] + tot['fp_a']))}</th>"
        f"<th>{pct(_ratio(tot['cv_b'], tot['cn_b']))}</th><th>{pct(_ratio(tot['cv_a'], tot['cn_a']))}</th>"
        f"<th>{_run(max(runs['b'], default=None))}</th><th>{_run(max(runs['a'], default=None))}</th></tr>"
    )
    cover = ", ".join(pct(t) for t in thresholds) or "–"
    return (
        "<h2>Recall and coverage before / after temporal smoothing</h2>\n"
        f"<table>{head}{''.join(rows)}</table>\n"
        f"<p class=muted>Before: raw detections; after: regularised tracks. Recall and precision: IoU &ge; "
        f"{_e(ious)}, one-to-one per frame. Coverage: share of annotated faces with at least {_e(cover)} of "
        "their box inside the rendered region (detections scored as if rendered the same way). Longest "
        "uncovered run: most consecutive frames (fr) with a face not covered. GT marked ignore "
        "excluded.</p>\n"
    )


# A video whose coverage after smoothing is below this is flagged (and sorted up) on the index page.
LOW_COVERAGE = 0.95


def find_reports(results: str | os.PathLike) -> list[Path]:
    """Every report JSON under ``results/reports`` (flat or sharded layout), sorted by id."""
    found = [
        Path(e.path)
        for e in scan(Path(results) / "reports")
        if e.name.endswith(".json") and not e.name.startswith(".")
    ]
    return sorted(found, key=lambda p: (p.stem, str(p)))


def _flags(r: dict[str, Any]) -> tuple[int, list[str]]:
    """Priority (higher: listed first) and the reasons a video needs a look."""
    flags, priority = [], 0
    audit = r.get("audit") or {}
    if not audit.get("enabled", True):
        pass
    elif "needs_review" in audit:  # the verdict of faceoff.findings: runs of severity high
        if audit["needs_review"]:
            reasons = audit.get("review_reasons") or []
            first = f": {reasons[0]}" if reasons else ""
            flags.append(f"audit: {audit.get('n_high')} run(s) of severity high{first}")
            priority = max(priority, 2)
    elif audit.get("n_findings") or audit.get("passed") is False:  # a report made before the verdict
        flags.append(f"audit: {audit.get('n_findings') or 0} finding(s)")
        priority = max(priority, 2)
    coverage = _get(r, "coverage", "tracks", "coverage")
    if coverage is not None and coverage < LOW_COVERAGE:
        flags.append(f"coverage {pct(coverage)}")
        priority = max(priority, 1)
    if _get(r, "output", "frames_match_source") is False:
        flags.append("output frames differ from the source")
        priority = max(priority, 2)
    if r.get("params_mismatch"):
        flags.append("made with other parameters: " + ", ".join(map(str, r["params_mismatch"])))
        priority = max(priority, 1)
    cameras = (_get(r, "output", "dropped_streams") or {}).get("video")
    if cameras:  # another camera's stream (or cover art) is not in the delivered file
        flags.append(f"{cameras} more video stream(s) not delivered")
        priority = max(priority, 1)
    leading = _get(r, "source", "leading_undecodable")
    if leading:  # a recording started mid-stream: noted, no reason to look (no decoder shows them)
        flags.append(f"{leading} frame(s) before the first keyframe not delivered")
    return priority, flags


def _runs_cell(audit: dict[str, Any]) -> str | None:
    """``"high / all"`` runs of the audit findings, None without a verdict."""
    if not audit.get("enabled", True) or audit.get("n_runs") is None:
        return None
    return f"{audit.get('n_high') or 0} high / {audit['n_runs']}"


def _severity(audit: dict[str, Any]) -> dict[str, list[float]]:
    """``{"severity": [1, frames, peak]}`` of the audit's worst run when it is of severity high (a sort
    key: higher is more severe), else nothing (the row stays short)."""
    runs = audit.get("first_runs") or []  # most severe first
    if not runs or runs[0].get("severity") != "high":
        return {}
    return {"severity": [1, runs[0].get("frames") or 0, runs[0].get("peak_score") or 0]}


def _link(path: Any, here: Path) -> str | None:
    return relative(path, here) if path else None


def index_row(r: dict[str, Any], report_json: Path, here: Path) -> dict[str, Any]:
    """One video's row of the index table (short keys: the page holds 10^4-10^5 of them)."""
    priority, flags = _flags(r)
    audit = r.get("audit") or {}
    return {
        "id": r.get("id"),
        "page": _link(report_json.with_suffix(".html"), here),
        "video": _link(_get(r, "output", "delivered"), here),
        "review": _link(_get(r, "output", "review"), here),
        "sheet": _link(audit.get("contact_sheet"), here),
        "frames": _get(r, "source", "frames"),
        "duration": _get(r, "source", "duration"),
        "faces": _get(r, "frames_with_faces", "tracks"),
        "tracks": _get(r, "tracks", "count"),
        "findings": audit.get("n_findings") if audit.get("enabled", True) else None,
        "runs": _runs_cell(audit),
        **_severity(audit),
        "recall": _get(r, "recall", "tracks", "recall"),
        "coverage": _get(r, "coverage", "tracks", "coverage"),
        "run": _get(r, "coverage", "tracks", "longest_uncovered_run"),
        "seconds": _get(r, "timing", "total_seconds"),
        "flags": "; ".join(flags),
        "priority": priority,
    }


def failed_row(
    video_id: str, stage: str, cause: str, log: str | os.PathLike | None, here: Path
) -> dict[str, Any]:
    """The index row of a video that failed at ``stage`` (it has no report)."""
    return {"id": video_id, "log": _link(log, here), "flags": f"failed at {stage}: {cause}", "priority": 3}


def _sort_key(row: dict[str, Any]) -> tuple:
    """Failed first, then the flagged videos, the most severe audit findings first, then coverage."""
    coverage = row.get("coverage")
    severity = [-v for v in row.get("severity") or [0, 0, 0]]
    return (-row["priority"], *severity, 2.0 if coverage is None else coverage, str(row["id"]))


# The table: sort by clicking a column head (again: reverse), filter by text (id or flags) and "needs a
# look"; 500 rows per page. The state lives in the address (#q=...&sort=...&desc=1&look=1&page=2).
SCRIPT = r"""
const ROWS=JSON.parse(document.getElementById('rows').textContent);
const COLS=[['id','video','l'],['flags','needs a look','l'],['frames','frames'],['duration','duration (s)'],
['faces','frames with faces'],['tracks','tracks'],['findings','audit findings'],['runs','audit runs','l'],
['recall','recall'],
['coverage','coverage'],['run','longest uncovered run'],['seconds','seconds'],['links','','l']];
const PAGE=500;
let st={q:'',sort:'',desc:0,look:0,page:1};
function readHash(){const h=new URLSearchParams(location.hash.slice(1));
 st={q:h.get('q')||'',sort:h.get('sort')||'',desc:+(h.get('desc')||0),look:+(h.get('look')||0),page:+(h.get('page')||1)};}
function writeHash(){const h=new URLSearchParams();
 for(const [k,v] of Object.entries(st)){if(v&&!(k=='page'&&v==1))h.set(k,v);}
 history.replaceState(null,'','#'+h.toString());}
const ENT={'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'};
function esc(s){return String(s).replace(/[&<>"']/g,c=>ENT[c]);}
function pct(v){return v==null?'–':(100*v).toFixed(1)+'%';}
function num(v,d){return v==null?'–':(d?(+v).toFixed(d):String(v));}
function a(href,text){return href?'<a href="'+esc(href)+'">'+text+'</a>':'';}
function cell(r,k){switch(k){
 case 'id':return r.page?a(r.page,esc(r.id)):esc(r.id);
 case 'flags':return r.flags?'<span class='+(r.priority>0?'bad':'muted')+'>'+esc(r.flags)+'</span>':'';
 case 'duration':case 'seconds':return num(r[k],1);
 case 'recall':case 'coverage':return pct(r[k]);
 case 'run':return r.run==null?'–':r.run+' fr';
 case 'runs':return r.runs==null?'–':
   (r.severity&&r.severity[0]?'<span class=bad>'+esc(r.runs)+'</span>':esc(r.runs));
 case 'links':return [a(r.video,'video'),a(r.review,'review'),a(r.sheet,'QA sheet'),a(r.log,'log')]
   .filter(Boolean).join(' ');
 default:return num(r[k]);}}
function cmp(k){return (x,y)=>{const u=x[k],v=y[k];if(u==v)return 0;if(u==null)return 1;if(v==null)return -1;
 return typeof u=='number'&&typeof v=='number'?u-v:String(u).localeCompare(String(v));};}
function render(){
 let rows=ROWS;const q=st.q.toLowerCase();
 if(q)rows=rows.filter(r=>String(r.id).toLowerCase().includes(q)||(r.flags||'').toLowerCase().includes(q));
 if(st.look)rows=rows.filter(r=>r.priority>0);
 if(st.sort){const c=cmp(st.sort);rows=rows.slice().sort(st.desc?(x,y)=>-c(x,y)||0:c);
  if(st.desc){const nil=rows.filter(r=>r[st.sort]==null);rows=rows.filter(r=>r[st.sort]!=null).concat(nil);}}
 const pages=Math.max(1,Math.ceil(rows.length/PAGE));st.page=Math.min(Math.max(1,st.page),pages);
 const shown=rows.slice((st.page-1)*PAGE,st.page*PAGE);
 document.getElementById('head').innerHTML=COLS.map(([k,t,l])=>'<th'+(l?' class=l':'')+' data-k="'+k+'">'+t+
  (st.sort==k?(st.desc?' ▼':' ▲'):'')+'</th>').join('');
 document.getElementById('body').innerHTML=shown.map(r=>'<tr>'+COLS.map(([k,,l])=>'<td'+(l?' class=l':'')+'>'+
  cell(r,k)+'</td>').join('')+'</tr>').join('');
 document.getElementById('count').textContent=rows.length+' of '+ROWS.length+' videos'+
  (pages>1?', page '+st.page+' of '+pages:'');
 document.getElementById('prev').disabled=st.page<=1;document.getElementById('next').disabled=st.page>=pages;
 document.getElementById('q').value=st.q;document.getElementById('look').checked=!!st.look;writeHash();}
document.getElementById('head').onclick=e=>{const k=e.target.dataset.k;if(!k||k=='links')return;
 st.desc=st.sort==k?1-st.desc:0;st.sort=k;st.page=1;render();};
document.getElementById('q').oninput=e=>{st.q=e.target.value;st.page=1;render();};
document.getElementById('look').onchange=e=>{st.look=e.target.checked?1:0;st.page=1;render();};
document.getElementById('prev').onclick=()=>{st.page--;render();};
document.getElementById('next').onclick=()=>{st.page++;render();};
window.onhashchange=()=>{readHash();render();};
readHash();render();
"""


def _json_for_script(rows: list[dict[str, Any]]) -> str:
    """Rows as JSON that cannot end the <script> element it sits in."""
    text = json.dumps(rows, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def write_summary(
    report_jsons: list[str | Path],
    out_html: str | Path,
    out_csv: str | Path,
    failures: Mapping[str, tuple[str, str, str | None]] | None = None,
) -> None:
    """Write the summary CSV (one row per report) and the index page.

    ``failures`` maps the id of a video without a report to (stage, first line of the cause, log path):
    such videos head the index table.
    """
    paths = [Path(p) for p in report_jsons]
    reports = [json.loads(p.read_text(encoding="utf-8")) for p in paths]

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_row(r) for r in reports)
    write_text(out_csv, buf.getvalue())

    here = Path(out_html).parent
    rows = [index_row(r, p, here) for r, p in zip(reports, paths, strict=True)]
    have = {r["id"] for r in rows}
    rows += [
        failed_row(vid, stage, cause, log, here)
        for vid, (stage, cause, log) in sorted((failures or {}).items())
        if vid not in have
    ]
    rows.sort(key=_sort_key)
    n_look = sum(r["priority"] > 0 for r in rows)
    n_annot = sum(isinstance(r.get("recall"), dict) for r in reports)
    n_failed = sum(r["priority"] == 3 for r in rows)
    body = (
        "<h1>FaceOff summary</h1>\n"
        f"<p>{len(reports)} video(s) with a report, {n_annot} with annotations"
        f"{f', <span class=bad>{n_failed} failed</span>' if n_failed else ''}; "
        f"{n_look} need a look (failed, audit findings of severity high, coverage below {pct(LOW_COVERAGE)}, "
        "...). "
        f'Every number per video: <a href="{_e(relative(out_csv, here))}">{_e(Path(out_csv).name)}</a>.</p>\n'
        f"{_recall_table(reports)}"
        "<h2>Videos</h2>\n"
        '<p><input id=q type=search placeholder="filter: id or reason" size=30> '
        "<label><input id=look type=checkbox> only those that need a look</label> "
        "<button id=prev>&larr;</button> <button id=next>&rarr;</button> "
        "<span id=count class=muted></span></p>\n"
        "<p class=muted>Click a column head to sort (again to reverse). Per video: recall and coverage after "
        "temporal smoothing; the detail page has before / after and the faces-per-frame plot.</p>\n"
        "<noscript><p>The table needs JavaScript; summary.csv holds the same numbers.</p></noscript>\n"
        "<table><thead><tr id=head></tr></thead><tbody id=body></tbody></table>\n"
        f'<script id=rows type="application/json">{_json_for_script(rows)}</script>'
    )
    write_text(out_html, page("FaceOff summary", body, SCRIPT))
