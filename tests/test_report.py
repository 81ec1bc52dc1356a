"""Tests for faceoff.report (the JSON and the detail page) and faceoff.timeline on small fixture files."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from faceoff.boxes import DETECTION_SCHEMA, TRACK_SCHEMA, write_boxes
from faceoff.config import RenderConfig, ReportConfig
from faceoff.report import build_report
from faceoff.stages.report import run_report
from faceoff.timeline import faces_per_frame, frame_runs, timeline_png
from tests.boxtables import box_table

RECT = RenderConfig(shape="rectangle")  # a clipped rectangle hides every fixture face completely

N_FRAMES = 10
CONFIG = {"detect": "d-hash", "regularize": "r-hash", "render": "x-hash"}


def boxes(rows: list[tuple], **extra: list) -> pd.DataFrame:
    """Box table from (frame, x1, y1, x2, y2) rows at 10 fps, scored 0.9, plus extra columns."""
    return box_table(rows, fps=10.0, score=0.9, **extra)


def meta(stage: str, params_hash: str, seconds: float) -> dict:
    return {
        "faceoff_version": "0.1.0",
        "stage": stage,
        "detector": "yolo-face",
        "weights_sha256": "w" * 64,
        "params_hash": params_hash,
        "source_sha256": "s" * 64,
        "width": 64,
        "height": 48,
        "frame_count": N_FRAMES,
        "timing": {"seconds": seconds, "frames_per_second": N_FRAMES / seconds},
    }


def make_video(tmp: Path, vid: str, with_faces: bool = True) -> dict[str, Path]:
    """Write probe/detect/tracks/render fixtures for one video; returns their paths."""
    paths = {
        "probe": tmp / "probe" / f"{vid}.json",
        "det": tmp / "detect" / f"{vid}.parquet",
        "trk": tmp / "tracks" / f"{vid}.parquet",
        "render": tmp / "render" / f"{vid}.json",
        "out": tmp / "out" / f"{vid}.mp4",
    }
    for p in paths.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    paths["out"].write_bytes(b"x" * 123)
    probe = {
        "path": f"videos/{vid}.mp4",
        "frame_count": N_FRAMES,
        "width": 64,
        "height": 48,
        "rotation": 0,
        "pts_time": [i / 10 for i in range(N_FRAMES)],
        "variable_frame_rate": False,
        "avg_fps": 10.0,
        "codec": "h264",
        "pix_fmt": "yuv420p",
        "duration": 1.0,
        "size_bytes": 1000,
        "sha256": "s" * 64,
        "streams": {"video": 1, "audio": 1},
        "seconds": 0.5,
    }
    paths["probe"].write_text(json.dumps(probe))
    if with_faces:
        # detections: frames 0, 1, 3 (frame 2 missed); frame 1 has a duplicate; frame 5 a false positive
        det = boxes(
            [(0, 0, 0, 10, 10), (1, 0, 0, 10, 10), (1, 1, 0, 11, 10), (3, 0, 0, 10, 10), (5, 40, 30, 50, 40)]
        )
        # tracks fill frame 2 by interpolation, drop the duplicate and the false positive
        trk = boxes(
            [(0, 0, 0, 10, 10), (1, 0, 0, 10, 10), (2, 0, 0, 10, 10), (3, 0, 0, 10, 10)],
            track_id=[1, 1, 1, 1],
            source=["detected", "detected", "interpolated", "detected"],
        )
    else:
        det, trk = boxes([]), boxes([], track_id=[], source=[])
    write_boxes(det, paths["det"], meta("detect", "d-hash", 2.0), DETECTION_SCHEMA)
    write_boxes(trk, paths["trk"], meta("regularize", "r-hash-old", 0.25), TRACK_SCHEMA)
    render = {
        "output": str(paths["out"]),
        "frames_written": N_FRAMES,
        "seconds": 4.0,
        "frames_per_second": 2.5,
        "params_hash": "x-hash",
        "dropped_streams": {"data": 1},
        "kept_streams": {"audio": 1},
    }
    paths["render"].write_text(json.dumps(render))
    return paths


def make_annotations(tmp: Path, vid: str) -> Path:
    """GT: faces in frames 0-3, an ignored face in frame 5, frames 2 and 3 masked."""
    gt = boxes(
        [(0, 0, 0, 10, 10), (1, 0, 0, 10, 10), (2, 0, 0, 10, 10), (3, 0, 0, 10, 10), (5, 40, 30, 50, 40)],
        ignore=[False, False, False, False, True],
        masked=[False, False, True, True, False],
    )
    gt = gt.drop(columns=["score"])
    path = tmp / "annotations" / f"{vid}.parquet"
    write_boxes(gt, path, {}, DETECTION_SCHEMA.remove(DETECTION_SCHEMA.get_field_index("score")))
    return path


def report_for(
    tmp: Path, vid: str, annotated: bool, with_faces: bool = True, render: RenderConfig | None = None
) -> dict:
    p = make_video(tmp, vid, with_faces)
    ann = make_annotations(tmp, vid) if annotated else None
    return build_report(vid, p["probe"], p["det"], p["trk"], p["render"], ann, CONFIG, render=render)


def test_report_keys_and_numbers(tmp_path: Path) -> None:
    r = report_for(tmp_path, "v1", annotated=False)
    for key in (
        "id",
        "source",
        "frames_with_faces",
        "boxes",
        "timing",
        "params_hashes",
        "versions",
        "output",
    ):
        assert key in r
    assert "recall" not in r and "coverage" not in r and "annotations" not in r
    assert r["id"] == "v1"
    assert r["source"]["frames"] == N_FRAMES and r["source"]["fps"] == 10.0 and r["source"]["vfr"] is False
    assert r["source"]["sha256"] == "s" * 64 and (r["source"]["width"], r["source"]["height"]) == (64, 48)
    assert r["frames_with_faces"] == {"detections": 4, "tracks": 4}
    assert r["boxes"] == {"detections": 5, "tracks": 4}
    assert r["tracks"]["count"] == 1
    assert r["tracks"]["boxes_by_source"] == {
        "detected": 3,
        "propagated": 0,
        "interpolated": 1,
        "extended": 0,
        "followed": 0,
        "unconfirmed": 0,
        "manual": 0,
    }
    assert r["corrections"] is None  # the tracks table records none
    t = r["timing"]
    assert t["probe"] == {"seconds": 0.5, "frames_per_second": 20.0}
    assert t["detect"] == {"seconds": 2.0, "frames_per_second": 5.0}
    assert t["regularize"] == {"seconds": 0.25, "frames_per_second": 40.0}
    assert t["render"] == {"seconds": 4.0, "frames_per_second": 2.5}
    assert t["total_seconds"] == pytest.approx(6.75)
    assert r["params_hashes"] == {"detect": "d-hash", "regularize": "r-hash-old", "render": "x-hash"}
    assert r["config_hashes"] == CONFIG
    assert r["params_mismatch"] == ["regularize"]
    assert r["provenance"]["source_sha256_matches"] == {"detect": True, "regularize": True}
    assert set(r["versions"]) == {
        "faceoff",
        "python",
        "torch",
        "onnxruntime",
        "decord",
        "av",
        "numpy",
        "pyarrow",
    }
    assert r["versions"]["numpy"] == np.__version__ and r["versions"]["python"]
    assert r["output"]["exists"] and r["output"]["size_bytes"] == 123
    assert r["output"]["frames_written"] == N_FRAMES and r["output"]["frames_match_source"] is True
    json.dumps(r, allow_nan=False)  # strict JSON


def test_report_recall_before_after(tmp_path: Path) -> None:
    r = report_for(tmp_path, "v1", annotated=True)
    before, after = r["recall"]["detections"], r["recall"]["tracks"]
    # before: 3 of 4 GT found (frame 2 missed); duplicate on frame 1 is an FP; frame-5 box sits on ignored GT
    assert (before["tp"], before["fn"], before["fp"], before["n_pred_ignored"]) == (3, 1, 1, 1)
    assert before["recall"] == 0.75 and before["precision"] == 0.75
    # after: the interpolated box recovers frame 2
    assert (after["tp"], after["fn"], after["fp"]) == (4, 0, 0)
    assert after["recall"] == 1.0
    assert before["per_flag"]["masked"] == {"n_gt": 2, "tp": 1, "recall": 0.5}
    assert after["per_flag"]["masked"]["recall"] == 1.0


def test_report_coverage_before_after(tmp_path: Path) -> None:
    r = report_for(tmp_path, "v1", annotated=True, render=RECT)
    assert set(r["coverage"]) == {"detections", "tracks", "render"}
    before, after = r["coverage"]["detections"], r["coverage"]["tracks"]
    # before: frame 2 has no detection, so its face is visible; the ignored face on frame 5 is not counted
    assert (before["n_gt"], before["covered"], before["coverage"]) == (4, 3, 0.75)
    assert before["uncovered_frames"] == [2] and before["longest_uncovered_run"] == 1
    assert before["per_flag"]["masked"] == {"n_gt": 2, "covered": 1, "coverage": 0.5}
    # after: the interpolated box hides frame 2 too
    assert (after["covered"], after["coverage"], after["uncovered_frames"]) == (4, 1.0, [])
    assert after["longest_uncovered_run"] == 0
    assert r["coverage"]["render"]["shape"] == "rectangle"
    assert r["coverage"]["render"]["box_scale"] == RECT.box_scale
    assert r["coverage"]["render"]["matches_rendered"] is False  # the render stats say "x-hash"
    assert r["annotations"] == {
        "path": str(tmp_path / "annotations" / "v1.parquet"),
        "format": "parquet",
        "boxes": 5,
        "faces": 4,
        "ignored": 1,
        "frames": 4,
        "tracks": 0,
    }
    json.dumps(r, allow_nan=False)


def test_report_coverage_follows_the_render_settings(tmp_path: Path) -> None:
    # default: the workflow's render defaults (ellipse, box_scale 1.5)
    r = report_for(tmp_path, "v1", annotated=True)
    assert r["coverage"]["render"]["shape"] == "ellipse"
    assert r["coverage"]["render"]["box_scale"] == RenderConfig().box_scale == 1.5
    # an ellipse of exactly the box's size hides only 80 % of each face: nothing counts as covered
    r = report_for(tmp_path, "v1", annotated=True, render=RenderConfig(box_scale=1.0, min_margin=0))
    assert r["coverage"]["tracks"]["coverage"] == 0.0
    assert r["coverage"]["tracks"]["uncovered_frames"] == [0, 1, 2, 3]
    assert r["coverage"]["tracks"]["longest_uncovered_run"] == 4
    assert r["recall"]["tracks"]["recall"] == 1.0  # while IoU recall is perfect


def test_report_reads_other_annotation_formats(tmp_path: Path) -> None:
    p = make_video(tmp_path, "v1")
    mot = tmp_path / "annotations" / "v1.txt"
    mot.parent.mkdir(parents=True, exist_ok=True)
    # the same GT as make_annotations in MOT form: 1-based frames, conf 0 = ignore
    mot.write_text("1,1,0,0,10,10,1\n2,1,0,0,10,10,1\n3,1,0,0,10,10,1\n4,1,0,0,10,10,1\n6,2,40,30,10,10,0\n")
    r = build_report("v1", p["probe"], p["det"], p["trk"], p["render"], mot, CONFIG, render=RECT)
    ref = report_for(tmp_path / "ref", "v1", annotated=True, render=RECT)
    assert r["annotations"]["format"] == "mot" and r["annotations"]["tracks"] == 1
    for stage in ("detections", "tracks"):
        for key in ("tp", "fp", "fn", "n_pred_ignored"):
            assert r["recall"][stage][key] == ref["recall"][stage][key]
        for key in ("n_gt", "covered", "uncovered_frames", "longest_uncovered_run"):
            assert r["coverage"][stage][key] == ref["coverage"][stage][key]
    assert r["coverage"]["tracks"]["longest_uncovered_run_per_face"] == {"1": 0}
    # annotations past the end of the video are refused, naming the file
    mot.write_text("11,1,0,0,10,10,1\n")
    with pytest.raises(ValueError, match="v1.txt: annotated frame 10 is beyond"):
        build_report("v1", p["probe"], p["det"], p["trk"], p["render"], mot, CONFIG)


def test_report_iou_threshold_is_passed_through(tmp_path: Path) -> None:
    p = make_video(tmp_path, "v1")
    ann = make_annotations(tmp_path, "v1")
    r = build_report("v1", p["probe"], p["det"], p["trk"], p["render"], ann, CONFIG, iou=1.01)
    assert r["recall"]["tracks"]["iou"] == 1.01 and r["recall"]["tracks"]["tp"] == 0
    files = (p["probe"], p["det"], p["trk"], p["render"], ann, CONFIG)
    loose = json.loads(run_report("v1", *files, tmp_path / "a.json", ReportConfig(iou=0.5), RECT).read_text())
    exact = json.loads(run_report("v1", *files, tmp_path / "b.json", ReportConfig(iou=1.0), RECT).read_text())
    assert exact["recall"] == build_report("v1", *files, iou=1.0, render=RECT)["recall"]
    assert (loose["recall"]["tracks"]["iou"], exact["recall"]["tracks"]["iou"]) == (0.5, 1.0)
    assert exact["coverage"]["tracks"]["coverage"] == loose["coverage"]["tracks"]["coverage"] == 1.0  # no IoU


def test_report_without_faces(tmp_path: Path) -> None:
    r = report_for(tmp_path, "empty", annotated=False, with_faces=False)
    assert r["frames_with_faces"] == {"detections": 0, "tracks": 0}
    assert r["boxes"] == {"detections": 0, "tracks": 0}
    assert r["tracks"]["count"] == 0


def test_report_stage_writes_atomically(tmp_path: Path) -> None:
    p = make_video(tmp_path, "v1")
    target = tmp_path / "results" / "reports" / "v1.json"
    files = (p["probe"], p["det"], p["trk"], p["render"], None, CONFIG)
    out = run_report("v1", *files, target, ReportConfig(), RECT)
    assert out == target
    data = json.loads(out.read_text())
    assert data["id"] == "v1"
    assert [f.name for f in out.parent.iterdir()] == ["v1.json"]  # no temp file left behind


def _detail(tmp: Path, vid: str, annotated: bool) -> tuple[Path, Path, dict]:
    """A report written with its detail page; the delivered video and contact sheet exist."""
    p = make_video(tmp, vid)
    ann = make_annotations(tmp, vid) if annotated else None
    delivered, sheet = tmp / "anonymized" / f"{vid}.mp4", tmp / "qa" / f"{vid}.png"
    for f in (delivered, sheet):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x")
    out = tmp / "reports" / f"{vid}.json"
    page = out.with_suffix(".html")
    run_report(
        vid, p["probe"], p["det"], p["trk"], p["render"], ann, CONFIG, out, ReportConfig(), RECT,
        contact_sheet=sheet, delivered=delivered, page=page, index=tmp / "summary.html",
    )  # fmt: skip
    return out, page, json.loads(out.read_text())


def test_detail_page_links_plot_and_numbers(tmp_path: Path) -> None:
    weird = "a<b>&c é\"'"
    out, page, report = _detail(tmp_path, weird, annotated=True)
    html = page.read_text(encoding="utf-8")
    assert report["output"]["delivered"] == str(tmp_path / "anonymized" / f"{weird}.mp4")
    # links are relative to the page and point at the delivered video, the sheet, the JSON, the summary
    hrefs = [h.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
             .replace("&#x27;", "'") for h in re.findall(r'href="([^"]+)"', html)]  # fmt: skip
    assert hrefs == ["../summary.html", f"../anonymized/{weird}.mp4", f"../qa/{weird}.png", f"{weird}.json"]
    assert all((page.parent / h).resolve().exists() for h in hrefs[1:])
    assert "render/" not in "".join(hrefs)  # the rendered file is temporary; never linked
    assert weird not in html and "a&lt;b&gt;&amp;c é&quot;&#x27;" in html
    # the plot, made here: one PNG with the red strip of uncovered frames (frame 2, before smoothing)
    imgs = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(imgs) == 1 and _red_pixels(base64.b64decode(imgs[0])) > 0
    assert "<td>3 / 4</td><td>1 fr</td>" in html and "<td>4 / 4</td><td>0 fr</td>" in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # no external assets
    assert sorted(f.name for f in out.parent.iterdir()) == sorted([f"{weird}.json", f"{weird}.html"])


def test_detail_page_without_annotations_has_no_strip(tmp_path: Path) -> None:
    _, page, _ = _detail(tmp_path, "plain", annotated=False)
    html = page.read_text(encoding="utf-8")
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(imgs) == 1 and _red_pixels(base64.b64decode(imgs[0])) == 0
    assert "Recall and coverage" not in html and "no findings" not in html  # no audit JSON given


def test_faces_per_frame_counts(tmp_path: Path) -> None:
    p = make_video(tmp_path, "v1")
    np.testing.assert_array_equal(faces_per_frame(p["det"], N_FRAMES), [1, 2, 0, 1, 0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(faces_per_frame(p["trk"], None), [1, 1, 1, 1])


def _red_pixels(png: bytes) -> int:
    """Number of strongly red pixels (the uncovered-frames strip) in a PNG."""
    from matplotlib.image import imread

    img = imread(io.BytesIO(png))[..., :3]
    return int(((img[..., 0] > 0.75) & (img[..., 1] < 0.3) & (img[..., 2] < 0.3)).sum())


def test_timeline_strip_marks_uncovered_frames() -> None:
    counts = np.ones(100, dtype=np.int64)
    plain = timeline_png(counts, counts, 25.0)
    none_uncovered = timeline_png(counts, counts, 25.0, {"before": [], "after": []})
    one_run = timeline_png(counts, counts, 25.0, {"before": list(range(10, 20)), "after": []})
    two_runs = timeline_png(
        counts, counts, 25.0, {"before": list(range(10, 20)), "after": list(range(50, 70))}
    )
    assert _red_pixels(plain) == 0 and _red_pixels(none_uncovered) == 0
    assert 0 < _red_pixels(one_run) < _red_pixels(two_runs)
    # a single uncovered frame in a long video stays visible
    assert _red_pixels(timeline_png(np.ones(20000), np.ones(20000), None, {"after": [5000]})) > 0


def test_frame_runs() -> None:
    assert frame_runs([]) == [] and frame_runs(None) == []
    assert frame_runs([7, 2, 5, 6, 6]) == [(2, 1), (5, 3)]


def test_timeline_marks_shot_cuts() -> None:
    """Each cut is a thin line at its place on the time axis: the columns that differ from the plot
    without cuts are a few pixels wide and lie further right for a later cut."""
    from matplotlib.image import imread

    counts = np.ones(100, dtype=np.int64)

    def changed_columns(cuts):
        plain = imread(io.BytesIO(timeline_png(counts, counts, 25.0, cuts=())))
        marked = imread(io.BytesIO(timeline_png(counts, counts, 25.0, cuts=cuts)))
        columns = np.flatnonzero(np.abs(marked[..., :3] - plain[..., :3]).sum(axis=(0, 2)) > 0.5)
        return columns[(columns > 100) & (columns < 700)]  # the plot area, not the legend at the right

    early, late = changed_columns([25]), changed_columns([75])
    assert len(early) and len(late) and np.ptp(early) <= 4 and np.ptp(late) <= 4
    assert late.min() > early.max() + 100


def test_report_and_detail_page_carry_the_audit_verdict_and_first_runs(tmp_path: Path) -> None:
    from faceoff.config import AuditConfig
    from faceoff.findings import TriageParams, triage
    from faceoff.pages import detail_page

    p = make_video(tmp_path, "v1", True)
    leak = [
        {"kind": k, "frame_index": f, "x1": 30.0, "y1": 5.0, "x2": 50.0, "y2": 30.0, "score": 0.8}
        for f in range(4, 8)
        for k in ("rendered", "detection")
    ]
    noise = [
        {"kind": "detection", "frame_index": 1, "x1": 1.0, "y1": 1.0, "x2": 12.0, "y2": 12.0, "score": 0.22}
    ]
    verdict = triage(
        noise + leak,
        pd.DataFrame(columns=["frame_index", "x1", "y1", "x2", "y2"]),
        TriageParams.from_config(AuditConfig()),
    )
    audit = {"enabled": True, "passed": False, "n_findings": 9, "findings": noise + leak, **verdict}
    (tmp_path / "audit.json").write_text(json.dumps(audit))
    r = build_report(
        "v1", p["probe"], p["det"], p["trk"], p["render"], None, CONFIG, audit_json=tmp_path / "audit.json"
    )
    block = r["audit"]
    assert block["needs_review"] and (block["n_runs"], block["n_high"]) == (2, 1)
    assert block["review_reasons"] == verdict["review_reasons"] and block["review_reasons"][0].startswith(
        "frames 4-7: "
    )
    assert [(x["severity"], x["first_frame"], x["frames"]) for x in block["first_runs"]] == [
        ("high", 4, 4),
        ("low", 1, 1),
    ]
    assert all("path" not in x for x in block["first_runs"])  # the box paths stay in the audit JSON
    html = detail_page(r, b"png", tmp_path, {})
    assert "needs review</span>: 1 of 2 run(s) of severity high, 9 finding(s)" in html
    assert html.index("<td class=l>high</td>") < html.index("<td class=l>low</td>")
