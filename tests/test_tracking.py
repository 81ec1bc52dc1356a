"""Tracking-based regularisation: linking, hysteresis, interpolation, extension, smoothing, motion margin."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faceoff.boxes import hidden_boxes
from faceoff.config import RegularizeConfig
from faceoff.tracking import TrackParams, link_detections, track_regularize

W, H = 1280, 720


def _params(**changes) -> TrackParams:
    """The tracker as users get it (the regularize section's defaults), with ``changes``."""
    return TrackParams.from_config(RegularizeConfig(**changes))


PLAIN = _params(smooth_window=1, motion_margin=0.0, extend=0, min_detections=1, uncertain_pad=0.0)


def _moving(frames, x0, y0, vx, vy, size, score=0.9):
    f = np.asarray(frames)
    x, y = x0 + vx * f, y0 + vy * f
    return pd.DataFrame({"frame_index": f, "x1": x, "y1": y, "x2": x + size, "y2": y + size, "score": score})


def _run(det, n, params=PLAIN):
    return track_regularize(det, np.arange(n) / 25.0, params, W, H)


@settings(max_examples=40, deadline=None)
@given(
    x0=st.floats(300, 700),  # stays inside the 1280-wide frame for |vx| <= 6 over <= 45 frames
    vx=st.floats(-6, 6),
    vy=st.floats(-3, 3),
    size=st.floats(30, 120),
    gap_start=st.integers(3, 20),
    gap=st.integers(1, 15),
)
def test_linear_motion_gap_is_filled_exactly(x0, vx, vy, size, gap_start, gap):
    n = gap_start + gap + 10
    frames = [f for f in range(n) if not gap_start <= f < gap_start + gap]
    tracks = _run(_moving(frames, x0, 200, vx, vy, size), n)
    assert tracks["frame_index"].tolist() == list(range(n))
    assert tracks["track_id"].nunique() == 1
    truth = _moving(range(n), x0, 200, vx, vy, size)
    np.testing.assert_allclose(tracks[["x1", "y1", "x2", "y2"]], truth[["x1", "y1", "x2", "y2"]], atol=1e-3)
    filled = tracks[tracks.frame_index.between(gap_start, gap_start + gap - 1)]
    assert set(filled["source"]) == {"interpolated"}


@settings(max_examples=30, deadline=None)
@given(max_gap=st.integers(0, 10), extra=st.integers(1, 10))
def test_no_track_bridges_a_longer_gap(max_gap, extra):
    gap = max_gap + extra
    frames = list(range(5)) + list(range(5 + gap, 10 + gap))
    params = _params(smooth_window=1, motion_margin=0.0, extend=0, min_detections=1, max_gap=max_gap)
    tracks = _run(_moving(frames, 300, 200, 0, 0, 60), 10 + gap, params)
    assert tracks["track_id"].nunique() == 2
    assert not tracks["frame_index"].between(5, 4 + gap).any()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_deterministic_and_order_independent(seed):
    rng = np.random.default_rng(seed)
    parts = [_moving(range(0, 40, rng.integers(1, 4)), rng.uniform(0, 900), rng.uniform(0, 500), 2, 1, 50)]
    parts.append(_moving(range(10, 30), 100, 100, 3, 0, 80, score=0.6))
    det = pd.concat(parts, ignore_index=True)
    det["score"] = rng.uniform(0.2, 1.0, len(det))
    a = track_regularize(det, np.arange(40) / 25.0, _params(), W, H)
    b = track_regularize(det.copy(), np.arange(40) / 25.0, _params(), W, H)
    c = track_regularize(det.sample(frac=1, random_state=seed), np.arange(40) / 25.0, _params(), W, H)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)


@settings(max_examples=30, deadline=None)
@given(score=st.floats(0.05, 0.49), frame=st.integers(0, 29))
def test_isolated_low_score_blip_is_dropped(score, frame):
    face = _moving(range(30), 100, 100, 1, 0, 60)
    blip = pd.DataFrame(
        {"frame_index": [frame], "x1": [900], "y1": [500], "x2": [950], "y2": [550], "score": [score]}
    )
    tracks = _run(pd.concat([face, blip]), 30, _params())
    assert (tracks["x1"] < 800).all(), "the blip survived"
    assert tracks["track_id"].nunique() == 1


def test_low_score_detections_join_a_confident_track():
    det = _moving(range(20), 100, 100, 2, 0, 60, score=0.3)
    det.loc[10, "score"] = 0.9
    tracks = _run(det, 20, _params(extend=0))
    assert len(tracks) == 20
    # a weak flicker shorter than persistent_detections (8 by default) is dropped
    weak_only = _run(_moving(range(6), 100, 100, 2, 0, 60, score=0.3), 20, _params())
    assert weak_only.empty


@settings(max_examples=30, deadline=None)
@given(length=st.integers(2, 40), score=st.floats(0.2, 0.39))
def test_a_weak_track_counts_once_it_persists(length, score):
    """Persistence is evidence too: a weak track is a face once it holds ``persistent_detections``
    detections (small faces rarely score high); a shorter weak flicker stays dropped."""
    params = _params(extend=0)  # persistent_detections 8, confident_score 0.4: the defaults
    tracks = _run(_moving(range(length), 100, 100, 2, 0, 20, score=score), 40, params)
    assert len(tracks) == (length if length >= 8 else 0)
    off = _params(extend=0, persistent_detections=0)
    assert _run(_moving(range(length), 100, 100, 2, 0, 20, score=score), 40, off).empty


def test_default_config_keeps_a_persistent_weak_face():

    params = _params()
    weak = _moving(range(12), 100, 100, 1, 0, 18, score=0.25)
    assert _run(weak, 12, params)["frame_index"].nunique() == 12
    assert _run(weak.iloc[:3], 12, params).empty


def test_extension_both_ways_with_velocity_and_clipped_to_video():
    tracks = _run(_moving(range(10, 20), 100, 100, 4, 0, 60), 23, dataclasses.replace(PLAIN, extend=5))
    ext = tracks[tracks.source == "extended"]
    assert ext["frame_index"].tolist() == [5, 6, 7, 8, 9, 20, 21, 22]
    np.testing.assert_allclose(ext["x1"], 100 + 4 * ext["frame_index"])


def test_smoothing_never_shrinks_below_detection_and_motion_pads():
    rng = np.random.default_rng(1)
    det = _moving(range(30), 100, 100, 8, 0, 60)
    det[["x1", "x2"]] += rng.normal(0, 3, (30, 1))
    params = _params(extend=0, motion_margin=1.0)
    tracks = _run(det, 30, params).set_index("frame_index")
    d = det.set_index("frame_index")
    assert (tracks["x1"] <= d["x1"] + 1e-4).all() and (tracks["x2"] >= d["x2"] - 1e-4).all()
    slow = _run(_moving(range(30), 100, 100, 0.5, 0, 60), 30, params)
    assert tracks["pad"].median() > slow["pad"].median() + 5
    hidden = hidden_boxes(tracks)
    hidden_w = (hidden[:, 2] - hidden[:, 0]).mean()
    assert hidden_w == pytest.approx((tracks["x2"] - tracks["x1"] + 2 * tracks["pad"]).mean(), rel=1e-5)


def test_motion_pad_leaves_the_box_on_the_face():
    det = _moving(range(20), 100, 100, 6, 0, 60)
    tracks = _run(det, 20, _params(extend=0, smooth_window=1, motion_margin=1.0))
    np.testing.assert_allclose(tracks[["x1", "y1", "x2", "y2"]], det[["x1", "y1", "x2", "y2"]], atol=1e-3)
    np.testing.assert_allclose(tracks["pad"], 6.0, atol=1e-4)  # 6 px per frame, on every side
    assert (_run(det, 20, _params(extend=0, smooth_window=1, motion_margin=0.0))["pad"] == 0).all()


def test_weak_boxes_get_a_wider_pad_than_sure_ones():
    params = _params(
        confident_score=0.3, extend=0, smooth_window=1, motion_margin=0.0, uncertain_pad=0.2, sure_score=0.6
    )
    still = [_moving(range(10), 100 + 200 * k, 100, 0, 0, 50, score=s) for k, s in enumerate((0.9, 0.6, 0.3))]
    tracks = _run(pd.concat(still), 10, params)
    pads = tracks.groupby("track_id")["pad"].agg(["min", "max"])
    assert pads["min"].equals(pads["max"])  # constant per track: same score, same size
    np.testing.assert_allclose(pads["min"].to_numpy(), [0.0, 0.0, 0.2 * 50 * 0.5], atol=1e-4)
    np.testing.assert_allclose(tracks[["x2"]].to_numpy() - tracks[["x1"]].to_numpy(), 50)  # boxes untouched


def test_two_crossing_faces_keep_their_identity():
    a = _moving(range(30), 100, 100, 10, 0, 60)
    b = _moving(range(30), 400, 300, -10, 0, 60)
    tracks = link_detections(pd.concat([a, b]), _params())
    assert len(tracks) == 2 and all(len(t.frames) == 30 for t in tracks)


def test_linking_an_empty_table_gives_no_tracks():
    assert link_detections(_moving([], 0, 0, 0, 0, 10), _params()) == []


@pytest.mark.parametrize("reach, n_tracks", [(1.0, 20), (1.3, 1)])
def test_a_face_faster_than_its_width_per_frame_starts_one_track(reach, n_tracks):
    """A new track has no velocity yet: only its wider ``link_new_distance`` lets a 16 px face moving
    20 px per frame (a small face crossing a wide shot) link from its second detection on."""
    det = _moving(range(20), 40, 300, 20, 0, 16, score=0.3)
    tracks = link_detections(det, _params(link_new_distance=reach))
    assert len(tracks) == n_tracks
    assert sorted(f for t in tracks for f in t.frames) == list(range(20))
