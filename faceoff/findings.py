"""Audit findings as events: per-frame findings grouped into runs, each run's severity, one verdict per
video.

The audit (:mod:`faceoff.audit`) lists a finding per frame and box. Most of them are noise a reviewer
need not see: a single frame at a low score on a lamp or a glove, or a blurred head re-detected beside
its own hidden region. A face the render failed to hide looks different: it persists over frames, its
score rises, the detect stage saw it too, and it lies away from any hidden region. So:

1. :func:`group_findings` links per-frame findings into **runs**: a finding joins the open run whose
   latest box overlaps it most (IoU >= ``run_iou``; that box moved on at the run's velocity also counts)
   when that run had a finding within the last ``run_gap`` + 1 frames; a run of one frame is also
   joined by a box of about its size whose centre moved at most ``run_step`` box widths a frame (a small
   face crossing the frame overlaps itself on no two frames); otherwise it starts a run. Both kinds
   (``rendered``: the re-detection on the delivered frame; ``detection``: a detection of the detect
   stage the hidden regions leave uncovered) join the same runs.
2. :func:`describe_run` gives each run its evidence: frames, first and last frame, peak score, median box
   width, the kinds seen (both: detect and the rendered-frame check **agree**), and the share of its
   frames on which it lies **beside a hidden region** (its centre inside a hidden box, motion margin
   included, grown ``rim_scale`` times about its centre: a blurred head's rim); :func:`lost_track` adds
   the track that **lost** the face, if any: one that ended just before the run where the run's first
   box continues it, or started just after it and continues its last box (linked as findings are, no
   shot cut between); frames missing inside a track (rows removed by a correction) end it and start it
   again there.
3. :func:`severity` classes a run ``high`` (a reviewer must look) or ``low`` (listed, not flagged) by the
   rule below; :func:`triage` returns the runs, most severe first, and the video's verdict:
   ``needs_review`` when any run is high, with the reasons.

The rule (thresholds: the ``audit`` config keys of the same names, :class:`faceoff.config.AuditConfig`).
A run is high when its median box is at least ``min_width`` px wide and one of:

* ``agree``: detect and the rendered-frame check both found it, on ``agree_frames`` frames or more;
* ``detect``: the detect stage found it on ``detect_frames`` frames or more, at a peak of
  ``detect_score`` or more (as confident as a detection that makes a track: the tracks dropped a face);
* ``away``: away from any hidden region (beside one on less than half its frames), ``away_frames``
  frames or more, seen twice at ``away_score`` or more (on two frames, or by both detect and the
  rendered-frame check on one: its ``second_score``; a single look that high among weak ones is noise);
* ``rim``: beside a hidden region, ``rim_frames`` frames or more at a peak of ``rim_score`` or more;
* ``lost``: a track lost the face, ``lost_frames`` frames or more, whatever the score (a face the
  tracks followed and dropped while it was still there, or picked up late: where a track ends or
  starts, the rendered-frame check reports boxes down to ``lost_threshold``, :func:`lost_regions`);
* ``peak``: a peak of ``peak_score`` or more, whatever its length.

docs/audit.md has the benchmark these thresholds were set on.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    "TrackEnds",
    "describe_run",
    "group_findings",
    "lost_regions",
    "lost_track",
    "severity",
    "triage",
]

HIGH, LOW = "high", "low"
SEVERITIES = (HIGH, LOW)
KINDS = ("rendered", "detection", "lost")  # lost: the rendered-frame check's second look
SIZE_RATIO = 1.5  # boxes of about one size: widths within this ratio


@dataclass(frozen=True)
class TriageParams:
    """How findings become runs and runs a verdict: the ``audit`` config keys of the same names (defaults
    and meaning there)."""

    run_gap: int
    run_iou: float
    run_step: float
    rim_scale: float
    min_width: float
    agree_frames: int
    detect_frames: int
    detect_score: float
    away_frames: int
    away_score: float
    rim_frames: int
    rim_score: float
    lost_frames: int
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


def _near(box: np.ndarray, prev: np.ndarray, reach: float) -> bool:
    """Whether ``box`` is about ``prev``'s size (widths within 1.5x) with its centre at most ``reach``
    times ``prev``'s width from ``prev``'s."""
    w, pw = box[2] - box[0], prev[2] - prev[0]
    if w <= 0 or pw <= 0 or max(w, pw) > SIZE_RATIO * min(w, pw):
        return False
    shift = np.hypot(box[0] + box[2] - prev[0] - prev[2], box[1] + box[3] - prev[1] - prev[3]) / 2
    return bool(shift <= reach * pw)


def group_findings(findings: list[dict], run_gap: int, run_iou: float, run_step: float) -> list[list[dict]]:
    """The findings (dicts with ``frame_index``, ``x1 y1 x2 y2``, ``score``, any order) grouped into runs,
    each a list in frame order; runs ordered by their first frame. Within a frame, stronger findings
    choose first.

    A finding continues the open run it overlaps most (IoU >= ``run_iou``) with the run's latest box, or
    with that box moved on at the run's velocity (its last two frames); a run of one frame, whose motion
    is not known yet, is also continued by a box of about its size whose centre moved at most
    ``run_step`` box widths a frame (a small face crossing the frame overlaps itself on no two frames)."""
    order = sorted(findings, key=lambda f: (int(f["frame_index"]), -float(f["score"])))
    runs: list[list[dict]] = []
    # run number -> its latest frame, latest box and velocity (box change per frame; None: one frame)
    open_runs: dict[int, tuple[int, np.ndarray, np.ndarray | None]] = {}
    for f in order:
        frame, box = int(f["frame_index"]), _box(f)
        for k in [k for k, (end, _, _) in open_runs.items() if frame - end > run_gap + 1]:
            del open_runs[k]  # frames come in order: a run this far behind stays closed
        best, best_key = -1, (False, 0.0)
        for k, (end, prev, velocity) in open_runs.items():
            iou = _iou(box, prev)
            if velocity is not None:
                iou = max(iou, _iou(box, prev + velocity * (frame - end)))
            if iou >= run_iou:
                key = (True, iou)
            elif velocity is None and frame > end and _near(box, prev, run_step * (frame - end)):
                key = (False, iou)
            else:
                continue
            if best < 0 or key > best_key:
                best, best_key = k, key
        if best < 0:
            open_runs[len(runs)] = (frame, box, None)
            runs.append([f])
            continue
        end, prev, velocity = open_runs[best]
        runs[best].append(f)
        if frame > end:
            open_runs[best] = (frame, box, (box - prev) / (frame - end))
        elif float(f["score"]) > float(runs[best][-2]["score"]):
            open_runs[best] = (frame, box, velocity)
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
    looks: dict[tuple[int, str], float] = {}  # each frame's best score per kind: independent looks
    for f in run:
        key = (int(f["frame_index"]), f["kind"])
        looks[key] = max(looks.get(key, 0.0), float(f["score"]))
    second = sorted(looks.values())[-2] if len(looks) > 1 else 0.0
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
        "second_score": round(second, 4),
        "width": round(float(np.median(boxes[:, 2] - boxes[:, 0])), 1),
        "beside_hidden": round(float(np.mean(beside)), 3),
        "path": [
            [k, *(round(float(v), 2) for v in b), round(float(per_frame[k]["score"]), 4)]
            for k, b in zip(frames, boxes, strict=True)
        ],
    }


@dataclass(frozen=True)
class TrackEnds:
    """Where each stretch of a tracks table's tracks starts and ends: frames and face boxes (no pad). A
    stretch is a track's run of consecutive frames: the regularize stage fills a track's gaps, so a track
    with frames missing inside (removed by a correction, or by hand) ends and starts again there. Rows of
    source ``unconfirmed`` are left out: the tracker never took them for a face, so they lose none."""

    ids: np.ndarray  # (N,) track ids
    first: np.ndarray  # (N,) first frames
    first_box: np.ndarray  # (N,4)
    last: np.ndarray  # (N,) last frames
    last_box: np.ndarray  # (N,4)

    @classmethod
    def of(cls, tracks: pd.DataFrame) -> TrackEnds:
        """The starts and ends of the stretches of the tracks of ``tracks`` (a tracks table)."""
        if "source" in tracks:
            tracks = tracks[tracks["source"] != "unconfirmed"]
        rows = tracks.sort_values(["track_id", "frame_index"], kind="stable")
        ids, frames = rows["track_id"].to_numpy(), rows["frame_index"].to_numpy()
        new = np.ones(len(rows), dtype=bool)
        new[1:] = (ids[1:] != ids[:-1]) | (frames[1:] - frames[:-1] > 1)
        grouped = rows.groupby(np.cumsum(new), sort=True)
        head, tail = grouped.head(1), grouped.tail(1)
        xy = ["x1", "y1", "x2", "y2"]
        return cls(
            head["track_id"].to_numpy(),
            head["frame_index"].to_numpy(),
            head[xy].to_numpy(dtype=np.float64),
            tail["frame_index"].to_numpy(),
            tail[xy].to_numpy(dtype=np.float64),
        )


def _continues(later: int, box: np.ndarray, earlier: int, prev: np.ndarray, p: TriageParams) -> bool:
    """Whether ``box`` on frame ``later`` continues ``prev`` on frame ``earlier`` as
    :func:`group_findings` continues a run of one frame."""
    elapsed = later - earlier
    return 0 < elapsed <= p.run_gap + 1 and (
        _iou(box, prev) >= p.run_iou or _near(box, prev, p.run_step * elapsed)
    )


def lost_track(run: dict[str, Any], ends: TrackEnds, cuts: Sequence[int], p: TriageParams) -> int | None:
    """The track that lost the face of ``run`` (a :func:`describe_run`), or None: a track that ended
    just before the run's first frame and which the run's first box continues, or one that starts just
    after the run's last frame and continues its last box (as :func:`group_findings` links findings),
    with no shot cut between."""
    (first, *b_first), (last, *b_last) = run["path"][0][:5], run["path"][-1][:5]
    reach = p.run_gap + 1
    for i in np.flatnonzero((ends.last < first) & (ends.last >= first - reach)):
        end = int(ends.last[i])
        if _continues(first, np.array(b_first), end, ends.last_box[i], p) and not _cut_between(
            end, first, cuts
        ):
            return int(ends.ids[i])
    for i in np.flatnonzero((ends.first > last) & (ends.first <= last + reach)):
        start = int(ends.first[i])
        if _continues(start, ends.first_box[i], last, np.array(b_last), p) and not _cut_between(
            last, start, cuts
        ):
            return int(ends.ids[i])
    return None


def lost_regions(
    tracks: pd.DataFrame, cuts: Sequence[int], window: int, scale: float, frame_count: int
) -> dict[int, np.ndarray]:
    """``{frame: (N,4) regions}`` where the tracks may have lost a face: on the ``window`` frames after
    each track ends and before each starts (within the video, no shot cut between), the track's end
    (start) box grown ``scale`` times about its centre."""
    if window <= 0 or not len(tracks):
        return {}
    ends = TrackEnds.of(tracks)
    out: dict[int, list[np.ndarray]] = {}
    for i in range(len(ends.ids)):
        last, first = int(ends.last[i]), int(ends.first[i])
        sides = (
            (last, ends.last_box[i], range(last + 1, last + 1 + window)),
            (first, ends.first_box[i], range(first - window, first)),
        )
        for ref, box, frames in sides:
            centre, half = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]) * scale / 2
            region = np.concatenate([centre - half, centre + half])
            for f in frames:
                if 0 <= f < frame_count and not _cut_between(min(f, ref), max(f, ref), cuts):
                    out.setdefault(f, []).append(region)
    return {f: np.array(r) for f, r in out.items()}


def _cut_between(earlier: int, later: int, cuts: Sequence[int]) -> bool:
    """Whether a shot starts on a frame after ``earlier`` up to ``later``."""
    return any(earlier < c <= later for c in cuts)


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
    if not beside and n >= p.away_frames and run["second_score"] >= p.away_score:
        reasons.append(
            f"{n} frames away from hidden regions, peak {peak:.2f}, seen twice at {p.away_score:g}+"
        )
    if beside and n >= p.rim_frames and peak >= p.rim_score:
        reasons.append(f"{n} frames beside a hidden region, peak {peak:.2f}")
    lost = run.get("lost_track")
    if lost is not None and n >= p.lost_frames:
        reasons.append(f"{n} frames where track {lost} lost a face, peak {peak:.2f}")
    if peak >= p.peak_score:
        reasons.append(f"peak score {peak:.2f}")
    return (HIGH, reasons) if reasons else (LOW, [facts])


def _order(run: dict[str, Any]) -> tuple:
    return (run["severity"] != HIGH, -run["frames"], -run["peak_score"], run["first_frame"])


def triage(
    findings: list[dict], tracks: pd.DataFrame, params: TriageParams, cuts: Sequence[int] = ()
) -> dict[str, Any]:
    """Group ``findings`` into runs, class them and give the verdict.

    ``tracks`` is the table of what the render hid (corrected tracks), ``cuts`` the video's shot cuts (a
    track does not lose a face across one). Returns ``{"runs": [...] (most
    severe first, each :func:`describe_run` with ``run`` (its number in frame order), ``severity`` and
    ``reasons``), "n_runs", "n_high", "needs_review", "review_reasons"}``; ``review_reasons`` names the
    high runs.
    """
    hidden = boxes_by_frame(tracks, hidden=True) if len(tracks) else {}
    ends = TrackEnds.of(tracks) if len(tracks) else None
    runs = []
    for k, group in enumerate(group_findings(findings, params.run_gap, params.run_iou, params.run_step)):
        run = {"run": k, **describe_run(group, hidden, params.rim_scale)}
        run["lost_track"] = lost_track(run, ends, cuts, params) if ends is not None else None
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
