"""Sign-off end to end: a tiny workflow run, the CVAT round trip through `snakemake`, the review page in
headless Chromium, and Snakemake's own report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
import skimage.data
import yaml

from faceoff.boxes import read_boxes, read_metadata
from faceoff.probe import sha256_file
from faceoff.synth.clips import write_clip
from tests.cdp import CHROMIUM, Browser

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
pytestmark = pytest.mark.slow
N = 16
PATCH = (100, 124, 164, 188)  # x1 y1 x2 y2 of a checkerboard far from the faces: the box the reviewer adds
ADDED_FRAME = 5


def _frames(two_faces: bool) -> np.ndarray:
    """A face moving right (and a second, still one on the right) above a checkerboard patch."""
    head = skimage.data.astronaut()[30:190, 150:290][::2, ::2]  # 80x70
    frames = np.full((N, 192, 256, 3), 90, np.uint8)
    x1, y1, x2, y2 = PATCH
    yy, xx = np.mgrid[y1:y2, x1:x2]
    frames[:, y1:y2, x1:x2] = (((yy // 8 + xx // 8) % 2) * 255)[..., None].astype(np.uint8)
    for t in range(N):
        frames[t, 20:100, 10 + 3 * t : 80 + 3 * t] = head
        if two_faces:
            frames[t, 20:100, 176:246] = head[:, ::-1]
    return frames


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
    return subprocess.run([*SNAKEMAKE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def _planned(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Jobs per rule of a dry run (its last "Job stats" table)."""
    stats = (proc.stdout + proc.stderr).split("Job stats:")[-1].split("Reasons:")[0]
    return {
        line.split()[0]: int(line.split()[1])
        for line in stats.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }


def _mtimes(results: Path) -> dict[str, int]:
    return {
        str(p.relative_to(results)): p.stat().st_mtime_ns
        for p in results.rglob("*")
        if p.is_file() and not {"logs", "benchmarks"} & set(p.relative_to(results).parts)
    }


def _decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(int)


def _patch_change(delivered: Path, source: np.ndarray) -> float:
    x1, y1, x2, y2 = PATCH
    out = _decode(delivered)[ADDED_FRAME, y1:y2, x1:x2]
    return float(np.abs(out - source[ADDED_FRAME, y1:y2, x1:x2]).mean())


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """Run the workflow, export `two` for correction, edit the XML as a reviewer would (delete the right
    face's track, add a box on the checkerboard on one frame) and run again."""
    root = tmp_path_factory.mktemp("review")
    (root / "videos").mkdir()
    (root / "corrections").mkdir()
    sources = {"two": _frames(True), "one": _frames(False)}
    for name, frames in sources.items():
        write_clip(root / "videos" / f"{name}.mp4", frames, fps=25)
    cfg = {
        "inputs": [str(root / "videos")],
        "results": "results",
        "annotations": None,
        "corrections": str(root / "corrections"),
        "detect": {"width": 0},
    }
    (root / "my.yaml").write_text(yaml.safe_dump(cfg))
    first = _run(["--cores", "2", "--configfile", "my.yaml"], root)
    assert first.returncode == 0, first.stderr[-3000:]
    results = root / "results"
    before = {
        "mtimes": _mtimes(results),
        "audit": json.loads((results / "audit" / "two.json").read_text()),
        "patch": _patch_change(results / "anonymized" / "two.mp4", sources["two"]),
        "review": (results / "review" / "two.html").read_text(),
    }

    xml = root / "corrections" / "two.xml"
    export = [sys.executable, "-m", "faceoff.cli", "export-cvat", str(results / "tracks" / "two.parquet")]
    export += ["--probe", str(results / "probe" / "two.json"), "-o", str(xml)]
    subprocess.run(export, check=True, capture_output=True)
    tree = ET.parse(xml)
    tracks = tree.getroot().findall("track")
    right = max(tracks, key=lambda t: float(t.find("box").get("xtl")))
    tree.getroot().remove(right)
    new = ET.SubElement(tree.getroot(), "track", id="77", label="face")
    x1, y1, x2, y2 = (str(v) for v in PATCH)
    for frame, outside in ((ADDED_FRAME, "0"), (ADDED_FRAME + 1, "1")):
        ET.SubElement(new, "box", frame=str(frame), outside=outside, keyframe="1", occluded="0",
                      xtl=x1, ytl=y1, xbr=x2, ybr=y2)  # fmt: skip
    tree.write(xml)
    plan = _run(["--cores", "1", "-n", "--configfile", "my.yaml"], root)
    second = _run(["--cores", "2", "--configfile", "my.yaml"], root)
    assert second.returncode == 0, second.stderr[-3000:]
    return root, sources, before, plan, xml, len(right.findall("box[@outside='0']"))


def test_correction_reruns_only_that_video_and_hides_the_added_box(reviewed):
    root, sources, before, plan, xml, n_deleted = reviewed
    results = root / "results"
    assert _planned(plan) == {"render": 1, "audit": 1, "report": 1, "summary": 1, "all": 1, "total": 5}, (
        plan.stdout
    )
    changed = {k for k, v in _mtimes(results).items() if before["mtimes"].get(k) != v}
    per_video = ["tracks_corrected/{}.parquet", "render/{}.json", "audit/{}.json", "qa/{}.png"]
    per_video += ["anonymized/{}.mp4", "reports/{}.json", "reports/{}.html", "review/{}.html"]
    assert changed == {p.format("two") for p in per_video} | {"summary.html", "summary.csv"}
    # the original tracks stay; the corrected table holds the reviewer's box and not the deleted track
    tracks = read_boxes(results / "tracks" / "two.parquet")
    corrected = read_boxes(results / "tracks_corrected" / "two.parquet")
    manual = corrected[corrected.source == "manual"]
    assert manual.frame_index.tolist() == [ADDED_FRAME]
    np.testing.assert_allclose(manual[["x1", "y1", "x2", "y2"]].to_numpy()[0], PATCH)
    assert len(corrected) == len(tracks) - n_deleted + 1
    record = read_metadata(results / "tracks_corrected" / "two.parquet")["corrections"]
    report = json.loads((results / "reports" / "two.json").read_text())
    assert report["corrections"] == record
    assert record["sha256"] == sha256_file(xml)
    assert (record["added_boxes"], record["removed_boxes"]) == (1, n_deleted)
    assert report["tracks"]["boxes_by_source"]["manual"] == 1
    # independent check on the pixels: the checkerboard was untouched, now it is hidden on that frame
    assert before["patch"] < 6, before["patch"]
    assert _patch_change(results / "anonymized" / "two.mp4", sources["two"]) > 40
    # the deleted face is visible again, and the audit says so
    assert before["audit"]["n_findings"] == 0
    assert json.loads((results / "audit" / "two.json").read_text())["n_findings"] > 0


def test_removing_the_corrections_renders_that_video_again(reviewed, tmp_path):
    root, *_, xml, _ = reviewed
    xml.rename(tmp_path / xml.name)
    try:
        plan = _run(["--cores", "1", "-n", "--configfile", "my.yaml"], root)
    finally:
        (tmp_path / xml.name).rename(xml)
    assert _planned(plan) == {"render": 1, "audit": 1, "report": 1, "summary": 1, "all": 1, "total": 5}
    assert "set of input files has changed" in plan.stdout + plan.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (scripts/test.sh installs it)")
def test_review_page_in_chromium(reviewed, tmp_path):
    root, *_ = reviewed
    page = root / "results" / "review" / "two.html"
    browser = Browser(tmp_path / "profile")
    try:
        browser.open(page.as_uri())
        state = browser.eval(
            """new Promise(resolve => {
              const v = document.getElementById('video');
              const done = () => resolve({ready: v.readyState, error: v.error && v.error.code,
                                          duration: v.duration, width: v.videoWidth});
              if (v.readyState >= 2) done();
              v.addEventListener('canplay', done); v.addEventListener('error', done);
              setTimeout(done, 30000);
            })"""
        )
        assert state["ready"] >= 2 and state["error"] is None, state  # H.264 plays in Debian's chromium
        assert state["width"] == 256 and abs(state["duration"] - N / 25) < 0.05, state
        seek = """new Promise(resolve => {
              const v = document.getElementById('video');
              const el = %s;
              v.addEventListener('seeked', () => resolve({t: v.currentTime, want: Number(el.dataset.t),
                box: getComputedStyle(document.getElementById('box')).display}), {once: true});
              el.dispatchEvent(new MouseEvent('click', {bubbles: true}));
            })"""
        manual = "document.querySelector('[data-lane=manual] rect')"
        got = browser.eval(seek % manual)
        assert abs(got["t"] - (ADDED_FRAME + 0.5) / 25) < 0.01 and got["box"] == "none", got
        finding = "[...document.querySelectorAll('button.finding')].pop()"
        got = browser.eval(seek % finding)  # the last finding: the video goes there, its box outlined
        assert got["t"] > 0.3 and abs(got["t"] - got["want"]) < 0.01 and got["box"] == "block", got
        browser.screenshot(tmp_path / "review.png")
        assert (tmp_path / "review.png").stat().st_size > 10_000
        assert browser.errors == []
    finally:
        browser.close()


def test_snakemake_report_holds_the_review_pages(reviewed):
    root, *_ = reviewed
    proc = _run(["--cores", "1", "--configfile", "my.yaml", "--report", "report.zip"], root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with zipfile.ZipFile(root / "report.zip") as z:
        files = {n: z.read(n) for n in z.namelist() if n.startswith("report/data/raw/")}
    for vid in ("one", "two"):
        for path in (f"review/{vid}.html", f"qa/{vid}.png", f"reports/{vid}.json"):
            content = (root / "results" / path).read_bytes()
            assert [n for n, data in files.items() if n.endswith(f"/{Path(path).name}") and data == content]
