"""``detect.stride``: detection on every k-th frame, the go-back pass over skipped frames, the record of
detected frames in the table, the tracks that fill the frames between, and resume with a stride."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import skimage.data

from faceoff.boxes import read_metadata
from faceoff.config import DetectConfig, RegularizeConfig
from faceoff.errors import FaceOffError
from faceoff.metrics import iou_matrix
from faceoff.probe import probe_video
from faceoff.stages.detect import run_detect
from faceoff.stages.regularize import run_regularize
from faceoff.stride import (
    RevisitParams,
    detected_frames,
    detected_record,
    longest_skip,
    revisit,
    strided,
)
from faceoff.synth.clips import write_clip
from faceoff.tracking import TrackParams, track_regularize

PARAMS = RevisitParams(weak_score=0.4, small_face=40)
FACE_FRAMES = range(5, 26)  # the moving face of ``clip`` is drawn on these frames


def rows(*boxes):
    """(N,6) detection rows from ``(frame, x1, y1, score)`` of 60 px boxes (``(..., width)`` overrides)."""
    out = []
    for frame, x, y, score, *width in boxes:
        w = width[0] if width else 60
        out.append((frame, x, y, x + w, y + w, score))
    return np.array(out, dtype=np.float64).reshape(-1, 6)


def skipped_between(*pairs):
    """The frames strictly between each ``(a, b)``."""
    return sorted(f for a, b in pairs for f in range(a + 1, b))


def test_strided_takes_every_kth_frame_and_the_last():
    assert np.flatnonzero(strided(11, 3)).tolist() == [0, 3, 6, 9, 10]
    assert strided(5, 1).all()
    assert np.flatnonzero(strided(7, 3)).tolist() == [0, 3, 6]
    with pytest.raises(ValueError):
        strided(5, 0)


def test_revisit_goes_back_around_a_face_s_first_and_last_detected_frames():
    looked = strided(16, 3)  # 0 3 6 9 12 15
    steady = rows(*[(f, 100 + f, 50, 0.9) for f in (3, 6, 9, 12)])
    picked = np.flatnonzero(revisit(steady, looked, PARAMS)).tolist()
    assert picked == skipped_between((0, 3), (12, 15))  # not the frames inside the run: 4 5 7 8 10 11


def test_revisit_goes_back_into_a_gap():
    looked = strided(16, 3)
    gap = rows(*[(f, 100, 50, 0.9) for f in (0, 3, 9, 12, 15)])  # missed on frame 6
    assert np.flatnonzero(revisit(gap, looked, PARAMS)).tolist() == skipped_between((3, 6), (6, 9))


@pytest.mark.parametrize(
    ("changed", "why"),
    [((6, 100, 50, 0.3), "weak"), ((6, 100, 50, 0.9, 30), "small")],
)
def test_revisit_goes_back_around_weak_and_small_boxes(changed, why):
    looked = strided(16, 3)
    boxes = rows(*[(f, 100, 50, 0.9) for f in (0, 3, 9, 12, 15)], changed)
    assert np.flatnonzero(revisit(boxes, looked, PARAMS)).tolist() == skipped_between((3, 6), (6, 9)), why


def test_revisit_takes_a_face_that_moved_out_of_reach_for_a_new_one():
    looked = strided(7, 3)  # 0 3 6
    fast = rows((0, 100, 50, 0.9), (3, 180, 50, 0.9), (6, 200, 50, 0.9))  # 80 px, then 20 px
    assert np.flatnonzero(revisit(fast, looked, PARAMS)).tolist() == [1, 2]


def test_revisit_leaves_frames_without_faces_and_every_frame_detected_alone():
    assert not revisit(rows(), strided(16, 3), PARAMS).any()
    assert not revisit(rows(*[(f, 100, 50, 0.1) for f in range(8)]), strided(8, 1), PARAMS).any()


def test_detected_record_round_trips_and_names_a_wrong_frame_count():
    mask = np.random.default_rng(0).random(1001) < 0.4
    meta = {"detected_frames": detected_record(mask)}
    np.testing.assert_array_equal(detected_frames(meta, 1001), mask)
    assert detected_frames({}, 1001) is None
    with pytest.raises(ValueError, match="1001 frames"):
        detected_frames(meta, 1000)


def test_longest_skip():
    assert longest_skip(np.array([1, 0, 0, 1, 0, 1], bool)) == 2
    assert longest_skip(np.ones(4, bool)) == 0
    assert longest_skip(strided(100, 4)) == 3


def _tracker(**changes) -> TrackParams:
    base = {"smooth_window": 1, "motion_margin": 0.0, "uncertain_pad": 0.0, "min_detections": 1}
    return TrackParams.from_config(RegularizeConfig(**{**base, **changes}))


def test_tracks_bridge_skipped_frames_longer_than_max_gap_but_not_missed_ones():
    n, looked = 40, strided(40, 6)  # 0 6 12 ... 36 39
    det = pd.DataFrame(rows(*[(f, 100 + 2 * f, 50, 0.9) for f in (6, 12, 18, 24, 30)]))
    det.columns = ["frame_index", "x1", "y1", "x2", "y2", "score"]
    params = _tracker(max_gap=2, extend=1)
    tracks = track_regularize(det, np.arange(n) / 25, params, 640, 360, looked)
    assert tracks["track_id"].nunique() == 1
    # every frame between the detected frames without the face (0 and 36), extended 1 frame past them
    assert tracks["frame_index"].tolist() == list(range(0, 37))
    np.testing.assert_allclose(tracks["x1"], 100 + 2 * np.arange(37))  # interpolated and extended alike
    assert set(tracks.loc[tracks.frame_index.between(7, 11), "source"]) == {"interpolated"}
    # without the record the same rows are five faces: a gap of 5 frames is more than max_gap 2
    assert track_regularize(det, np.arange(n) / 25, params, 640, 360)["track_id"].nunique() == 5
    # a frame detected without the face inside a gap longer than max_gap is a miss: the track splits
    looked_again = looked.copy()
    looked_again[15] = True
    split = track_regularize(det, np.arange(n) / 25, params, 640, 360, looked_again)
    assert split["track_id"].nunique() == 2


@pytest.fixture
def clip(tmp_path, small_face_frames):
    """40 frames of 192x144: a 44 px face moving 3 px right per frame on frames 5-25, and the 11 px face
    of ``small_face_frames`` (found only by the zoom) standing still throughout."""
    frames, _ = small_face_frames(40)
    face = skimage.data.astronaut()[30:190, 150:290][::2, ::2]
    for t in FACE_FRAMES:
        frames[t, 30 : 30 + face.shape[0], 3 * t : 3 * t + face.shape[1]] = face
    return write_clip(tmp_path / "moving.mp4", frames, fps=25)


@pytest.mark.parametrize("stride_revisit", [False, True])
def test_stride_detects_what_its_record_says_and_the_tracks_fill_every_frame(
    tmp_path, watch_detector, clip, stride_revisit
):
    info = dataclasses.replace(probe_video(clip), cuts=[])  # one shot
    cfg = DetectConfig(width=0, batch_size=4, zoom_scale=1)  # without the zoom the small face is not found
    every = run_detect(str(clip), info, cfg, tmp_path / "d1.parquet")
    truth = every[every["frame_index"].isin(FACE_FRAMES)]
    assert truth["frame_index"].nunique() >= 18
    calls = watch_detector((info.height, info.width))
    out = tmp_path / "d3.parquet"
    det = run_detect(
        str(clip), info, cfg.model_copy(update={"stride": 3, "stride_revisit": stride_revisit}), out
    )

    meta = read_metadata(out)
    detected = detected_frames(meta, info.frame_count)
    assert meta["stride"] == 3
    assert sum(calls) == detected.sum() == meta["strided_frame_count"] + meta["revisited_frame_count"]
    assert set(det["frame_index"]) <= set(np.flatnonzero(detected))
    plain = strided(info.frame_count, 3)
    if stride_revisit:  # around the face's first and last detected frames (6 and 24): 4 5, 25 26
        assert {4, 5, 25, 26} <= set(np.flatnonzero(detected & ~plain))
        assert detected.sum() < info.frame_count
    else:
        np.testing.assert_array_equal(detected, plain)

    tracks = run_regularize(out, info, RegularizeConfig(follow_frames=0), tmp_path / "t3.parquet")
    for frame, face in truth.groupby("frame_index"):
        boxes = tracks.loc[tracks.frame_index == frame, ["x1", "y1", "x2", "y2"]].to_numpy()
        assert len(boxes), f"frame {frame}: the face has no track box"
        assert iou_matrix(face[["x1", "y1", "x2", "y2"]].to_numpy(), boxes).max() > 0.6, frame


def test_kernel_refuses_a_stride_it_cannot_bridge(tmp_path, clip):
    info = dataclasses.replace(probe_video(clip), cuts=[])  # one shot
    run_detect(str(clip), info, DetectConfig(width=0, zoom_scale=1, stride=4), tmp_path / "d.parquet")
    narrow = RegularizeConfig(method="kernel", kernel_radius=1)
    with pytest.raises(FaceOffError, match="kernel_radius 1"):
        run_regularize(tmp_path / "d.parquet", info, narrow, tmp_path / "t.parquet")
    kernel = RegularizeConfig(method="kernel", kernel_radius=2)
    assert not run_regularize(tmp_path / "d.parquet", info, kernel, tmp_path / "t.parquet").empty
