"""Audit triage: false alarms on leak-free videos and injected leaks flagged, before and after grouping
findings into runs with a severity (:mod:`faceoff.findings`).

    python benchmarks/audit_triage.py [--workdir DIR] [--suite full] [--frames 75] [--only ID ...]

Each clip of the synthetic suite (:func:`faceoff.synth.orscene.benchmark_suite`, ``--suite``, cut to
``--frames`` frames) goes through the real stages with their config defaults: detect, regularize, render
(with the frame audit) and the audit stage; the audit JSON keeps every per-frame finding
(``max_stored_findings`` raised, nothing else changed). Then leaks are injected into the tracks, each
rendered and audited again: ``track``, the longest track of faces at least ``MIN_FACE_PX`` wide (median
box width; on an annotated clip only tracks whose boxes lie on annotated, non-ignored faces on at least
``ON_FACE_SHARE`` of their frames: removing a track on a coat is no leak of a face) whose removal leaks
at least ``MIN_LEAK`` frames; ``run``, ``RUN_FRAMES`` consecutive frames
from the middle of another such track, leaking at least ``MIN_LEAK``. The leak: the removed rows of
source ``detected`` (a face the detector saw on that frame) that the other tracks leave less than
``LEAK_FRACTION`` covered. Everything is cached in ``WORKDIR`` (clips, tables, audit JSONs);
the rules are scored from the cache, so a changed rule is measured on the same renders.

Counts, "before" (main: every video with a finding needs a look, every finding flags its box; the
findings of the second look where a track lost a face, kind ``lost``, left out: main had none) and
"after" (``needs_review`` and the runs of severity high, with the ``audit`` config's defaults):

* **false alarms**: flagged videos among the leak-free ones (ground truth: no annotated, non-ignored
  face less than ``LEAK_FRACTION`` covered by the rendered region on any frame);
* **flagged with no flagged finding on a leaked face**: among all clips, flagged videos none of whose
  flagged boxes lies on a leaked annotated face (IoU >= ``MATCH_IOU``), whatever the leak's length;
* **injected leaks flagged**: the video is flagged *and* a flagged box lies on a leaked box;
* **ground-truth leaks**: runs of >= ``GT_LEAK_FRAMES`` frames on which one annotated face is less
  than ``LEAK_FRACTION`` covered; flagged when a flagged box lies on it. The audit cannot flag a leak
  its detector does not see on the delivered frame: "before" is also the share it sees at all.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from faceoff.boxes import TRACK_SCHEMA, read_boxes, read_metadata, write_boxes
from faceoff.config import AuditConfig, DetectConfig, RegularizeConfig, RenderConfig, ShotsConfig
from faceoff.evaluate import face_fractions, on_face
from faceoff.findings import HIGH, TriageParams, triage
from faceoff.stages.audit import run_audit
from faceoff.stages.detect import detector_from, run_detect
from faceoff.stages.probe import run_probe
from faceoff.stages.regularize import run_regularize
from faceoff.stages.render import run_render
from faceoff.synth.orscene import benchmark_suite

MIN_FACE_PX = 20  # injected leaks: faces at least this wide (median box width of the track, source px)
RUN_FRAMES = 8  # injected partial leak: this many consecutive frames of one track
MIN_LEAK = 5  # an injection leaks at least this many frames of a detected face
ON_FACE_SHARE = 0.5  # annotated clips: an injected track lies on an annotated face on this share of its rows
LEAK_FRACTION = 0.5  # ground truth: a face less than this share covered is a leak on that frame
GT_LEAK_FRAMES = 3  # ground-truth leaks scored: runs at least this long
MATCH_IOU = 0.2  # a finding (a run's box) lies on a leaked face at this IoU


def _render_and_audit(video: Path, info, tracks: Path, det: Path, out: Path, detector) -> dict:
    """Render ``tracks`` over ``video`` with the frame audit, then the audit stage; the audit JSON's
    record, with the render's frame-audit seconds under ``"audit_seconds"``."""
    audit_json = out / "audit.json"
    if audit_json.exists():
        return json.loads(audit_json.read_text())
    detect, render = DetectConfig(), RenderConfig()
    audit = AuditConfig(max_stored_findings=10**7)  # every per-frame finding kept; nothing else changed
    rendered, stats = out / "render.mp4", out / "render.json"
    run_render(
        str(video), info, tracks, render, rendered, stats, audit=audit, detect=detect, detector=detector
    )
    result = run_audit(
        rendered,
        info,
        tracks,
        det,
        stats,
        render,
        audit,
        detect,
        out / "audit.tmp.json",
        out / "qa.png",
        out / "delivered.mp4",
    )
    result["audit_seconds"] = json.loads(stats.read_text())["audit"]["timing"]["seconds"]
    for f in (rendered, out / "delivered.mp4", out / "audit.tmp.json"):
        f.unlink(missing_ok=True)
    audit_json.write_text(json.dumps(result) + "\n")
    return result


def _tracks_by_width(tracks: pd.DataFrame, gt: pd.DataFrame | None = None) -> list[int]:
    """Track ids whose median box width is >= MIN_FACE_PX, longest first (ties: lower id); with ``gt``
    (annotations), only tracks on a non-ignored annotated face on >= ON_FACE_SHARE of their rows."""
    t = tracks.assign(w=tracks["x2"] - tracks["x1"])
    if gt is not None:
        faces = gt.loc[~gt["ignore"].to_numpy(dtype=bool)]
        t = t.assign(face=on_face(tracks, faces))
    g = t.groupby("track_id")
    keep = g["w"].median() >= MIN_FACE_PX
    if gt is not None:
        keep &= g["face"].mean() >= ON_FACE_SHARE
    n = g.size()[keep]
    return [int(i) for i in sorted(n.index, key=lambda i: (-n[i], i))]


def _leak(removed: pd.DataFrame, tracks: pd.DataFrame, info) -> pd.DataFrame:
    """The leak of removing ``removed`` from ``tracks``: its rows of source ``detected`` (the detector saw a
    face there; the other sources are estimates, e.g. over a turned head) that the rest of the tracks leave
    less than LEAK_FRACTION covered (a track beside a duplicate of itself leaves its face hidden)."""
    kept = tracks.drop(index=removed.index)
    exposed = face_fractions(kept, removed, RenderConfig(), info.width, info.height) < LEAK_FRACTION
    return removed[exposed & (removed["source"] == "detected").to_numpy()]


def _middle(rows: pd.DataFrame) -> pd.DataFrame:
    """RUN_FRAMES consecutive frames from the middle of a track's rows (empty if it has no such run)."""
    frames = rows["frame_index"].to_numpy()
    if len(frames) < RUN_FRAMES:
        return rows.iloc[:0]
    first = frames[len(frames) // 2 - RUN_FRAMES // 2]
    sel = rows[(rows["frame_index"] >= first) & (rows["frame_index"] < first + RUN_FRAMES)]
    return sel if len(sel) == RUN_FRAMES else rows.iloc[:0]


def inject(
    tracks: pd.DataFrame, info, gt: pd.DataFrame | None = None
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """{name: (rows removed, the leak)}: ``track``, the longest track of faces >= MIN_FACE_PX (on
    annotated faces, given ``gt``: :func:`_tracks_by_width`) whose removal leaks at least MIN_LEAK frames
    (:func:`_leak`); ``run``, RUN_FRAMES frames from the middle of another (or the same) such track
    leaking at least MIN_LEAK of them."""
    ids = _tracks_by_width(tracks, gt)
    out: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    for t in ids:
        removed = tracks[tracks["track_id"] == t]
        leak = _leak(removed, tracks, info)
        if len(leak) >= MIN_LEAK:
            out["track"] = (removed, leak)
            break
    chosen = int(out["track"][0]["track_id"].iloc[0]) if out else None
    for t in [i for i in ids if i != chosen] + ([chosen] if chosen is not None else []):
        removed = _middle(tracks[tracks["track_id"] == t].sort_values("frame_index"))
        leak = _leak(removed, tracks, info) if len(removed) else removed
        if len(leak) >= MIN_LEAK:
            out["run"] = (removed, leak)
            break
    return out


def _write_unless_same(path: Path, tracks: pd.DataFrame, removed: pd.DataFrame, meta: dict) -> bool:
    """Write ``tracks`` less ``removed`` to ``path`` unless the file there already holds exactly that;
    returns whether it was written (then its cached audit is stale)."""
    keys = {(int(t), int(f)) for t, f in zip(removed["track_id"], removed["frame_index"], strict=True)}
    kept = tracks.drop(index=removed.index)
    if path.exists():
        old = read_boxes(path)
        if (
            len(old) == len(kept)
            and {(int(t), int(f)) for t, f in zip(tracks["track_id"], tracks["frame_index"], strict=True)}
            - {(int(t), int(f)) for t, f in zip(old["track_id"], old["frame_index"], strict=True)}
            == keys
        ):
            return False
    write_boxes(kept, path, meta, TRACK_SCHEMA)
    return True


def synthetic(work: Path, clip_id: str, cfg, seed: int) -> tuple[Path, Path]:
    """The synthetic clip's video and ground truth (generated once, :func:`benchmarks.recall.ensure_clip`)."""
    from benchmarks.recall import ensure_clip

    return ensure_clip(work / "clips", clip_id, cfg, seed)


def collect(work: Path, clip_id: str, video: Path, ann: Path | None, detector) -> dict:
    """Run one clip (``ann``: its ground truth, if any) and its injected leaks, cached under ``work``;
    returns what scoring needs."""
    out = work / "runs" / clip_id
    out.mkdir(parents=True, exist_ok=True)
    info = run_probe(video, out / "probe.json", ShotsConfig())  # the probe stage, with its shot cuts
    det, trk = out / "detections.parquet", out / "tracks.parquet"
    if not det.exists():
        run_detect(str(video), info, DetectConfig(), det)
    if not trk.exists():
        run_regularize(det, info, RegularizeConfig(), trk, video=video)
    tracks = read_boxes(trk)
    result = {"clip": clip_id, "info": info, "annotations": ann, "detections": det, "tracks": trk}
    result["base"] = _render_and_audit(video, info, trk, det, out, detector)
    result["injected"] = {}
    meta = read_metadata(trk)
    gt = read_boxes(ann) if ann is not None else None
    for name, (removed, leak) in inject(tracks, info, gt).items():
        sub = out / f"inject-{name}"
        sub.mkdir(exist_ok=True)
        path = sub / "tracks.parquet"
        if _write_unless_same(path, tracks, removed, meta):
            (sub / "audit.json").unlink(missing_ok=True)
        result["injected"][name] = {
            "leak": leak,
            "tracks": path,
            "audit": _render_and_audit(video, info, path, det, sub, detector),
        }
    return result


def _overlaps(boxes: dict[int, list[np.ndarray]], path: list[list[float]]) -> bool:
    """Whether a box of ``path`` ([frame, x1, y1, x2, y2, ...] rows) lies on a box of its frame (IoU >=
    MATCH_IOU)."""
    for row in path:
        a = np.asarray(row[1:5], dtype=np.float64)
        for b in boxes.get(int(row[0]), ()):
            w, h = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
            inter = max(w, 0) * max(h, 0)
            union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
            if union > 0 and inter / union >= MATCH_IOU:
                return True
    return False


def _by_frame(df: pd.DataFrame) -> dict[int, list[np.ndarray]]:
    out: dict[int, list[np.ndarray]] = {}
    for f, *box in df[["frame_index", "x1", "y1", "x2", "y2"]].itertuples(index=False):
        out.setdefault(int(f), []).append(np.array(box, dtype=np.float64))
    return out


def gt_leaks(gt: pd.DataFrame, tracks: pd.DataFrame, info) -> list[pd.DataFrame]:
    """Runs of consecutive frames on which one annotated, non-ignored face is less than LEAK_FRACTION
    covered by the rendered region."""
    g = gt.loc[~gt["ignore"].to_numpy(dtype=bool)].reset_index(drop=True)
    frac = face_fractions(tracks, g, RenderConfig(), info.width, info.height)
    leak = g.loc[frac < LEAK_FRACTION].sort_values(["track_id", "frame_index"])
    runs = []
    for _, rows in leak.groupby("track_id"):
        frames = rows["frame_index"].to_numpy()
        cuts = np.flatnonzero(np.diff(frames) != 1) + 1
        runs += [rows.iloc[a:b] for a, b in zip([0, *cuts], [*cuts, len(rows)], strict=True)]
    return runs


class Rules:
    """The two rules compared: "before" (main: every finding flags its video) and "after" (the runs of
    :mod:`faceoff.findings` and their verdict). Each gives (video flagged, flagged boxes as paths)."""

    def __init__(self, params: TriageParams):
        self.params, self.seconds = params, 0.0

    @staticmethod
    def before(audit: dict, tracks: pd.DataFrame, cuts: list[int]) -> tuple[bool, list]:
        seen = [f for f in audit["findings"] if f["kind"] != "lost"]  # main had no second look
        paths = [[[f["frame_index"], f["x1"], f["y1"], f["x2"], f["y2"]]] for f in seen]
        return bool(paths), paths

    def after(self, audit: dict, tracks: pd.DataFrame, cuts: list[int]) -> tuple[bool, list]:
        t = time.perf_counter()
        verdict = triage(audit["findings"], tracks, self.params, cuts)
        self.seconds += time.perf_counter() - t
        return verdict["needs_review"], [r["path"] for r in verdict["runs"] if r["severity"] == HIGH]


def score(results: list[dict], params: TriageParams) -> dict:
    """The benchmark's counts, before and after, from :func:`collect`'s results."""
    rules = Rules(params)
    s: dict = {"videos": len(results), "annotated": 0, "leak_free": 0, "injected": 0, "gt_leaks": 0}
    s["findings"] = s["second_look"] = 0
    s["audit_seconds"], s["missed"] = 0.0, []
    for when in ("before", "after"):
        s.update({f"{k}_{when}": 0 for k in ("flagged", "fa", "inj", "gt", "nl")})
    for r in results:
        tracks, base, cuts = read_boxes(r["tracks"]), r["base"], r["info"].cuts or []
        s["findings"] += base["n_findings"]
        s["second_look"] += sum(f["kind"] == "lost" for f in base["findings"])
        s["audit_seconds"] += base["audit_seconds"] + sum(
            i["audit"]["audit_seconds"] for i in r["injected"].values()
        )
        annotated = r["annotations"] is not None
        leaks = gt_leaks(read_boxes(r["annotations"]), tracks, r["info"]) if annotated else []
        every_leak = _by_frame(pd.concat(leaks)) if leaks else {}
        long_leaks = [_by_frame(leak) for leak in leaks if len(leak) >= GT_LEAK_FRAMES]
        s["annotated"] += annotated
        s["leak_free"] += annotated and not leaks
        s["gt_leaks"] += len(long_leaks)
        s["injected"] += len(r["injected"])
        for when in ("before", "after"):
            rule = getattr(rules, when)
            flagged, paths = rule(base, tracks, cuts)
            s[f"flagged_{when}"] += flagged
            s[f"fa_{when}"] += flagged and annotated and not leaks
            s[f"nl_{when}"] += flagged and annotated and not any(_overlaps(every_leak, p) for p in paths)
            for k, boxes in enumerate(long_leaks):
                hit = flagged and any(_overlaps(boxes, p) for p in paths)
                s[f"gt_{when}"] += hit
                if when == "after" and not hit:
                    s["missed"].append(f"{r['clip']}: ground-truth leak {k} ({len(boxes)} frames)")
            for name, inj in r["injected"].items():
                flagged, paths = rule(inj["audit"], read_boxes(inj["tracks"]), cuts)
                hit = flagged and any(_overlaps(_by_frame(inj["leak"]), p) for p in paths)
                s[f"inj_{when}"] += hit
                if when == "after" and not hit:
                    s["missed"].append(f"{r['clip']}: injected {name} ({len(inj['leak'])} frames leaked)")
    s["triage_seconds"] = rules.seconds
    return s


def _pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.0f} %)" if b else "-"


def print_table(s: dict, what: str) -> None:
    """The before / after table in Markdown."""
    print(
        f"\n### {what}: {s['videos']} videos, {s['findings']} per-frame findings ({s['second_look']} of "
        "the second look where a track lost a face)\n"
    )
    print("| | before (any finding) | after (needs_review) |")
    print("| --- | --- | --- |")
    rows = [
        ("videos flagged (needs a look)", "flagged", "videos"),
        ("leak-free videos flagged (false alarms)", "fa", "leak_free"),
        ("videos flagged with no flagged finding on a leaked face", "nl", "annotated"),
        ("injected leaks flagged", "inj", "injected"),
        (f"ground-truth leaks >= {GT_LEAK_FRAMES} frames flagged", "gt", "gt_leaks"),
    ]
    for label, key, total in rows:
        print(f"| {label} | {_pct(s[f'{key}_before'], s[total])} | {_pct(s[f'{key}_after'], s[total])} |")
    print(
        f"\nAudit (the render's frame check, every render: clips and injections) {s['audit_seconds']:.1f} s; "
        f"triage (grouping, severity, verdict) {s['triage_seconds']:.3f} s."
    )
    for m in s["missed"]:
        print(f"- not flagged: {m}")


def real_clips(folder: Path, annotations: Path | None) -> list[tuple[str, Path, Path | None]]:
    """(clip id, video, ground truth or None) of every ``*.mp4`` in ``folder`` (the real-footage dev set:
    ``$FACEOFF_REAL_CLIPS``, manifest ``benchmarks/real_clips.json``)."""
    out = []
    for video in sorted(folder.glob("*.mp4")):
        ann = annotations / f"{video.stem}.parquet" if annotations else None
        out.append((video.stem, video, ann if ann is not None and ann.exists() else None))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/faceoff-triage")
    parser.add_argument("--suite", default="full", help="benchmark_suite kind (seeds per scenario)")
    parser.add_argument("--frames", type=int, default=75, help="frames per synthetic clip")
    parser.add_argument("--only", nargs="*", help="synthetic clip ids (or prefixes)")
    parser.add_argument("--real", type=Path, help="also the real clips in this folder (all their frames)")
    parser.add_argument("--real-annotations", type=Path, help="their ground truth, {clip_id}.parquet")
    parser.add_argument("--no-synthetic", action="store_true")
    args = parser.parse_args()
    from dataclasses import replace

    work = Path(args.workdir)
    detector = detector_from(DetectConfig())
    params = TriageParams.from_config(AuditConfig())
    print(f"# Audit triage, {os.cpu_count()} cores\n\nRule: {params}")
    if not args.no_synthetic:
        start = time.perf_counter()
        suite = [
            (c, replace(cfg, n_frames=args.frames), seed)
            for c, cfg, seed in benchmark_suite(args.suite)
            if not args.only or any(c.startswith(p) for p in args.only)
        ]
        results = [collect(work, c, *synthetic(work, c, cfg, seed), detector) for c, cfg, seed in suite]
        print(
            f"\nSynthetic suite {args.suite!r} at {args.frames} frames: {', '.join(c for c, _, _ in suite)} "
            f"({time.perf_counter() - start:.0f} s)"
        )
        print_table(score(results, params), "synthetic")
    if args.real:
        start = time.perf_counter()
        clips = real_clips(args.real, args.real_annotations)
        results = [collect(work / "real", c, video, ann, detector) for c, video, ann in clips]
        print(f"\nReal clips: {', '.join(c for c, _, _ in clips)} ({time.perf_counter() - start:.0f} s)")
        print_table(score(results, params), "real")


if __name__ == "__main__":
    main()
