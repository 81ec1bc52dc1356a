"""Tests for faceoff.report and faceoff.summary on small fixture files."""

from __future__ import annotations

import base64
import csv
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from faceoff.boxes import DETECTION_SCHEMA, TRACK_SCHEMA, write_boxes
from faceoff.report import build_report, write_report
from faceoff.summary import faces_per_frame, write_summary

N_FRAMES = 10
CONFIG = {"detect": "d-hash", "regularize": "r-hash", "render": "x-hash"}


def boxes(rows: list[tuple], **extra: list) -> pd.DataFrame:
    """Box table from (frame, x1, y1, x2, y2) rows plus extra columns."""
    arr = np.array(rows, dtype=np.float64).reshape(-1, 5)
    df = pd.DataFrame(
        {
            "frame_index": arr[:, 0].astype(np.int64),
            "pts_time": arr[:, 0] / 10.0,
            "x1": arr[:, 1].astype(np.float32),
            "y1": arr[:, 2].astype(np.float32),
            "x2": arr[:, 3].astype(np.float32),
            "y2": arr[:, 4].astype(np.float32),
            "score": np.full(len(arr), 0.9, dtype=np.float32),
        }
    )
    for k, v in extra.items():
        df[k] = v
    return df


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


def report_for(tmp: Path, vid: str, annotated: bool, with_faces: bool = True) -> dict:
    p = make_video(tmp, vid, with_faces)
    ann = make_annotations(tmp, vid) if annotated else None
    return build_report(vid, p["probe"], p["det"], p["trk"], p["render"], ann, CONFIG)


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
    assert "recall" not in r
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
    }
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


def test_report_iou_threshold_is_passed_through(tmp_path: Path) -> None:
    p = make_video(tmp_path, "v1")
    ann = make_annotations(tmp_path, "v1")
    r = build_report("v1", p["probe"], p["det"], p["trk"], p["render"], ann, CONFIG, iou=1.01)
    assert r["recall"]["tracks"]["iou"] == 1.01 and r["recall"]["tracks"]["tp"] == 0
    out = write_report(
        "v1", p["probe"], p["det"], p["trk"], p["render"], ann, CONFIG, tmp_path / "r.json", 1.01
    )
    assert json.loads(out.read_text())["recall"]["detections"]["tp"] == 0


def test_report_without_faces(tmp_path: Path) -> None:
    r = report_for(tmp_path, "empty", annotated=False, with_faces=False)
    assert r["frames_with_faces"] == {"detections": 0, "tracks": 0}
    assert r["boxes"] == {"detections": 0, "tracks": 0}
    assert r["tracks"]["count"] == 0


def test_write_report_atomic_default_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = make_video(tmp_path, "v1")
    monkeypatch.chdir(tmp_path)
    out = write_report("v1", p["probe"], p["det"], p["trk"], p["render"], None, CONFIG)
    assert out == Path("results/reports/v1.json")
    data = json.loads(out.read_text())
    assert data["id"] == "v1"
    assert [f.name for f in out.parent.iterdir()] == ["v1.json"]  # no temp file left behind


def _write_all(tmp: Path, specs: list[tuple[str, bool, bool]]) -> tuple[list[Path], list[Path], list[Path]]:
    reports, dets, trks = [], [], []
    for vid, annotated, faces in specs:
        p = make_video(tmp, vid, faces)
        ann = make_annotations(tmp, vid) if annotated else None
        out = tmp / "reports" / f"{vid}.json"
        write_report(vid, p["probe"], p["det"], p["trk"], p["render"], ann, CONFIG, out=out)
        reports.append(out)
        dets.append(p["det"])
        trks.append(p["trk"])
    return reports, dets, trks


def test_summary_csv_and_html(tmp_path: Path) -> None:
    weird = "a<b>&c é\"'"
    specs = [(weird, True, True), ("plain", False, True), ("noface", False, False)]
    reports, dets, trks = _write_all(tmp_path, specs)
    html_path, csv_path = tmp_path / "s" / "summary.html", tmp_path / "s" / "summary.csv"
    write_summary(reports, dets, trks, html_path, csv_path)

    with open(csv_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == [weird, "plain", "noface"]
    assert rows[0]["frames"] == str(N_FRAMES)
    assert rows[0]["frames_with_faces_detections"] == "4" and rows[0]["boxes_tracks"] == "4"
    assert float(rows[0]["fps_detect"]) == 5.0 and float(rows[0]["fps_render"]) == 2.5
    assert float(rows[0]["recall_before"]) == 0.75 and float(rows[0]["recall_after"]) == 1.0
    assert rows[1]["recall_before"] == "" and rows[2]["boxes_detections"] == "0"

    page = html_path.read_text(encoding="utf-8")
    imgs = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) == 3
    assert all(base64.b64decode(b).startswith(b"\x89PNG") for b in imgs)
    assert weird not in page and "a&lt;b&gt;&amp;c é&quot;&#x27;" in page
    assert "<b>" not in page
    assert "Recall before / after temporal smoothing" in page
    assert "IoU &ge; 0.50," in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # no external assets
    assert sorted(p.name for p in html_path.parent.iterdir()) == ["summary.csv", "summary.html"]


def test_summary_without_annotations_or_faces(tmp_path: Path) -> None:
    reports, dets, trks = _write_all(tmp_path, [("noface", False, False)])
    html_path, csv_path = tmp_path / "summary.html", tmp_path / "summary.csv"
    write_summary(reports, dets, trks, html_path, csv_path)
    page = html_path.read_text(encoding="utf-8")
    assert "Recall before" not in page
    assert page.count("data:image/png;base64,") == 1
    assert page.rstrip().endswith("</html>")


def test_summary_zero_videos_and_length_mismatch(tmp_path: Path) -> None:
    write_summary([], [], [], tmp_path / "s.html", tmp_path / "s.csv")
    assert (tmp_path / "s.csv").read_text().count("\n") == 1  # header only
    assert "0 video(s)" in (tmp_path / "s.html").read_text()
    with pytest.raises(ValueError, match="expected one of each"):
        write_summary([tmp_path / "a.json"], [], [], tmp_path / "s.html", tmp_path / "s.csv")


def test_faces_per_frame_counts(tmp_path: Path) -> None:
    p = make_video(tmp_path, "v1")
    np.testing.assert_array_equal(faces_per_frame(p["det"], N_FRAMES), [1, 2, 0, 1, 0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(faces_per_frame(p["trk"], None), [1, 1, 1, 1])
