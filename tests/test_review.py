"""The review page: delivered video linked relatively, timeline lanes by source, findings that seek."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from faceoff.boxes import TRACK_SCHEMA, write_boxes
from faceoff.review import review_html, write_review_page
from tests.test_cvat import probe_info, track_rows


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _page(tmp_path, report=None, findings=None):
    tracks = pd.concat(
        [
            track_rows(1, range(0, 10), (5, 5, 20, 20)),
            track_rows(1, range(10, 12), (5, 5, 20, 20), source="interpolated"),
            track_rows(2, [20], (30, 5, 40, 20), source="manual", score=1.0),
        ]
    )
    (tmp_path / "tracks").mkdir()
    write_boxes(tracks, tmp_path / "tracks" / "my vid.parquet", {}, TRACK_SCHEMA)
    audit = {
        "enabled": True,
        "n_findings": 1,
        "frames_with_findings": 1,
        "threshold": 0.3,
        "findings": findings or [],
    }
    (tmp_path / "audit.json").write_text(json.dumps(audit))
    sheet = tmp_path / "qa.png"
    sheet.write_bytes(b"\x89PNG fake sheet bytes")
    (tmp_path / "report.json").write_text(json.dumps(report or {}))
    out = tmp_path / "results" / "review" / "my vid.html"
    write_review_page(
        out,
        "my vid",
        probe_info(n=30),
        tmp_path / "tracks" / "my vid.parquet",
        tmp_path / "audit.json",
        tmp_path / "results" / "anonymized" / "my vid.mp4",
        sheet,
        tmp_path / "report.json",
    )
    text = out.read_text()
    parser = _Tags()
    parser.feed(text)
    return text, parser.tags, sheet


def test_page_plays_the_delivered_video_by_relative_link_and_shows_only_it_and_the_sheet(tmp_path):
    text, tags, sheet = _page(tmp_path)
    videos = [a for t, a in tags if t == "video"]
    assert len(videos) == 1 and videos[0]["src"] == "../anonymized/my%20vid.mp4"
    images = [a["src"] for t, a in tags if t == "img"]
    assert images == ["data:image/png;base64," + base64.b64encode(sheet.read_bytes()).decode()]
    # self-contained: nothing is fetched from elsewhere (no external script, style, link or frame)
    assert not [
        a for t, a in tags if t in ("script", "link", "iframe", "source") and ("src" in a or "href" in a)
    ]
    assert "http://" not in text and "https://" not in text


def test_lanes_by_source_and_seek_times(tmp_path):
    finding = {"frame_index": 25, "pts_time": 1.0, "x1": 3, "y1": 4, "x2": 13, "y2": 24, "score": 0.5}
    report = {
        "coverage": {"tracks": {"uncovered_frames": [7, 8, 9]}},
        "corrections": {"file": "my vid.xml", "sha256": "ab" * 32, "added_boxes": 1, "removed_boxes": 4},
    }
    text, tags, _ = _page(tmp_path, report, [finding])
    lanes = {a["data-lane"] for t, a in tags if t == "div" and "data-lane" in a}
    assert {"detected", "interpolated", "manual", "audit findings", "uncovered (annotated)"} <= lanes
    marks = [a for t, a in tags if t == "rect"]
    # one mark per run of frames, seeking to the middle of its first frame (25 fps: frame f at f/25 + 0.02)
    times = sorted(float(a["data-t"]) for a in marks)
    assert times == pytest.approx(sorted(f / 25 + 0.02 for f in (0, 10, 20, 25, 7)))
    (button,) = [a for t, a in tags if t == "button"]
    assert float(button["data-t"]) == 1.02 and button["data-box"] == "3,4,13,24"
    assert re.search(r"boxes added 1, removed 4", text)


def test_streams_left_out_of_the_delivered_file_are_named(tmp_path):
    """A second camera's video stream and audio, dropped by the render: the reviewer reads that they are not
    in the delivered file; a file that lost nothing says nothing."""
    text, _, _ = _page(tmp_path, {"output": {"dropped_streams": {"audio": 2, "video": 1}}})
    assert "not anonymised, never copied): 2 audio streams, 1 video stream." in text
    (tmp_path / "again").mkdir()
    plain, _, _ = _page(tmp_path / "again", {"output": {"dropped_streams": {}}})
    assert "never copied" not in plain


def test_frames_before_the_first_keyframe_are_named(tmp_path):
    """A recording cut from a stream: the frames before its keyframe, which no decoder shows, are named as
    left out of the delivered file."""
    report = {"output": {"dropped_streams": {}}, "source": {"leading_undecodable": 3}}
    text, _, _ = _page(tmp_path, report)
    assert "never copied): 3 frames before the first keyframe (no decoder shows them)." in text


def test_shot_cuts_are_marked_on_the_timeline(tmp_path):
    info = dataclasses.replace(probe_info(n=40), cuts=[10, 30])
    tracks = track_rows(1, range(0, 10), (5, 5, 20, 20))
    page = review_html("v", info, tracks, {"findings": []}, "v.mp4", None)
    parser = _Tags()
    parser.feed(page)
    cut_lane = page[
        page.index('data-lane="shot cuts"') : page.index("</div>", page.index('data-lane="shot cuts"'))
    ]
    assert "shot cuts (2" in cut_lane
    seek = sorted(float(t) for t in re.findall(r'data-t="([0-9.]+)"', cut_lane))
    assert seek == pytest.approx([10 / 25 + 0.02, 30 / 25 + 0.02])  # a click goes to the cut's first frame
    # a thin line through every lane at each cut: x = 1000 * frame / frames, 1.2 wide, centred
    lines = page[page.index("<div class=cuts>") :]
    xs = [float(x) + 0.6 for x in re.findall(r'<rect x="([0-9.]+)" y="0" width="1.2"', lines)]
    assert xs == pytest.approx([250.0, 750.0])
    plain = review_html("v", dataclasses.replace(info, cuts=[]), tracks, {"findings": []}, "v.mp4", None)
    assert "<div class=cuts>" not in plain and 'data-lane="shot cuts"><span>shot cuts (0' in plain


def test_runs_of_findings_by_severity_most_severe_first(tmp_path):
    """With runs (faceoff.findings): a lane per severity, the verdict, a row per run seeking to its peak
    frame with that frame's box, and the per-frame rows kept below."""
    from faceoff.config import AuditConfig
    from faceoff.findings import TriageParams, triage
    from faceoff.review import review_html

    noise = {"kind": "detection", "frame_index": 2, "x1": 50, "y1": 30, "x2": 60, "y2": 40, "score": 0.22}
    leak = [
        {"kind": "rendered", "frame_index": f, "x1": 5 + f, "y1": 5, "x2": 25 + f, "y2": 25, "score": s}
        for f, s in ((20, 0.5), (21, 0.8), (22, 0.6))
    ]
    verdict = triage(
        [noise, *leak],
        pd.DataFrame(columns=["frame_index", "x1", "y1", "x2", "y2"]),
        TriageParams.from_config(AuditConfig()),
    )
    audit = {
        "enabled": True,
        "n_findings": 4,
        "frames_with_findings": 4,
        "threshold": 0.3,
        "findings": [noise, *leak],
        **verdict,
    }
    tracks = track_rows(1, range(0, 10), (5, 5, 20, 20))
    text = review_html("v", probe_info(n=30), tracks, audit, "v.mp4", None)
    parser = _Tags()
    parser.feed(text)
    lanes = {a["data-lane"] for t, a in parser.tags if t == "div" and "data-lane" in a}
    assert {"audit runs: high", "audit runs: low"} <= lanes and "audit findings" not in lanes
    assert "Needs review" in text and "frames 20-22: " in text
    buttons = [a for t, a in parser.tags if t == "button"]
    # the runs first (high, then low), each at its peak frame; then the four per-frame rows
    assert [(float(b["data-t"]), b["data-box"]) for b in buttons[:2]] == [
        (pytest.approx(21 / 25 + 0.02), "26.0,5.0,46.0,25.0"),
        (pytest.approx(2 / 25 + 0.02), "50.0,30.0,60.0,40.0"),
    ]
    assert len(buttons) == 2 + 4 and "<details><summary>Per-frame findings (4)" in text
    rows = re.findall(r"<tr class=(high|low)>", text)
    assert rows == ["high", "low"]
