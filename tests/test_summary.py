"""The summary: CSV and index page built from report JSONs alone (hand-written reports here)."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from faceoff.layout import shard
from faceoff.summary import find_reports, write_summary


def _report(tmp: Path, vid: str, *, findings: int = 0, coverage: float | None = None, sharded=False) -> Path:
    """A minimal report JSON as the report stage writes it, with its delivered video and sheet."""
    sub = f"{shard(vid)}/" if sharded else ""
    r = {
        "id": vid,
        "source": {"path": f"/in/{vid}.mp4", "frames": 100, "fps": 25.0, "duration": 4.0},
        "frames_with_faces": {"detections": 50, "tracks": 60},
        "boxes": {"detections": 55, "tracks": 66},
        "tracks": {"count": 2},
        "timing": {"detect": {"seconds": 2.0, "frames_per_second": 50.0}, "total_seconds": 5.0},
        "output": {
            "path": f"results/render/{sub}{vid}.mp4",
            "delivered": str(tmp / f"anonymized/{sub}{vid}.mp4"),
        },
        "audit": {"enabled": True, "n_findings": findings, "contact_sheet": str(tmp / f"qa/{sub}{vid}.png")},
    }
    if coverage is not None:
        r["recall"] = {
            "detections": {"n_gt": 10, "tp": 8, "fp": 1, "recall": 0.8},
            "tracks": {"n_gt": 10, "tp": 9, "fp": 1, "recall": 0.9},
        }
        r["coverage"] = {
            "detections": {"n_gt": 10, "covered": 7, "coverage": 0.7, "longest_uncovered_run": 3},
            "tracks": {"n_gt": 10, "covered": round(10 * coverage), "coverage": coverage},
        }
    path = tmp / "reports" / f"{sub}{vid}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(r))
    return path


def _rows(html: str) -> list[dict]:
    data = re.search(r'<script id=rows type="application/json">(.*?)</script>', html, re.S).group(1)
    return json.loads(data)


@pytest.fixture
def results(tmp_path: Path) -> Path:
    _report(tmp_path, "ok", coverage=1.0)
    _report(tmp_path, "findings", findings=3, sharded=True)
    _report(tmp_path, "lowcov", coverage=0.8)
    _report(tmp_path, "noann")
    _report(tmp_path, "a<!--<script>&")
    (tmp_path / "reports" / ".tmp.json.tmp-1").write_text("{")  # a temporary file is not a report
    return tmp_path


def test_find_reports_reads_both_layouts(results: Path) -> None:
    names = [p.stem for p in find_reports(results)]
    assert names == sorted(["ok", "findings", "lowcov", "noann", "a<!--<script>&"])
    assert find_reports(results / "nothing") == []


def test_index_puts_failures_findings_and_low_coverage_first(results: Path) -> None:
    html_path, csv_path = results / "summary.html", results / "summary.csv"
    log = results / "logs" / "probe" / "broken.log"
    write_summary(find_reports(results), html_path, csv_path, failures={"broken": ("probe", "bad file", log)})
    html = html_path.read_text(encoding="utf-8")
    rows = _rows(html)
    assert [r["id"] for r in rows] == ["broken", "findings", "lowcov", "ok", "a<!--<script>&", "noann"]
    by_id = {r["id"]: r for r in rows}
    assert (
        by_id["broken"]["flags"] == "failed at probe: bad file"
        and by_id["broken"]["log"] == "logs/probe/broken.log"
    )
    assert (
        by_id["findings"]["flags"] == "audit: 3 finding(s)" and by_id["lowcov"]["flags"] == "coverage 80.0%"
    )
    assert by_id["ok"]["flags"] == "" and by_id["ok"]["coverage"] == 1.0 and by_id["ok"]["recall"] == 0.9
    # links relative to the page: the detail page beside each report, the delivered video, the sheet
    sub = shard("findings")
    assert by_id["findings"]["page"] == f"reports/{sub}/findings.html"
    assert by_id["findings"]["video"] == f"anonymized/{sub}/findings.mp4"
    assert by_id["ok"]["sheet"] == "qa/ok.png" and "render/" not in html
    assert "<!--<script>" not in html  # an id cannot end the data script early
    assert "<img" not in html  # the plots are on the detail pages
    # pooled recall over the annotated videos: 18 of 20 faces found after smoothing
    pooled = re.search(r"<tr><th class=l>all \(pooled\)</th>(.*?)</tr>", html).group(1)
    assert re.findall(r"<th>(.*?)</th>", pooled)[:3] == ["20", "80.0%", "90.0%"]
    with open(csv_path, newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert sorted(r["id"] for r in table) == sorted(r for r in by_id if r != "broken")
    assert {r["id"]: r["audit_findings"] for r in table}["findings"] == "3"


def _summary_with(tmp_path: Path, edits: dict[str, dict[tuple[str, str], object]]) -> tuple[dict, dict]:
    """A report per video id of ``edits``, each with its ``{(section, key): value}`` set, summarised: the
    summary page's rows and the CSV's, by id."""
    for vid, changes in edits.items():
        path = _report(tmp_path, vid)
        report = json.loads(path.read_text())
        for (section, key), value in changes.items():
            report[section][key] = value
        path.write_text(json.dumps(report))
    write_summary(find_reports(tmp_path), tmp_path / "summary.html", tmp_path / "summary.csv")
    by_id = {r["id"]: r for r in _rows((tmp_path / "summary.html").read_text(encoding="utf-8"))}
    with open(tmp_path / "summary.csv", newline="", encoding="utf-8") as fh:
        return by_id, {r["id"]: r for r in csv.DictReader(fh)}


def test_a_second_camera_left_out_is_a_reason_to_look(tmp_path: Path) -> None:
    """A video whose second video stream was dropped is listed with that reason, and the CSV names every
    dropped stream; dropped audio alone (the default) is no reason."""
    by_id, table = _summary_with(
        tmp_path,
        {
            "two_cams": {("output", "dropped_streams"): {"video": 1, "audio": 1}},
            "audio_only_dropped": {("output", "dropped_streams"): {"audio": 2}},
        },
    )
    assert by_id["two_cams"]["flags"] == "1 more video stream(s) not delivered"
    assert by_id["audio_only_dropped"]["flags"] == ""
    assert table["two_cams"]["dropped_streams"] == "audio:1;video:1"
    assert table["audio_only_dropped"]["dropped_streams"] == "audio:2"


def test_frames_before_the_first_keyframe_are_noted_not_a_reason_to_look(tmp_path: Path) -> None:
    """A recording started mid-stream: the summary notes the frames no decoder shows, without sending the
    reviewer to it; the CSV counts them."""
    by_id, table = _summary_with(
        tmp_path, {"stream_cut": {("source", "leading_undecodable"): 4}, "whole": {}}
    )
    assert by_id["stream_cut"]["flags"] == "4 frame(s) before the first keyframe not delivered"
    assert by_id["whole"]["flags"] == ""
    assert (table["stream_cut"]["leading_undecodable"], table["whole"]["leading_undecodable"]) == ("4", "")


def test_summary_of_nothing(tmp_path: Path) -> None:
    write_summary([], tmp_path / "s.html", tmp_path / "s.csv")
    assert (tmp_path / "s.csv").read_text().count("\n") == 1  # header only
    assert _rows((tmp_path / "s.html").read_text()) == []


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _dom(page: Path, fragment: str) -> str:
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--virtual-time-budget=3000",
        "--dump-dom",
    ]
    out = subprocess.run([*cmd, page.as_uri() + fragment], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium (Debian package chromium)")
def test_index_table_sorts_and_filters_in_a_browser(results: Path) -> None:
    page = results / "summary.html"
    write_summary(find_reports(results), page, results / "summary.csv")

    def ids(fragment: str) -> list[str]:
        body = re.search(r'<tbody id="body">(.*?)</tbody>', _dom(page, fragment), re.S).group(1)
        return [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<tr><td class=\"l\">(.*?)</td>", body)]

    assert ids("") == ["findings", "lowcov", "ok", "a&lt;!--&lt;script&gt;&amp;", "noann"]
    assert ids("#q=cov") == ["lowcov"]  # filter on the reason
    assert ids("#look=1") == ["findings", "lowcov"]
    assert ids("#sort=id") == sorted(ids(""), key=str)
    assert ids("#sort=coverage&desc=1")[:2] == ["ok", "lowcov"]  # videos without coverage last


def _with_verdict(path: Path, needs_review: bool, runs: list[dict]) -> None:
    """Give a report the audit verdict of faceoff.findings (runs most severe first)."""
    r = json.loads(path.read_text())
    high = [x for x in runs if x["severity"] == "high"]
    r["audit"].update(
        needs_review=needs_review,
        n_runs=len(runs),
        n_high=len(high),
        review_reasons=[f"frames {x['first_frame']}-{x['last_frame']}: why" for x in high],
        first_runs=runs,
    )
    path.write_text(json.dumps(r))


def test_the_verdict_decides_needs_a_look_and_the_most_severe_come_first(tmp_path: Path) -> None:
    def run(severity, first, frames, peak):
        return {
            "severity": severity,
            "first_frame": first,
            "last_frame": first + frames - 1,
            "frames": frames,
            "peak_score": peak,
        }

    noise = [run("low", 3, 1, 0.25), run("low", 40, 2, 0.4)]
    _with_verdict(_report(tmp_path, "noise", findings=12), False, noise)
    _with_verdict(_report(tmp_path, "short", findings=5), True, [run("high", 10, 5, 0.8), *noise])
    _with_verdict(_report(tmp_path, "long", findings=80), True, [run("high", 0, 40, 0.9)])
    _report(tmp_path, "old", findings=2)  # a report made before the verdict: any finding needs a look
    _report(tmp_path, "clean", coverage=1.0)
    write_summary(find_reports(tmp_path), tmp_path / "s.html", tmp_path / "s.csv")
    rows = _rows((tmp_path / "s.html").read_text(encoding="utf-8"))
    assert [r["id"] for r in rows] == ["long", "short", "old", "clean", "noise"]
    by_id = {r["id"]: r for r in rows}
    assert by_id["long"]["flags"] == "audit: 1 run(s) of severity high: frames 0-39: why"
    assert by_id["noise"]["flags"] == "" and by_id["noise"]["priority"] == 0
    assert by_id["old"]["flags"] == "audit: 2 finding(s)"
    assert (by_id["short"]["runs"], by_id["noise"]["runs"], by_id["clean"]["runs"]) == (
        "1 high / 3",
        "0 high / 2",
        None,
    )
    with open(tmp_path / "s.csv", newline="", encoding="utf-8") as fh:
        table = {r["id"]: r for r in csv.DictReader(fh)}
    assert (
        table["noise"]["audit_runs"],
        table["noise"]["audit_runs_high"],
        table["noise"]["audit_needs_review"],
    ) == ("2", "0", "False")
    assert table["long"]["audit_needs_review"] == "True" and table["old"]["audit_needs_review"] == ""
