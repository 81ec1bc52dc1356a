"""Audit findings as runs (faceoff/findings.py): grouping, severity and the verdict, on hand-made findings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from faceoff.config import AuditConfig
from faceoff.findings import (
    HIGH,
    LOW,
    TriageParams,
    describe_run,
    group_findings,
    lost_regions,
    severity,
    triage,
)

PARAMS = TriageParams.from_config(AuditConfig())


def finding(frame: int, box, score: float, kind: str = "rendered") -> dict:
    x1, y1, x2, y2 = box
    return {
        "kind": kind,
        "frame_index": frame,
        "pts_time": frame / 25,
        "x1": x1,
        "y1": y1,
        "x2": x2,
        "y2": y2,
        "score": score,
        "inside_fraction": 0.0,
    }


def tracks(rows) -> pd.DataFrame:
    """A tracks table of (frame, x1, y1, x2, y2) rows, pad 0."""
    df = pd.DataFrame(rows, columns=["frame_index", "x1", "y1", "x2", "y2"])
    return df.assign(score=0.9, track_id=0, source="detected", pad=0.0, pts_time=df["frame_index"] / 25)


NO_TRACKS = tracks([])


def moving_face(frames, kind="rendered", score=0.85, x0=100.0):
    """A 40 px face moving 2 px a frame to the right."""
    return [finding(f, (x0 + 2 * f, 50, x0 + 40 + 2 * f, 100), score, kind) for f in frames]


def test_a_moving_face_with_short_gaps_is_one_run_and_both_kinds_join_it():
    found = moving_face([0, 1, 2, 5, 6]) + moving_face([0, 1, 2, 5, 6], "detection", 0.6)
    found.append(finding(3, (400, 300, 430, 330), 0.25))  # elsewhere: its own run
    runs = group_findings(found[::-1], run_gap=2, run_iou=0.2, run_step=1.5)  # any input order
    assert [[(f["frame_index"], f["kind"]) for f in r] for r in runs] == [
        [(f, k) for f in (0, 1, 2, 5, 6) for k in ("rendered", "detection")],
        [(3, "rendered")],
    ]
    # a gap longer than run_gap frames splits it
    assert [len(r) for r in group_findings(moving_face([0, 1, 2, 6, 7]), 2, 0.2, 1.5)] == [3, 2]
    assert [len(r) for r in group_findings(moving_face([0, 1, 2, 6, 7]), 3, 0.2, 1.5)] == [5]


def test_two_faces_side_by_side_stay_two_runs():
    left, right = moving_face(range(6), x0=0.0), moving_face(range(6), x0=60.0, score=0.4)
    runs = group_findings(left + right, 2, 0.2, 1.5)
    assert sorted(len(r) for r in runs) == [6, 6]
    assert all(len({f["x1"] - 2 * f["frame_index"] for f in r}) == 1 for r in runs)


def small_face(frames, score=0.3, kind="detection", step=20.0, x0=1200.0):
    """A 14 px face crossing the frame ``step`` px a frame to the left: no two of its boxes overlap."""
    return [finding(f, (x0 - step * f, 214, x0 + 14 - step * f, 229), score, kind) for f in frames]


def test_a_small_face_crossing_the_frame_is_one_run_and_scattered_boxes_are_not():
    face = small_face(range(6)) + small_face([2, 3], 0.36, "rendered")
    assert [len(r) for r in group_findings(face, 2, 0.2, 1.5)] == [8]
    # it keeps its velocity over a frame it was not seen on (a gap within run_gap)
    assert [len(r) for r in group_findings(small_face([0, 1, 3, 4]), 2, 0.2, 1.5)] == [4]
    # without the step rule, each frame is its own run (IoU 0 from frame to frame)
    assert len(group_findings(face, 2, 0.2, 0.0)) == 6
    # boxes of that size jumping 3 widths a frame, or changing size 2x, stay apart
    assert len(group_findings(small_face(range(4), step=42.0), 2, 0.2, 1.5)) == 4
    grow = [finding(0, (600, 214, 614, 229), 0.3), finding(1, (572, 207, 602, 236), 0.3)]  # 1.4 widths
    assert len(group_findings(grow, 2, 0.2, 1.5)) == 2
    # once a run moves, a box off its path starts a new run (the step rule is for one-frame runs)
    off = small_face(range(3)) + [finding(3, (1140, 234, 1154, 249), 0.3)]  # on frame 3, 20 px below it
    assert [len(r) for r in group_findings(off, 2, 0.2, 1.5)] == [3, 1]


def test_describe_run_gives_the_evidence_and_one_box_per_frame():
    hidden = {f: np.array([[300, 40, 340, 110]], dtype=np.float32) for f in range(10)}
    found = moving_face(range(4)) + moving_face([1, 2], "detection", 0.95)
    run = describe_run(found, hidden, rim_scale=2.0)
    assert (run["first_frame"], run["last_frame"], run["frames"]) == (0, 3, 4)
    assert run["kinds"] == {"rendered": 4, "detection": 2} and run["agree_frames"] == 2
    assert (run["peak_score"], run["peak_frame"], run["width"]) == (0.95, 1, 40.0)
    assert run["second_score"] == 0.95  # detection 0.95 on frames 1 and 2: two looks at 0.95
    assert run["beside_hidden"] == 0.0  # 200 px away from the hidden box
    assert [row[0] for row in run["path"]] == [0, 1, 2, 3] and run["path"][1][-1] == 0.95
    near = describe_run(moving_face(range(4), x0=330.0), hidden, rim_scale=2.0)
    assert near["beside_hidden"] == 1.0  # centre within the hidden box grown 2x (x 280..360)
    assert describe_run(moving_face(range(4), x0=330.0), hidden, rim_scale=1.0)["beside_hidden"] == 0.0


def _run(**evidence) -> dict:
    base = {"frames": 1, "peak_score": 0.3, "second_score": 0.3, "width": 40.0, "beside_hidden": 0.0}
    base |= {"agree_frames": 0, "kinds": {"rendered": 1}, "detect_peak": 0.0}
    return {**base, **evidence}


@pytest.mark.parametrize(
    ("evidence", "level", "why"),
    [
        ({}, LOW, "1 frame(s), peak 0.30, 40 px, away from hidden regions"),
        ({"agree_frames": 4, "frames": 4, "beside_hidden": 1.0}, HIGH, "agree on 4 frame(s)"),
        ({"agree_frames": 3, "frames": 3, "beside_hidden": 1.0}, LOW, "3 frame(s), peak 0.30, 40 px"),
        ({"frames": 5, "peak_score": 0.3}, HIGH, "5 frames away from hidden regions"),
        # shorter: a placard seen at 0.38-0.61 on 4 frames by the rendered-frame check alone (paris-street)
        ({"frames": 4, "peak_score": 0.61, "second_score": 0.52}, LOW, "4 frame(s), peak 0.61"),
        ({"frames": 4, "peak_score": 0.29, "second_score": 0.29}, LOW, "peak 0.29"),
        # one look at 0.35 among weak ones (a turned head detected at 0.15-0.2 for 7 frames)
        ({"frames": 7, "peak_score": 0.35, "second_score": 0.2}, LOW, "7 frame(s), peak 0.35"),
        ({"frames": 2, "peak_score": 0.5}, LOW, "2 frame(s), peak 0.50"),
        ({"frames": 4, "peak_score": 0.5, "beside_hidden": 1.0}, LOW, "beside a hidden region"),
        ({"frames": 5, "peak_score": 0.6, "beside_hidden": 1.0}, HIGH, "5 frames beside a hidden region"),
        ({"peak_score": 0.7}, HIGH, "peak score 0.70"),
        (
            {
                "frames": 3,
                "peak_score": 0.4,
                "beside_hidden": 1.0,
                "kinds": {"detection": 3},
                "detect_peak": 0.3,
            },
            HIGH,
            "detect found it on 3 frames, peak 0.30",
        ),
        ({"frames": 3, "beside_hidden": 1.0, "kinds": {"detection": 3}, "detect_peak": 0.29}, LOW, "beside"),
        ({"peak_score": 0.95, "frames": 9, "width": 5.0}, LOW, "narrower than 8 px"),
    ],
)
def test_severity_rule(evidence, level, why):
    got, reasons = severity(_run(**evidence), PARAMS)
    assert got == level and any(why in r for r in reasons), reasons


def test_a_clean_video_with_scattered_low_score_noise_needs_no_review():
    hidden_face = [(f, 200, 100, 260, 170) for f in range(100)]  # one face, hidden all along
    rng = np.random.default_rng(0)
    noise = []
    for f in rng.choice(100, 12, replace=False):  # single frames at 0.20-0.30 on lamps, gloves, walls
        x, y = rng.uniform(0, 500, 2)
        noise.append(
            finding(
                int(f), (x, y, x + 30, y + 30), rng.uniform(0.2, 0.3), rng.choice(["rendered", "detection"])
            )
        )
    # the blurred head's rim re-detected at 0.3-0.5 for 4 frames, just below the hidden box
    noise += [finding(f, (205, 160, 255, 215), 0.3 + 0.05 * (f - 40)) for f in range(40, 44)]
    verdict = triage(noise, tracks(hidden_face), PARAMS)
    assert not verdict["needs_review"] and verdict["review_reasons"] == [] and verdict["n_high"] == 0
    assert verdict["n_runs"] >= 2 and all(r["severity"] == LOW for r in verdict["runs"])
    rim = next(r for r in verdict["runs"] if r["first_frame"] == 40)
    assert rim["frames"] == 4 and rim["beside_hidden"] == 1.0


def test_one_strong_look_among_weak_ones_needs_no_review_two_do():
    """A turned head detected at 0.15-0.2 for 7 frames, re-detected once at 0.31 on the delivered frame,
    away from hidden regions: noise (one look). A second look at 0.3 or more, on another frame or by the
    other check on the same frame, makes it a face to look at."""
    weak = moving_face(range(68, 75), "detection", 0.18)
    once = weak + [finding(74, (236, 50, 276, 100), 0.31)]
    assert not triage(once, NO_TRACKS, PARAMS)["needs_review"]
    for second in (
        finding(70, (232, 50, 272, 100), 0.33),
        finding(74, (236, 50, 276, 100), 0.3, "detection"),
    ):
        verdict = triage([*once, second], NO_TRACKS, PARAMS)
        assert verdict["needs_review"] and "seen twice" in verdict["review_reasons"][0]


def test_a_removed_track_needs_review_and_comes_first():
    noise = [finding(7, (500, 20, 530, 50), 0.24, "detection")]
    # the track of a face was removed: the rendered-frame check and the detect stage both see it
    leak = moving_face(range(30, 50)) + moving_face(range(30, 50), "detection", 0.7)
    verdict = triage(noise + leak, NO_TRACKS, PARAMS)
    assert verdict["needs_review"] and verdict["n_high"] == 1 and verdict["n_runs"] == 2
    first = verdict["runs"][0]
    assert (first["severity"], first["first_frame"], first["last_frame"], first["frames"]) == (
        HIGH,
        30,
        49,
        20,
    )
    assert verdict["review_reasons"] == [
        "frames 30-49: detect and the rendered-frame check agree on 20 frame(s); detect found it on 20 "
        "frames, peak 0.70; 20 frames away from hidden regions, peak 0.85, seen twice at 0.3+; "
        "peak score 0.85"
    ]
    assert verdict["runs"][1]["severity"] == LOW
    # five frames of a track removed, seen by the rendered-frame check alone, at a modest score
    assert triage(moving_face(range(10, 15), score=0.45), NO_TRACKS, PARAMS)["needs_review"]


def test_triage_params_come_from_the_audit_section():
    cfg = AuditConfig(rim_frames=9, peak_score=0.8)
    p = TriageParams.from_config(cfg)
    assert (p.rim_frames, p.peak_score, p.run_gap) == (9, 0.8, AuditConfig().run_gap)


HIDDEN_UNTIL_29 = tracks([(f, 100, 50, 140, 100) for f in range(30)])  # a face hidden on frames 0-29


@pytest.mark.parametrize(
    ("found", "the_tracks", "cuts", "level"),
    [
        # five weak frames (the rendered-frame check's second look) right where the track ended
        (moving_face(range(31, 36), "lost", 0.12, x0=40.0), HIDDEN_UNTIL_29, (), HIGH),
        # the same, seen before a track picks the face up (a track starting on frame 37)
        (
            moving_face(range(31, 36), "lost", 0.12, x0=40.0),
            tracks([(f, 116, 50, 156, 100) for f in range(37, 60)]),
            (),
            HIGH,
        ),
        # a weak face on frames 31-35 where a track has no rows (removed from its middle: a correction)
        (
            moving_face(range(31, 36), "detection", 0.18, x0=40.0),
            tracks([(f, 100 + 2 * f, 50, 140 + 2 * f, 100) for f in [*range(31), *range(36, 60)]]),
            (),
            HIGH,
        ),
        # the same where the rows are unconfirmed detections (regularize.keep_score): no face was lost
        (
            moving_face(range(31, 36), "detection", 0.18, x0=40.0),
            tracks([(f, 100 + 2 * f, 50, 140 + 2 * f, 100) for f in [*range(31), *range(36, 60)]]).assign(
                source="unconfirmed"
            ),
            (),
            LOW,
        ),
        # the same findings beside the whole track: its rows hide the face, so what is seen is its rim
        (
            moving_face(range(31, 36), "detection", 0.18, x0=40.0),
            tracks([(f, 100 + 2 * f, 50, 140 + 2 * f, 100) for f in range(60)]),
            (),
            LOW,
        ),
        # without the track, or across a shot cut, far from where it ended, too long after, or too short
        (moving_face(range(31, 36), "lost", 0.12, x0=40.0), NO_TRACKS, (), LOW),
        (moving_face(range(31, 36), "lost", 0.12, x0=40.0), HIDDEN_UNTIL_29, (31,), LOW),
        (moving_face(range(31, 36), "lost", 0.12, x0=300.0), HIDDEN_UNTIL_29, (), LOW),
        (moving_face(range(34, 39), "lost", 0.12, x0=40.0), HIDDEN_UNTIL_29, (), LOW),
        (moving_face(range(31, 35), "lost", 0.12, x0=40.0), HIDDEN_UNTIL_29, (), LOW),
    ],
)
def test_a_low_score_face_the_tracks_lost_needs_review(found, the_tracks, cuts, level):
    verdict = triage(found, the_tracks, PARAMS, cuts)
    (run,) = verdict["runs"]
    assert run["severity"] == level and verdict["needs_review"] == (level == HIGH), run["reasons"]
    if level == HIGH:
        assert "lost a face" in verdict["review_reasons"][0]


def test_scattered_noise_near_where_tracks_end_needs_no_review():
    # faces hidden until they leave; single weak frames scattered over the video, some near a track's end
    ends = tracks([(f, 100 + 150 * t, 50, 140 + 150 * t, 100) for t in range(3) for f in range(10 + 20 * t)])
    ends["track_id"] = np.repeat(np.arange(3), [10, 30, 50])
    rng = np.random.default_rng(1)
    noise = [
        finding(f, (100 + 150 * t, 50, 140 + 150 * t, 100), 0.31) for t, f in ((0, 10), (1, 31), (2, 50))
    ]
    for f in rng.choice(np.arange(60, 100), 8, replace=False):
        x, y = rng.uniform(0, 500, 2)
        noise.append(finding(int(f), (x, y, x + 30, y + 30), rng.uniform(0.2, 0.3), "detection"))
    verdict = triage(noise, ends, PARAMS)
    assert not verdict["needs_review"], verdict["review_reasons"]
    assert sum(r["lost_track"] is not None for r in verdict["runs"]) == 3  # seen, but one frame each
    assert all(r["severity"] == LOW for r in verdict["runs"])


def test_lost_regions_of_a_video_without_faces_or_without_a_window_are_empty():
    """A video with no tracks (no face anywhere) has nowhere a face was lost; window 0 turns it off."""
    assert lost_regions(NO_TRACKS, (), 12, 2.0, 60) == {}
    assert lost_regions(HIDDEN_UNTIL_29, (), 0, 2.0, 60) == {}
    regions = lost_regions(HIDDEN_UNTIL_29, (), 3, 2.0, 60)
    assert sorted(regions) == [30, 31, 32]  # the 3 frames after the track's last frame (29), none before 0
