"""Following faces by appearance past the ends of their tracks, both ways in time, in the regularize stage."""

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from faceoff.boxes import DETECTION_SCHEMA, read_boxes, read_metadata, write_boxes
from faceoff.config import RegularizeConfig
from faceoff.errors import FaceOffError
from faceoff.follow import FollowParams, follow_tracks
from faceoff.probe import probe_video
from faceoff.stages.regularize import run_regularize
from faceoff.synth.clips import write_clip

W, H, N = 192, 128, 40
SIZE, Y0, X0, VX = 24, 50, 20, 3  # a textured "head" moving right 3 px per frame
FLAT = (150, 60)  # top left of a flat grey square that never moves


def _follow(**changes) -> FollowParams:
    """Following as users get it (the regularize section's defaults), with ``changes``."""
    return FollowParams.from_config(RegularizeConfig(**changes))


def _truth(frame: int) -> np.ndarray:
    x = X0 + VX * frame
    return np.array([x, Y0, x + SIZE, Y0 + SIZE], dtype=np.float64)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    rng = np.random.default_rng(3)
    background = rng.integers(90, 110, (H, W, 3), dtype=np.uint8)  # faint noise
    background[FLAT[1] : FLAT[1] + 40, FLAT[0] : FLAT[0] + 40] = 128
    head = np.kron(rng.integers(0, 256, (6, 6, 3)), np.ones((4, 4, 1))).astype(np.uint8)  # 24 px, blocky
    frames = []
    for f in range(N):
        frame = background.copy()
        x1, y1, x2, y2 = _truth(f).astype(int)
        frame[y1:y2, x1:x2] = head
        frames.append(frame)
    return write_clip(tmp_path_factory.mktemp("follow") / "moving.mp4", np.stack(frames), crf=12)


def _track(frames, track_id=0, box_of=_truth, score=0.9) -> pd.DataFrame:
    boxes = np.stack([box_of(f) for f in frames])
    out = pd.DataFrame(boxes, columns=["x1", "y1", "x2", "y2"])
    out.insert(0, "frame_index", np.asarray(frames, dtype=np.int64))
    out["score"] = score
    out["track_id"] = track_id
    out["source"] = "detected"
    return out


def test_follows_a_head_forwards_and_backwards(clip: Path) -> None:
    info = probe_video(clip)
    rows = follow_tracks(clip, info, _track(range(15, 21)), _follow(follow_frames=8))
    assert set(rows["source"]) == {"followed"} and set(rows["track_id"]) == {0}
    assert rows["frame_index"].tolist() == [*range(7, 15), *range(21, 29)]  # 8 frames each way, in order
    for _, r in rows.iterrows():
        np.testing.assert_allclose(r[["x1", "y1", "x2", "y2"]].to_numpy(float), _truth(r.frame_index), atol=2)
    assert (rows["score"] >= _follow().min_score).all()
    again = follow_tracks(clip, info, _track(range(15, 21)), _follow(follow_frames=8))
    pd.testing.assert_frame_equal(rows, again)  # deterministic


def test_followed_rows_carry_the_pad_of_their_track_end(clip: Path) -> None:
    track = _track(range(15, 21)).assign(pad=[5.0, 1.0, 1.0, 1.0, 1.0, 3.0])
    rows = follow_tracks(clip, probe_video(clip), track, _follow(follow_frames=4))
    pads = rows.set_index("frame_index")["pad"].to_dict()
    assert pads == {11: 5, 12: 5, 13: 5, 14: 5, 21: 3, 22: 3, 23: 3, 24: 3}


def test_ends_near_the_video_edges_follow_as_far_as_the_video_goes(clip: Path) -> None:
    info = probe_video(clip)
    rows = follow_tracks(clip, info, _track(range(3, 35)), _follow(follow_frames=30))
    assert rows["frame_index"].tolist() == [0, 1, 2, *range(35, N)]


def test_nothing_is_followed_on_a_flat_region_or_when_off(clip: Path) -> None:
    info = probe_video(clip)
    inside_flat = np.array([FLAT[0] + 8, FLAT[1] + 8, FLAT[0] + 32, FLAT[1] + 32], dtype=np.float64)
    flat = _track(range(10, 20), box_of=lambda f: inside_flat)
    assert follow_tracks(clip, info, flat, _follow()).empty
    assert follow_tracks(clip, info, _track(range(15, 21)), _follow(follow_frames=0)).empty


def test_following_stops_where_another_track_covers_the_face(clip: Path) -> None:
    info = probe_video(clip)
    tracks = pd.concat([_track(range(15, 21)), _track(range(25, 30), track_id=1)], ignore_index=True)
    rows = follow_tracks(clip, info, tracks, _follow(follow_frames=4))
    forward = rows[(rows.track_id == 0) & (rows.frame_index > 20)]["frame_index"].tolist()
    assert forward == [21, 22, 23, 24]  # and not into track 1's frames
    backward = rows[(rows.track_id == 1) & (rows.frame_index < 25)]["frame_index"].tolist()
    assert backward == [21, 22, 23, 24]  # track 1 followed back until track 0's last frame, 20
    weak = follow_tracks(clip, info, _track(range(15, 21), score=0.3), _follow(follow_min_track_score=0.5))
    assert weak.empty  # only tracks with a confident detection are followed when asked


def test_a_weak_track_is_followed_when_it_is_long(clip: Path) -> None:
    """A face the detector scores low on every frame (a masked face) but sees for long is followed; a short
    weak track is not, nor a long one when the count rule is off."""
    info = probe_video(clip)
    p = _follow(follow_frames=6)
    assert p.min_track_score > 0.2 and p.min_track_detections == 20  # the defaults this test is about
    long_weak = follow_tracks(clip, info, _track(range(10, 30), score=0.2), p)
    assert long_weak["frame_index"].tolist() == [*range(4, 10), *range(30, 36)]
    for _, r in long_weak.iterrows():
        np.testing.assert_allclose(r[["x1", "y1", "x2", "y2"]].to_numpy(float), _truth(r.frame_index), atol=2)
    assert follow_tracks(clip, info, _track(range(10, 29), score=0.2), p).empty  # 19 detections
    off = _follow(follow_frames=6, follow_min_track_detections=0)
    assert follow_tracks(clip, info, _track(range(10, 30), score=0.2), off).empty


def _detections(tmp_path: Path, info) -> Path:
    det = _track(range(15, 21)).drop(columns=["track_id", "source"])
    det["pts_time"] = np.asarray(info.pts_time)[det["frame_index"]]
    path = tmp_path / "det.parquet"
    write_boxes(det, path, {"frame_count": info.frame_count}, DETECTION_SCHEMA)
    return path


def test_regularize_stage_adds_followed_rows_with_their_timestamps(clip: Path, tmp_path: Path) -> None:
    info = dataclasses.replace(probe_video(clip), cuts=[])  # one shot
    det = _detections(tmp_path, info)
    cfg = RegularizeConfig(follow_frames=5, extend=0, motion_margin=0)
    out = tmp_path / "tracks.parquet"
    run_regularize(det, info, cfg, out, video=clip)
    tracks = read_boxes(out)
    followed = tracks[tracks.source == "followed"]
    assert followed["frame_index"].tolist() == [*range(10, 15), *range(21, 26)]
    np.testing.assert_allclose(followed["pts_time"], np.asarray(info.pts_time)[followed["frame_index"]])
    assert read_metadata(out)["followed_boxes"] == 10
    # without the video the stage refuses rather than silently not following
    with pytest.raises(FaceOffError, match="--video"):
        run_regularize(det, info, cfg, tmp_path / "t2.parquet")
    plain = run_regularize(det, info, RegularizeConfig(follow_frames=0), tmp_path / "t3.parquet")
    assert "followed" not in set(plain["source"])


@pytest.mark.parametrize("search, followed", [(0.4, 10), (0.3, 0)])
def test_a_step_further_than_the_search_radius_is_drift(tmp_path: Path, search: float, followed: int) -> None:
    """A head moving 6 px right and 6 px down per frame (8.5 px) lies inside the square search window
    of radius 0.3 x 24 = 7.2 px (6 <= 7.2 on each axis) but further than its radius: following stops
    there; with radius 9.6 px it is followed."""
    rng = np.random.default_rng(5)
    background = rng.integers(90, 110, (H, W, 3), dtype=np.uint8)
    head = np.kron(rng.integers(0, 256, (6, 6, 3)), np.ones((4, 4, 1))).astype(np.uint8)

    def box(f: int) -> np.ndarray:
        return np.array([20 + 6 * f, 10 + 6 * f, 44 + 6 * f, 34 + 6 * f], dtype=np.float64)

    frames = []
    for f in range(14):
        frame = background.copy()
        x1, y1, x2, y2 = box(f).astype(int)
        frame[y1:y2, x1:x2] = head
        frames.append(frame)
    video = write_clip(tmp_path / "diagonal.mp4", np.stack(frames), crf=12)
    rows = follow_tracks(
        video, probe_video(video), _track(range(4), box_of=box), _follow(follow_search=search)
    )
    assert len(rows) == followed
    for _, r in rows.iterrows():
        np.testing.assert_allclose(r[["x1", "y1", "x2", "y2"]].to_numpy(float), box(r.frame_index), atol=2)
