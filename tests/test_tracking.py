"""Tracking-based regularisation: linking, hysteresis, interpolation, extension, smoothing, motion margin,
faces at the frame edge, the pad bound."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faceoff.boxes import hidden_boxes
from faceoff.config import RegularizeConfig, RenderConfig
from faceoff.evaluate import COVERED_AT, face_fractions
from faceoff.shots import per_shot
from faceoff.tracking import TrackParams, hold_behind, link_detections, track_regularize

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
    det = _moving(range(20), 100, 100, 2, 0, 60, score=0.25)
    det.loc[10, "score"] = 0.9
    tracks = _run(det, 20, _params(extend=0))
    assert len(tracks) == 20
    # a weak flicker shorter than persistent_detections (8 by default) is dropped
    weak_only = _run(_moving(range(6), 100, 100, 2, 0, 60, score=0.25), 20, _params())
    assert weak_only.empty


@settings(max_examples=30, deadline=None)
@given(length=st.integers(2, 40), score=st.floats(0.15, 0.29))
def test_a_weak_track_counts_once_it_persists(length, score):
    """Persistence is evidence too: a weak track is a face once it holds ``persistent_detections``
    detections (small faces rarely score high); a shorter weak flicker stays dropped."""
    params = _params(extend=0)  # persistent_detections 8, confident_score 0.3: the defaults
    tracks = _run(_moving(range(length), 100, 100, 2, 0, 20, score=score), 40, params)
    assert len(tracks) == (length if length >= 8 else 0)
    off = _params(extend=0, persistent_detections=0)
    assert _run(_moving(range(length), 100, 100, 2, 0, 20, score=score), 40, off).empty


@pytest.mark.parametrize(("size", "kept"), [(20, True), (64, True), (65, False), (175, False)])
def test_persistence_keeps_small_weak_tracks_only(size, kept):
    """A weak track that persists is kept up to ``persistent_max_width`` (64 px): a small face. A weak
    track of larger boxes (kitchen-pass: a 175 px patch of clothes, 0.22 at best over 9 frames) is
    dropped; 0 lifts the limit, and a confident detection makes it a face whatever its size."""
    weak = _moving(range(12), 100, 100, 1, 0, size, score=0.21)
    assert _run(weak, 12, _params())["frame_index"].nunique() == (12 if kept else 0)
    assert _run(weak, 12, _params(persistent_max_width=0))["frame_index"].nunique() == 12
    weak.loc[5, "score"] = 0.5
    assert _run(weak, 12, _params())["frame_index"].nunique() == 12


@pytest.mark.parametrize("score", [0.3, 0.35, 0.39])
def test_a_small_face_seen_briefly_at_a_moderate_score_is_kept(score):
    """At the defaults two detections of 0.3 or more make a face (real clips: an 18-22 px face seen on two
    or three frames at 0.30-0.39 while it passes others); one detection alone stays dropped."""
    brief = _moving(range(5, 8), 400, 200, 3, 0, 20, score=score)
    tracks = _run(brief, 20, _params())
    assert set(range(5, 8)) <= set(tracks["frame_index"]), "the brief face was dropped"
    assert _run(brief.iloc[:1], 20, _params()).empty


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
    det = _moving(range(20), 40, 300, 20, 0, 16, score=0.25)
    tracks = link_detections(det, _params(link_new_distance=reach))
    assert len(tracks) == n_tracks
    assert sorted(f for t in tracks for f in t.frames) == list(range(20))


@pytest.mark.parametrize("score, n_tracks", [(0.45, 1), (0.25, 9)])
def test_a_small_face_two_widths_a_frame_starts_a_track_when_its_detections_are_sure(score, n_tracks):
    """A 13 px face moving 24 px per frame (1.8 widths: a pan; the synthetic suite's 1080p walkers)
    detected at ``confident_score`` or more links within ``link_sure_distance`` and is hidden on every
    frame; the same chain of weak detections (noise in a crowd looks like this) does not link."""
    det = _moving(range(9), 300, 500, 24, 0, 13, score=score)
    assert len(link_detections(det, _params())) == n_tracks
    tracks = _run(det, 9, _params())
    if n_tracks == 1:
        truth = _moving(range(9), 300, 500, 24, 0, 13)
        assert (face_fractions(tracks, truth, RenderConfig(), W, H) >= COVERED_AT).all()
    else:
        assert tracks.empty


FACE_W, FACE_H = 166, 256  # the face of the real clip that leaves at the corner


def _sliding_face(vx: float, vy: float, n: int) -> np.ndarray:
    """(n, 4) true boxes of a face sliding out of the picture over its top left and back in: it moves by
    (vx, vy) per frame for n // 2 frames, then back."""
    t = np.arange(n)
    steps = np.minimum(t, n - t)[:, None]
    x, y = 300 + vx * steps[:, 0], 200 + vy * steps[:, 0]
    return np.stack([x, y, x + FACE_W, y + FACE_H], axis=1).astype(np.float64)


def _edge_detector(truth: np.ndarray, seen: float = 1.0) -> pd.DataFrame:
    """What a detector reports of ``truth``: the box clipped to the frame on frames showing at least
    ``seen`` of the face's width and height, and on frames showing a sliver of 25-40 px; nothing on the
    others (as on the real clip: a whole face, six frames of nothing, then a sliver at the corner)."""
    clipped = np.clip(truth, 0, [W, H, W, H])
    w, h = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
    enough = (w >= seen * FACE_W) & (h >= seen * FACE_H)
    sliver = (np.minimum(w, h) >= 25) & (np.minimum(w, h) <= 40)
    f = np.flatnonzero(enough | sliver)
    det = pd.DataFrame(clipped[f], columns=["x1", "y1", "x2", "y2"])
    return det.assign(frame_index=f, score=0.9)


@pytest.mark.parametrize("vx, vy, seen", [(-20, 0, 1.0), (-8, 0, 0.6), (-12, -9, 0.6)])
def test_a_face_sliding_out_of_and_back_into_the_picture_stays_covered(vx, vy, seen):
    """Each frame, at least 90 % of the face's part in the picture is hidden (the render's own region,
    default config) while it slides out over the left edge or the top left corner and back in, seen
    by the detector only while ``seen`` of it is in view or as a sliver."""
    n = 2 * int(np.ceil(max(FACE_W + 300, FACE_H + 200) / max(abs(vx), 1))) + 20
    truth = _sliding_face(vx, vy, n)
    tracks = _run(_edge_detector(truth, seen), n, _params())
    gt = pd.DataFrame(truth, columns=["x1", "y1", "x2", "y2"]).assign(frame_index=np.arange(n))
    frac = face_fractions(tracks, gt, RenderConfig(), W, H)  # the in-picture part of each box
    assert (frac >= COVERED_AT).all(), np.flatnonzero(frac < COVERED_AT)
    in_view = (truth[:, 2] > 0) & (truth[:, 3] > 0)
    assert (frac[~in_view] == 1).all() and in_view.sum() < n  # it was out of the picture for a while


def test_a_face_leaving_keeps_its_size_and_is_held_at_the_edge():
    """Between a whole face and a sliver the box keeps the face's size (reaching past the edge, clipped
    to the frame); after the last detection at the edge it stays there ``edge_hold`` frames, and never
    past the frames the tracker is given."""
    n = 40
    truth = _sliding_face(-20, 0, 2 * n)[:n]  # leaves over the left edge at frame 23
    det = _edge_detector(truth)
    assert det["frame_index"].tolist() == [*range(16), 22]
    tracks = _run(det, n, dataclasses.replace(PLAIN, edge_hold=6)).set_index("frame_index")
    np.testing.assert_allclose(tracks.loc[16:22, "x2"], truth[16:23, 2], atol=1e-3)  # right side on the face
    assert (tracks.loc[16:22, "x1"] == 0).all()
    assert tracks.index.tolist() == list(range(29))  # held 6 frames past frame 22
    np.testing.assert_allclose(
        tracks.loc[23:28, ["x1", "y1", "x2", "y2"]], [truth[22].clip(0)] * 6, atol=1e-3
    )
    inset = det.assign(x1=det["x1"].where(det["x1"] > 0, 3.0))  # boxes stopping 3 px short of the edge
    assert _run(inset, n, dataclasses.replace(PLAIN, edge_hold=6))["frame_index"].max() == 28
    short = _run(det, 25, dataclasses.replace(PLAIN, edge_hold=6))
    assert short["frame_index"].max() == 24
    inside = _run(_moving(range(10), 400, 300, 0, 0, 60), 40, dataclasses.replace(PLAIN, edge_hold=6))
    assert inside["frame_index"].max() == 9  # a track ending inside the picture is not held


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    jump=st.floats(0, 200),
    fraction=st.floats(0, 2),
    margin=st.floats(0, 20),
)
def test_the_pad_never_exceeds_its_share_of_the_box(seed, jump, fraction, margin):
    """However far a track's boxes jump (and however weak they are), each pad is at most
    ``max_pad_fraction`` of its box's larger side."""
    rng = np.random.default_rng(seed)
    det = _moving(range(20), 500, 300, 0, 0, 30, score=0.5)
    det[["x1", "x2"]] += rng.uniform(-jump, jump, (20, 1)) * (rng.random((20, 1)) < 0.3)
    det[["x2", "y2"]] += rng.uniform(0, 40, (20, 2))
    params = _params(max_pad_fraction=fraction, motion_margin=margin, link_distance=10.0, confident_score=0.5)
    tracks = _run(det, 20, params)
    assert len(tracks)
    size = np.maximum(tracks["x2"] - tracks["x1"], tracks["y2"] - tracks["y1"])
    assert (tracks["pad"] <= fraction * size + 1e-6).all()
    if margin == 0 or jump == 0:
        return
    loose = _run(det, 20, dataclasses.replace(params, max_pad_fraction=100.0))
    assert (loose["pad"] >= tracks["pad"] - 1e-6).all()


def _behind_scene(score: float = 0.9) -> pd.DataFrame:
    """A 60 px face at (400, 300), seen on frames 0-18 and 30-39 at ``score``, while an 80 px head
    crossing at 8 px a frame covers 0.3 or more of it on frames 18-30 (0.4 on 18, 0.33 on 30)."""
    hidden = _moving([*range(19), *range(30, 40)], 400, 300, 0, 0, 60, score)
    return pd.concat([hidden, _moving(range(40), 200, 290, 8, 0, 80)], ignore_index=True)


def test_a_face_passing_behind_another_head_stays_hidden():
    """Each end of the face's two tracks lies behind the crossing head: both are held there while the
    head covers 0.3 of the box, until the other track has the face again, so the face has a box on every
    frame; held rows are ``extended``, keep the end's box with no pad and carry their own frame's
    timestamp."""
    params = dataclasses.replace(PLAIN, max_gap=5, occlusion_hold=30, occlusion_share=0.3)
    tracks = _run(_behind_scene(), 40, params)
    face = tracks[(tracks["x1"] == 400) & (tracks["y1"] == 300)]
    assert sorted(face["frame_index"].unique()) == list(range(40))
    held = face[face["source"] == "extended"]
    assert sorted(held["frame_index"]) == sorted([*range(19, 30)] * 2)
    np.testing.assert_allclose(held["pts_time"], held["frame_index"] / 25.0)
    weak = _run(_behind_scene(0.35), 40, dataclasses.replace(params, uncertain_pad=0.3))
    weak = weak[weak["y1"] == 300]
    assert (weak.loc[weak["source"] == "detected", "pad"] > 0).all()  # a weak box's pad...
    assert (weak.loc[weak["source"] == "extended", "pad"] == 0).all()  # ...does not grow a held box
    off = _run(_behind_scene(), 40, dataclasses.replace(params, occlusion_hold=0))
    assert sorted(off.loc[(off["x1"] == 400) & (off["y1"] == 300), "frame_index"]) == [
        *range(19),
        *range(30, 40),
    ]


def test_the_hold_behind_is_bounded_and_stops_at_a_cut():
    """Held at most ``occlusion_hold`` frames, never across a cut (the tracker runs per shot), and not at
    all where no other box covers the end."""
    params = dataclasses.replace(PLAIN, max_gap=5, occlusion_hold=0)
    tracks = _run(_behind_scene(), 40, params)
    pts = np.arange(40) / 25.0
    short = hold_behind(tracks, pts, dataclasses.replace(params, occlusion_hold=4, occlusion_share=0.3))
    first_face = short[(short["y1"] == 300) & (short["source"] == "extended")]
    assert sorted(first_face["frame_index"]) == [19, 20, 21, 22, 26, 27, 28, 29]
    holding = dataclasses.replace(params, occlusion_hold=30, occlusion_share=0.3)
    cut = per_shot(_behind_scene(), pts, [21], None, lambda d, t, _: track_regularize(d, t, holding, W, H))
    held = cut.loc[(cut["y1"] == 300) & (cut["source"] == "extended"), "frame_index"]
    assert sorted(held) == [19, 20, *range(21, 30)]
    alone = _run(_moving(range(10), 400, 300, 0, 0, 60), 40, dataclasses.replace(params, occlusion_hold=30))
    assert alone["frame_index"].max() == 9
