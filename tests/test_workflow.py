"""End to end: snakemake on tiny generated videos (audio+tags, variable frame rate, rotation, corrupt)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import skimage.data
import yaml

from faceoff.boxes import read_boxes, read_metadata
from faceoff.probe import probe_video
from faceoff.synth.clips import write_clip

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
pytestmark = pytest.mark.slow


def _face_frames(n: int, width: int = 256, height: int = 192) -> np.ndarray:
    """A real face (astronaut, public domain) moving right over a flat background."""
    face = skimage.data.astronaut()[30:190, 150:290][::2, ::2]  # 80x70 head
    frames = np.full((n, height, width, 3), 90, np.uint8)
    for t in range(n):
        x = 20 + 4 * t
        frames[t, 40 : 40 + face.shape[0], x : x + face.shape[1]] = face
    return frames


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
    return subprocess.run([*SNAKEMAKE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("wf")
    videos = root / "in videos"
    videos.mkdir()
    frames = _face_frames(24)
    write_clip(
        videos / "tagged.mp4",
        frames,
        fps=25,
        audio=True,
        metadata={
            "creation_time": "2024-01-02T03:04:05Z",
            "location": "+51.5-000.1/",
            "comment": "patient 42",
        },
    )
    vfr = np.cumsum([0.0, 0.04, 0.04, 0.1, 0.02, 0.04, 0.2, 0.04, 0.04, 0.04, 0.06, 0.04])
    write_clip(videos / "vfr.mp4", frames[: len(vfr)], pts_time=vfr)
    write_clip(videos / "rotated.mp4", frames[:10, :, :255], fps=25, rotation=90)
    (videos / "broken.mp4").write_text("this is not a video")
    ann = root / "annotations"
    ann.mkdir()
    cfg = {"inputs": [str(videos)], "results": "results", "annotations": str(ann), "detect": {"width": 0}}
    (root / "my.yaml").write_text(yaml.safe_dump(cfg))
    proc = _run(["--cores", "2", "--keep-going", "--configfile", "my.yaml"], root)
    return root, proc


def test_broken_input_fails_clearly_and_others_finish(workflow_run):
    root, proc = workflow_run
    assert proc.returncode != 0
    log = (root / "results" / "logs" / "probe" / "broken.log").read_text()
    assert "broken.mp4" in log and "error" in log.lower()
    for vid in ("tagged", "vfr", "rotated"):
        assert (root / "results" / "anonymized" / f"{vid}.mp4").is_file(), proc.stderr[-3000:]
        assert (root / "results" / "reports" / f"{vid}.json").is_file()
    assert not (root / "results" / "anonymized" / "broken.mp4").exists()
    assert not [p for p in (root / "results" / "anonymized").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("vid", ["tagged", "vfr", "rotated"])
def test_outputs_line_up_with_source(workflow_run, vid):
    root, _ = workflow_run
    src = probe_video(root / "in videos" / f"{vid}.mp4")
    out = probe_video(root / "results" / "anonymized" / f"{vid}.mp4")
    assert out.frame_count == src.frame_count
    assert (out.width, out.height) == (src.width, src.height)
    assert out.rotation == 0
    np.testing.assert_allclose(
        np.array(out.pts_time) - out.pts_time[0], np.array(src.pts_time) - src.pts_time[0], atol=1e-3
    )
    for table in ("detections", "tracks"):
        path = root / "results" / table / f"{vid}.parquet"
        df, meta = read_boxes(path), read_metadata(path)
        assert meta["frame_count"] == src.frame_count and meta["source_sha256"] == src.sha256
        assert df["frame_index"].between(0, src.frame_count - 1).all()
        np.testing.assert_allclose(df["pts_time"], np.array(src.pts_time)[df["frame_index"]])
    assert read_metadata(root / "results" / "detections" / f"{vid}.parquet")["detector"] == "centerface"


def test_only_the_delivered_copy_stays(workflow_run):
    """render/{id}.mp4 is temporary: once the audit delivered its copy, only anonymized/{id}.mp4 is left."""
    root, _ = workflow_run
    for vid in ("tagged", "vfr", "rotated"):
        assert (root / "results" / "anonymized" / f"{vid}.mp4").is_file(), vid
        assert not (root / "results" / "render" / f"{vid}.mp4").exists(), vid
        assert (root / "results" / "render" / f"{vid}.json").is_file(), vid


def test_rotated_clip_is_upright_portrait(workflow_run):
    root, _ = workflow_run
    out = probe_video(root / "results" / "anonymized" / "rotated.mp4")
    assert (out.width, out.height) == (192, 255)


def test_faces_found_and_hidden_no_audio_no_tags(workflow_run):
    root, _ = workflow_run
    det = read_boxes(root / "results" / "detections" / "tagged.parquet")
    assert det["frame_index"].nunique() >= 20, "the face should be found on nearly every frame"
    tracks = read_boxes(root / "results" / "tracks" / "tagged.parquet")
    src = _face_frames(24).astype(int)
    with av.open(str(root / "results" / "anonymized" / "tagged.mp4")) as c:
        assert [s.type for s in c.streams] == ["video"]
        tags = {k.lower(): v for k, v in c.metadata.items()}
        assert not {"creation_time", "location", "comment"} & set(tags)
        out = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(int)
    for t in (0, 12, 23):
        row = tracks[tracks.frame_index == t].iloc[0]
        cx, cy = int((row.x1 + row.x2) / 2), int((row.y1 + row.y2) / 2)
        inside = np.abs(
            out[t, cy - 8 : cy + 8, cx - 8 : cx + 8] - src[t, cy - 8 : cy + 8, cx - 8 : cx + 8]
        ).mean()
        far = np.abs(out[t, 150:, :] - src[t, 150:, :]).mean()
        assert inside > 10, f"frame {t}: face centre barely changed ({inside:.1f})"
        assert far < 4, f"frame {t}: background far from faces changed ({far:.1f})"


@pytest.fixture(scope="module")
def clean_run(workflow_run):
    """The same folder once the broken video is removed: only the summary is left to make."""
    root, first = workflow_run
    assert not (root / "results" / "summary.html").exists(), "summary must wait for every video"
    (root / "in videos" / "broken.mp4").unlink()
    proc = _run(["--cores", "2", "--configfile", "my.yaml"], root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, proc


def test_second_run_only_makes_the_summary(clean_run):
    _, proc = clean_run
    text = proc.stdout + proc.stderr
    assert "rule summary" in text or "Rule: summary" in text
    for stage in ("probe", "detect", "regularize", "render"):
        assert f"rule {stage}:" not in text and f"Rule: {stage})" not in text, text[-2000:]


def test_report_and_summary(clean_run):
    root, _ = clean_run
    rep = json.loads((root / "results" / "reports" / "tagged.json").read_text())
    assert rep["source"]["frames"] == 24
    assert rep["audit"]["enabled"] and rep["audit"]["n_findings"] == 0, rep["audit"]
    check = rep["output"]["check"]  # the metadata check of the rendered file, recorded in the report
    assert check["streams"] == ["video"] and check["frames"] == 24 and check["timestamps_match"]
    assert not {"creation_time", "location", "comment", "encoder"} & set(check["container_tags"])
    assert (root / "results" / "qa" / "tagged.png").stat().st_size > 1000
    summary = pd.read_csv(root / "results" / "summary.csv")
    assert set(summary["id"]) == {"tagged", "vfr", "rotated"}
    index = (root / "results" / "summary.html").read_text()
    for vid in ("tagged", "vfr", "rotated"):  # each report job drew its video's plot on its detail page
        assert f'"video":"anonymized/{vid}.mp4"' in index and f'"page":"reports/{vid}.html"' in index
        assert (root / "results" / "reports" / f"{vid}.html").read_text().count("data:image/png;base64") == 1


def _planned_jobs(root: Path, override: str) -> tuple[dict[str, int], str]:
    """Jobs per rule that a dry run plans with the config ``override``, and its output."""
    proc = _run(["--cores", "1", "-n", "--configfile", "my.yaml", "--config", override, "--", "all"], root)
    text = proc.stdout + proc.stderr
    jobs = {
        line.split()[0]: int(line.split()[1])
        for line in text.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }
    return jobs, text


def test_changing_regularize_reruns_only_downstream(clean_run):
    root, _ = clean_run
    jobs, text = _planned_jobs(root, "regularize={'kernel_radius': 2, 'method': 'kernel', 'merge_iou': 0.3}")
    assert jobs.get("regularize") == 3 and jobs.get("render") == 3 and jobs.get("report") == 3, text[-3000:]
    assert jobs.get("summary") == 1 and "detect" not in jobs and "probe" not in jobs, text[-3000:]


def test_changing_the_shot_cuts_reruns_the_probe_and_the_tracks_not_detect(clean_run):
    root, _ = clean_run
    jobs, text = _planned_jobs(root, "shots={'detector': 'content'}")
    assert jobs.get("probe") == 3 and jobs.get("regularize") == 3 and jobs.get("render") == 3, text[-3000:]
    assert "detect" not in jobs, text[-3000:]


def test_audit_failure_blocks_delivery(tmp_path):
    """A face seen on one frame only: detect finds it, the tracks drop it (a one-detection track is a false
    positive to them; ``keep_score`` 0, so its detection is not kept either), so it is not hidden. The
    audit finds it twice, in the detections table and on the rendered frame; with fail_on_findings
    nothing is delivered."""
    videos = tmp_path / "videos"
    videos.mkdir()
    frames = np.full((8, 192, 256, 3), 90, np.uint8)
    frames[4] = _face_frames(1)[0]  # the face passes by on frame 4
    write_clip(videos / "missed.mp4", frames, fps=25)
    cfg = {
        "inputs": [str(videos)],
        "results": "results",
        "annotations": None,
        "detect": {"width": 0},  # detect's defaults otherwise (threshold 0.2)
        "regularize": {"keep_score": 0},
        "audit": {"fail_on_findings": True},
    }
    (tmp_path / "my.yaml").write_text(yaml.safe_dump(cfg))
    proc = _run(["--cores", "2", "--configfile", "my.yaml"], tmp_path)
    assert proc.returncode != 0
    results = tmp_path / "results"
    assert read_boxes(results / "detections" / "missed.parquet")["frame_index"].tolist() == [4]
    assert read_boxes(results / "tracks" / "missed.parquet").empty  # dropped by the tracks
    log = (results / "logs" / "audit" / "missed.log").read_text()
    assert "audit found 2 possible unhidden face(s) on 1 frame(s)" in log and "missed.mp4" in log, log[-2000:]
    assert "e.g. frame 4 score" in log  # (Snakemake removes the failed job's audit JSON)
    assert (results / "render" / "missed.mp4").is_file()  # rendered, but...
    assert not (results / "anonymized" / "missed.mp4").exists()  # ...never delivered
    assert not [p for p in results.rglob("*") if ".partial" in p.name or ".tmp" in p.name]


def test_sharded_layout_keeps_folders_small(tmp_path):
    """layout: sharded puts every per-video file in a two-hex-digit subfolder; the run completes."""
    from faceoff.layout import shard

    videos = tmp_path / "videos"
    videos.mkdir()
    for vid in ("one", "two"):
        write_clip(videos / f"{vid}.mp4", _face_frames(6), fps=25)
    cfg = {"inputs": [str(videos)], "results": "results", "annotations": None, "layout": "sharded"}
    cfg["detect"] = {"width": 0}
    (tmp_path / "my.yaml").write_text(yaml.safe_dump(cfg))
    proc = _run(["--cores", "2", "--configfile", "my.yaml"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = tmp_path / "results"
    for vid in ("one", "two"):
        s = shard(vid)
        for rel in ("probe/{}.json", "detections/{}.parquet", "tracks/{}.parquet", "render/{}.json",
                    "audit/{}.json", "qa/{}.png", "anonymized/{}.mp4", "reports/{}.json", "reports/{}.html",
                    "tracks_corrected/{}.parquet", "review/{}.html",
                    "logs/detect/{}.log", "benchmarks/render/{}.tsv"):  # fmt: skip
            folder, name = rel.split("/", 1) if rel.count("/") == 1 else rel.rsplit("/", 1)
            assert (res / folder / s / name.format(vid)).is_file(), (folder, s, vid)
        assert not (res / "render" / s / f"{vid}.mp4").exists()  # temporary, removed after delivery
    # no per-video file sits directly in a stage folder: only shard folders (and the summary at the top)
    folders = ("probe", "detections", "tracks", "tracks_corrected", "render", "audit", "qa", "anonymized")
    for folder in (*folders, "reports", "review"):
        assert all(p.is_dir() and len(p.name) == 2 for p in (res / folder).iterdir()), folder
    summary = pd.read_csv(res / "summary.csv")
    assert sorted(summary["id"]) == ["one", "two"]
    index = (res / "summary.html").read_text()
    assert f'"video":"anonymized/{shard("one")}/one.mp4"' in index
