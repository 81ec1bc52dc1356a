"""Audit findings as events: per-frame findings grouped into runs, each run's severity, one verdict per
video.

The audit (:mod:`faceoff.audit`) lists a finding per frame and box. Most of them are noise a reviewer
need not see: a single frame at a low score on a lamp or a glove, or a blurred head re-detected beside
its own hidden region. A face the render failed to hide looks different: it persists over frames, its
score rises, the detect stage saw it too, and it lies away from any hidden region. So:

1. :func:`group_findings` links per-frame findings into **runs**: a finding joins the open run whose
   latest box overlaps it most (IoU >= ``run_iou``) when that run had a finding within the last
   ``run_gap`` + 1 frames; otherwise it starts a run. Both kinds (``rendered``: the re-detection on the
   delivered frame; ``detection``: a detection of the detect stage the hidden regions leave uncovered)
   join the same runs.
2. :func:`describe_run` gives each run its evidence: frames, first and last frame, peak score, median box
   width, the kinds seen (both: detect and the rendered-frame check **agree**), and the share of its
   frames on which it lies **beside a hidden region** (its centre inside a hidden box, motion margin
   included, grown ``rim_scale`` times about its centre: a blurred head's rim).
3. :func:`severity` classes a run ``high`` (a reviewer must look) or ``low`` (listed, not flagged) by the
   rule below; :func:`triage` returns the runs, most severe first, and the video's verdict:
   ``needs_review`` when any run is high, with the reasons.

The rule (thresholds: the ``audit`` config keys of the same names, :class:`faceoff.config.AuditConfig`).
A run is high when its median box is at least ``min_width`` px wide and one of:

* ``agree``: detect and the rendered-frame check both found it, on ``agree_frames`` frames or more;
* ``detect``: the detect stage found it on ``detect_frames`` frames or more, at a peak of
  ``detect_score`` or more (as confident as a detection that makes a track: the tracks dropped a face);
* ``away``: away from any hidden region (beside one on less than half its frames), ``away_frames``
  frames or more at a peak of ``away_score`` or more;
* ``rim``: beside a hidden region, ``rim_frames`` frames or more at a peak of ``rim_score`` or more;
* ``peak``: a peak of ``peak_score`` or more, whatever its length.

docs/audit.md has the benchmark these thresholds were set on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from faceoff.boxes import boxes_by_frame
from faceoff.config import AuditConfig, params_from

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "HIGH",
    "LOW",
    "SEVERITIES",
    "TriageParams",
    "describe_run",
    "group_findings",
    "severity",
    "triage",
]

HIGH, LOW = "high", "low"
SEVERITIES = (HIGH, LOW)
KINDS = ("rendered", "detection")


@dataclass(frozen=True)
class TriageParams:
    """How findings become runs and runs a verdict: the ``audit`` config keys of the same names (defaults
    and meaning there)."""

    run_gap: int
    run_iou: float
    rim_scale: float
    min_width: float
    agree_frames: int
    detect_frames: int
    detect_score: float
    away_frames: int
    away_score: float
    rim_frames: int
    rim_score: float
    peak_score: float

    @classmethod
    def from_config(cls, cfg: AuditConfig) -> TriageParams:
        """The triage parameters of the ``audit`` section."""
        return params_from(cls, cfg)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _box(f: dict) -> np.ndarray:
    return np.array([f["x1"], f["y1"], f["x2"], f["y2"]], dtype=np.float64)


def group_findings(findings: list[dict], run_gap: int, run_iou: float) -> list[list[dict]]:
    """The findings (dicts with ``frame_index``, ``x1 y1 x2 y2``, ``score``, any order) grouped into runs,
    each a list in frame order; runs ordered by their first frame. Within a frame, stronger findings
    choose first."""
    order = sorted(findings, key=lambda f: (int(f["frame_index"]), -float(f["score"])))
    runs: list[list[dict]] = []
    open_runs: dict[int, tuple[int, np.ndarray]] = {}  # run number -> its latest frame and box
    for f in order:
        frame, box = int(f["frame_index"]), _box(f)
        for k in [k for k, (end, _) in open_runs.items() if frame - end > run_gap + 1]:
            del open_runs[k]  # frames come in order: a run this far behind stays closed
        best, best_iou = -1, run_iou
        for k, (_, prev) in open_runs.items():
            iou = _iou(box, prev)
            if iou >= best_iou:
                best, best_iou = k, iou
        if best < 0:
            open_runs[len(runs)] = (frame, box)
            runs.append([f])
        else:
            runs[best].append(f)
            if frame > open_runs[best][0] or float(f["score"]) > float(runs[best][-2]["score"]):
                open_runs[best] = (frame, box)
    return runs


def _beside(box: np.ndarray, hidden: np.ndarray | None, rim_scale: float) -> bool:
    """Whether ``box``'s centre lies inside any ``hidden`` box grown ``rim_scale`` times about its centre."""
    if hidden is None or not len(hidden):
        return False
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hc = (hidden[:, :2] + hidden[:, 2:4]) / 2
    half = (hidden[:, 2:4] - hidden[:, :2]) * rim_scale / 2
    return bool(np.any((np.abs(cx - hc[:, 0]) <= half[:, 0]) & (np.abs(cy - hc[:, 1]) <= half[:, 1])))


def describe_run(run: list[dict], hidden_by_frame: dict[int, np.ndarray], rim_scale: float) -> dict[str, Any]:
    """A run's evidence and box path (one box per frame: its strongest finding there).

    ``hidden_by_frame`` maps a frame to the boxes the render hid on it (``boxes.boxes_by_frame`` of the
    tracks with ``hidden=True``)."""
    per_frame: dict[int, dict] = {}
    for f in run:
        k = int(f["frame_index"])
        if k not in per_frame or float(f["score"]) > float(per_frame[k]["score"]):
            per_frame[k] = f
    frames = sorted(per_frame)
    boxes = np.array([_box(per_frame[k]) for k in frames])
    beside = [_beside(b, hidden_by_frame.get(k), rim_scale) for k, b in zip(frames, boxes, strict=True)]
    peak = max(run, key=lambda f: float(f["score"]))
    kinds = {kind: len({int(f["frame_index"]) for f in run if f["kind"] == kind}) for kind in KINDS}
    return {
        "first_frame": frames[0],
        "last_frame": frames[-1],
        "first_time": per_frame[frames[0]].get("pts_time"),
        "last_time": per_frame[frames[-1]].get("pts_time"),
        "frames": len(frames),
        "kinds": {k: n for k, n in kinds.items() if n},
        "agree_frames": len(
            {int(f["frame_index"]) for f in run if f["kind"] == "rendered"}
            & {int(f["frame_index"]) for f in run if f["kind"] == "detection"}
        ),
        "detect_peak": round(
            max((float(f["score"]) for f in run if f["kind"] == "detection"), default=0.0), 4
        ),
        "peak_score": round(float(peak["score"]), 4),
        "peak_frame": int(peak["frame_index"]),
        "width": round(float(np.median(boxes[:, 2] - boxes[:, 0])), 1),
        "beside_hidden": round(float(np.mean(beside)), 3),
        "path": [
            [k, *(round(float(v), 2) for v in b), round(float(per_frame[k]["score"]), 4)]
            for k, b in zip(frames, boxes, strict=True)
        ],
    }


def severity(run: dict[str, Any], p: TriageParams) -> tuple[str, list[str]]:
    """``(HIGH or LOW, reasons)`` of a run described by :func:`describe_run` (the rule of the module doc).
    The reasons say which rule made it high, or why it stayed low."""
    n, peak, width = run["frames"], run["peak_score"], run["width"]
    beside = run["beside_hidden"] >= 0.5
    where = "beside a hidden region" if beside else "away from hidden regions"
    facts = f"{n} frame(s), peak {peak:.2f}, {width:.0f} px, {where}"
    if width < p.min_width:
        return LOW, [f"{facts}: narrower than {p.min_width:g} px"]
    reasons = []
    if run["agree_frames"] >= p.agree_frames:
        reasons.append(f"detect and the rendered-frame check agree on {run['agree_frames']} frame(s)")
    n_detect = (run.get("kinds") or {}).get("detection", 0)
    if n_detect >= p.detect_frames and run["detect_peak"] >= p.detect_score:
        reasons.append(f"detect found it on {n_detect} frames, peak {run['detect_peak']:.2f}")
    if not beside and n >= p.away_frames and peak >= p.away_score:
        reasons.append(f"{n} frames away from hidden regions, peak {peak:.2f}")
    if beside and n >= p.rim_frames and peak >= p.rim_score:
        reasons.append(f"{n} frames beside a hidden region, peak {peak:.2f}")
    if peak >= p.peak_score:
        reasons.append(f"peak score {peak:.2f}")
    return (HIGH, reasons) if reasons else (LOW, [facts])


def _order(run: dict[str, Any]) -> tuple:
    return (run["severity"] != HIGH, -run["frames"], -run["peak_score"], run["first_frame"])


def triage(findings: list[dict], tracks: pd.DataFrame, params: TriageParams) -> dict[str, Any]:
    """Group ``findings`` into runs, class them and give the verdict.

    ``tracks`` is the table of what the render hid (corrected tracks). Returns ``{"runs": [...] (most
    severe first, each :func:`describe_run` with ``run`` (its number in frame order), ``severity`` and
    ``reasons``), "n_runs", "n_high", "needs_review", "review_reasons"}``; ``review_reasons`` names the
    high runs.
    """
    hidden = boxes_by_frame(tracks, hidden=True) if len(tracks) else {}
    runs = []
    for k, group in enumerate(group_findings(findings, params.run_gap, params.run_iou)):
        run = {"run": k, **describe_run(group, hidden, params.rim_scale)}
        run["severity"], run["reasons"] = severity(run, params)
        runs.append(run)
    runs.sort(key=_order)
    high = [r for r in runs if r["severity"] == HIGH]
    return {
        "runs": runs,
        "n_runs": len(runs),
        "n_high": len(high),
        "needs_review": bool(high),
        "review_reasons": [
            f"frames {r['first_frame']}-{r['last_frame']}: {'; '.join(r['reasons'])}" for r in high
        ],
    }
