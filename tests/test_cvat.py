"""CVAT export: the XML read back by the annotations parser (the oracle) gives exactly the tracked boxes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from faceoff.annotations import load_annotations
from faceoff.boxes import TRACK_SCHEMA, write_boxes
from faceoff.cvat import FINDING_LABEL, cvat_labels, export_cvat
from faceoff.probe import ProbeInfo


def probe_info(n: int = 30, width: int = 64, height: int = 48, fps: float = 25.0) -> ProbeInfo:
    pts = [i / fps for i in range(n)]
    return ProbeInfo(
        path="v.mp4",
        frame_count=n,
        width=width,
        height=height,
        rotation=0,
        time_base=(1, 1000),
        pts=[round(t * 1000) for t in pts],
        pts_time=pts,
        start_time=0.0,
        variable_frame_rate=False,
        avg_fps=fps,
        codec="h264",
        pix_fmt="yuv420p",
        duration=n / fps,
        size_bytes=1,
        sha256="0" * 64,
    )


def track_rows(track_id: int, frames, box, source: str = "detected", score: float = 0.9, pad: float = 0.0):
    frames = list(frames)
    return pd.DataFrame(
        {
            "frame_index": frames,
            "pts_time": [f / 25 for f in frames],
            "x1": [box[0] + f * 0.5 for f in frames],
            "y1": box[1],
            "x2": [box[2] + f * 0.5 for f in frames],
            "y2": box[3],
            "score": score,
            "track_id": track_id,
            "source": source,
            "pad": pad,
        }
    )


@pytest.fixture
def tracks_file(tmp_path):
    """Two tracks: one with a gap (frames 2-9 and 14-19), one extended to the last frame."""
    df = pd.concat(
        [
            track_rows(3, range(2, 10), (10.25, 5, 20.5, 17)),
            track_rows(3, range(14, 20), (10.25, 5, 20.5, 17), source="interpolated", score=0.4),
            track_rows(7, range(25, 30), (30, 20, 40.75, 33.5), source="extended", pad=2.0),
        ],
        ignore_index=True,
    )
    path = tmp_path / "vid.parquet"
    write_boxes(df, path, {"frame_count": 30, "width": 64, "height": 48}, TRACK_SCHEMA)
    return path, df


def test_export_reads_back_as_the_tracked_boxes(tmp_path, tracks_file):
    path, df = tracks_file
    out = tmp_path / "vid.xml"
    counts = export_cvat(path, probe_info(), out)
    assert counts == {"tracks": 2, "boxes": len(df), "findings": 0}
    back = load_annotations(out, frame_count=30)
    # Each FaceOff track is one CVAT track: every tracked box, nothing more (gaps and the end stay closed).
    assert len(back) == len(df) and back["track_id"].nunique() == 2
    got = back.sort_values(["frame_index", "x1"]).reset_index(drop=True)
    want = df.sort_values(["frame_index", "x1"]).reset_index(drop=True)
    assert (got["frame_index"].to_numpy() == want["frame_index"].to_numpy()).all()
    np.testing.assert_allclose(got[["x1", "y1", "x2", "y2"]], want[["x1", "y1", "x2", "y2"]], atol=0.006)


def test_export_attributes_keyframes_and_findings(tmp_path, tracks_file):
    path, df = tracks_file
    audit = tmp_path / "audit.json"
    finding = {
        "frame_index": 12,
        "pts_time": 0.48,
        "x1": 1.0,
        "y1": 2.0,
        "x2": 9.0,
        "y2": 12.0,
        "score": 0.41,
    }
    audit.write_text(json.dumps({"findings": [finding]}))
    out, labels = tmp_path / "vid.xml", tmp_path / "labels.json"
    counts = export_cvat(path, probe_info(), out, audit_json=audit, labels_out=labels)
    assert counts["findings"] == 1
    root = ET.parse(out).getroot()
    tracks = root.findall("track")
    faces = [t for t in tracks if t.get("label") == "face"]
    assert len(faces) == 2 and [t.get("label") for t in tracks].count(FINDING_LABEL) == 1
    first = faces[0].findall("box")
    visible = [b for b in first if b.get("outside") == "0"]
    assert all(b.get("keyframe") == "1" for b in first)
    # outside boxes close the run at frame 10 and after frame 19
    assert [int(b.get("frame")) for b in first if b.get("outside") == "1"] == [10, 20]
    attrs = {a.get("name"): a.text for a in visible[-1].findall("attribute")}
    assert attrs == {"source": "interpolated", "score": "0.4000", "track_id": "3"}
    last = faces[1].findall("box")  # the track reaching the video's end has no outside box
    assert not [b for b in last if b.get("outside") == "1"]
    # findings are not faces: the annotations parser (and so the corrections) ignore them
    assert 12 not in set(load_annotations(out, frame_count=30)["frame_index"])
    # the task's labels: new boxes default to source "manual"; the XML's meta declares the same labels
    spec = json.loads(labels.read_text())
    assert spec == cvat_labels() and spec[0]["attributes"][0]["default_value"] == "manual"
    declared = [el.findtext("name") for el in root.iterfind("./meta/task/labels/label")]
    assert declared == ["face", FINDING_LABEL]
    assert root.findtext("./meta/task/original_size/width") == "64"


def test_two_boxes_of_one_track_on_a_frame_become_two_cvat_tracks(tmp_path):
    df = pd.concat([track_rows(1, range(3), (1, 1, 5, 5)), track_rows(1, range(3), (30, 1, 35, 5))])
    path = tmp_path / "t.parquet"
    write_boxes(df, path, {}, TRACK_SCHEMA)
    export_cvat(path, probe_info(), tmp_path / "t.xml")
    back = load_annotations(tmp_path / "t.xml", frame_count=30)
    assert len(back) == 6 and back["track_id"].nunique() == 2


def test_runs_of_findings_become_finding_tracks_with_their_severity(tmp_path, tracks_file):
    """An audit with runs (faceoff.findings): one finding track per run, a keyframe per frame of its box
    path, closed after each gap and after its last frame; severity and peak score as attributes."""
    from faceoff.config import AuditConfig
    from faceoff.findings import TriageParams, triage

    path, _ = tracks_file
    found = [
        {
            "kind": "rendered",
            "frame_index": f,
            "x1": 40.0 + f,
            "y1": 2.0,
            "x2": 52.0 + f,
            "y2": 14.0,
            "score": s,
        }
        for f, s in ((3, 0.5), (4, 0.9), (6, 0.6))
    ]
    found.append(
        {"kind": "detection", "frame_index": 20, "x1": 1.0, "y1": 30.0, "x2": 9.0, "y2": 40.0, "score": 0.25}
    )
    audit = triage(
        found,
        pd.DataFrame(columns=["frame_index", "x1", "y1", "x2", "y2"]),
        TriageParams.from_config(AuditConfig()),
    )
    audit_json = tmp_path / "audit.json"
    audit_json.write_text(json.dumps({"findings": found, **audit}))
    out = tmp_path / "vid.xml"
    assert export_cvat(path, probe_info(), out, audit_json=audit_json)["findings"] == 2
    runs = [t for t in ET.parse(out).getroot().findall("track") if t.get("label") == FINDING_LABEL]
    shown = {}
    for t in runs:
        boxes = t.findall("box")
        attrs = {a.get("name"): a.text for a in boxes[0].findall("attribute")}
        visible = [int(b.get("frame")) for b in boxes if b.get("outside") == "0"]
        closed = [int(b.get("frame")) for b in boxes if b.get("outside") == "1"]
        shown[attrs["severity"]] = (visible, closed, attrs["score"], float(boxes[0].get("xtl")))
    assert shown == {"high": ([3, 4, 6], [5, 7], "0.9000", 43.0), "low": ([20], [21], "0.2500", 1.0)}
