"""Shot cuts (faceoff/shots.py): found by the probe stage, and no track crosses one in regularize."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from faceoff.boxes import DETECTION_SCHEMA, read_metadata, write_boxes
from faceoff.config import Config, RegularizeConfig, ShotsConfig
from faceoff.decode import iter_frames
from faceoff.errors import FaceOffError
from faceoff.follow import FollowParams, follow_tracks
from faceoff.probe import probe_video, read_probe
from faceoff.shots import ShotParams, check_within_shots, find_cuts, per_shot, shot_bounds, shot_of
from faceoff.stages.probe import run_probe
from faceoff.stages.regularize import run_regularize
from faceoff.synth.clips import write_clip

W, H, N, CUT = 192, 128, 40, 20  # two shots of 20 frames: a hard cut starts frame 20
SIZE, Y0 = 24, 50  # a textured 24 px "head"
X_A, X_B = 40, 75  # its left edge on frame 0 of shot A and on the cut frame of shot B; 1 px a frame right


def _head_x(frame: int) -> int:
    return X_A + frame if frame < CUT else X_B + frame - CUT


def _box(frame: int) -> np.ndarray:
    x = _head_x(frame)
    return np.array([x, Y0, x + SIZE, Y0 + SIZE], dtype=np.float64)


def _background(rng: np.random.Generator, colour: tuple[int, int, int]) -> np.ndarray:
    """A lit room of one colour: a smooth gradient with faint noise."""
    ramp = np.linspace(0.6, 1.0, W)[None, :, None] * np.linspace(0.8, 1.0, H)[:, None, None]
    noise = rng.normal(0, 3, (H, W, 3))
    return np.clip(ramp * np.array(colour) + noise, 0, 255).astype(np.uint8)


def two_shots(path: Path, still_head: bool = False) -> Path:
    """Two clips joined by a hard cut at frame :data:`CUT`: shot A (a blue room, the head at
    :func:`_box`), then shot B (a red room, the same-looking head a little to the right). ``still_head``:
    the head stays at shot A's first place in both shots and only the room changes (a following by
    appearance would run across the cut)."""
    rng = np.random.default_rng(5)
    rooms = [_background(rng, (60, 90, 200)), _background(rng, (210, 80, 60))]
    head = np.kron(rng.integers(0, 256, (6, 6, 3)), np.ones((4, 4, 1))).astype(np.uint8)
    frames = []
    for f in range(N):
        frame = rooms[f >= CUT].copy()
        x1, y1, x2, y2 = (_box(0) if still_head else _box(f)).astype(int)
        frame[y1:y2, x1:x2] = head
        frames.append(frame)
    return write_clip(path, np.stack(frames), crf=12)


@pytest.fixture(scope="module")
def cut_clip(tmp_path_factory) -> Path:
    return two_shots(tmp_path_factory.mktemp("shots") / "two_shots.mp4")


@pytest.mark.parametrize("detector", ["adaptive", "content"])
def test_the_cut_is_found_at_its_frame(cut_clip: Path, detector: str) -> None:
    params = ShotParams.from_config(ShotsConfig(detector=detector))
    assert find_cuts(cut_clip, probe_video(cut_clip), params) == [CUT]


@pytest.mark.parametrize("detector", ["adaptive", "content"])
def test_an_interlaced_cut_is_found_where_the_first_field_changes(tmp_path: Path, detector: str) -> None:
    """An edit cut between the two fields of a frame (interlaced video, top field first): that frame's top
    field still shows shot A, its bottom field shot B. The cut is the frame whose first field, the one the
    detector reads, shows shot B."""
    source = two_shots(tmp_path / "p.mp4")
    grey = (
        np.concatenate([b for _, b in iter_frames(source, probe_video(source))]).mean(axis=3, keepdims=True)
        / 2
    )
    # grey, A dark and B light (4:2:0 chroma subsampled over both fields would blend the shots' colours)
    shot_a, shot_b = np.split(np.repeat(grey, 3, axis=3).astype(np.uint8), [CUT])
    shot_b = 255 - shot_b
    switch = 2 * CUT - 1  # the first field of shot B: the bottom field of frame CUT - 1
    fields = [shot_a[j // 2] for j in range(switch)] + [shot_b[j // 2] for j in range(2 * N - 2 - switch)]
    fields = np.stack(fields)
    woven = fields[0::2].copy()
    woven[:, 1::2] = fields[1::2, 1::2]  # frame k: top rows from field 2k, bottom rows from field 2k+1
    clip = write_clip(tmp_path / "i.mp4", woven, interlace="tff", crf=12)
    info = probe_video(clip)
    assert info.interlace == "tff"
    assert find_cuts(clip, info, ShotParams.from_config(ShotsConfig(detector=detector))) == [CUT]


def test_a_video_without_cuts_has_none(tmp_path: Path) -> None:
    one = two_shots(tmp_path / "a.mp4")
    info = probe_video(one)
    short = tmp_path / "short.mp4"
    # shot A alone, the head moving through it
    frames = np.concatenate([b for _, b in iter_frames(one, info)])[:CUT]
    write_clip(short, frames, crf=12)
    assert find_cuts(short, probe_video(short), ShotParams.from_config(ShotsConfig())) == []
    off = ShotParams.from_config(ShotsConfig(detector="off"))
    assert find_cuts(one, info, off) == []


def test_the_probe_json_records_the_cuts(cut_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "probe.json"
    info = run_probe(cut_clip, out, ShotsConfig())
    assert info.cuts == [CUT]
    assert json.loads(out.read_text())["cuts"] == [CUT]
    assert read_probe(out).cuts == [CUT]
    off = run_probe(cut_clip, tmp_path / "off.json", ShotsConfig(detector="off"))
    assert off.cuts == [] and read_probe(tmp_path / "off.json").cuts == []


def test_shot_bounds_and_membership() -> None:
    assert shot_bounds([], 5) == [(0, 5)]
    assert shot_bounds([2, 4], 6) == [(0, 2), (2, 4), (4, 6)]
    np.testing.assert_array_equal(shot_of([0, 1, 2, 3, 4, 5], [2, 4]), [0, 0, 1, 1, 2, 2])
    for bad in ([0], [3, 3], [6], [4, 2]):
        with pytest.raises(ValueError, match="not increasing"):
            shot_bounds(bad, 6)


def test_per_shot_runs_each_shot_as_a_video_of_its_own() -> None:
    det = pd.DataFrame({"frame_index": [0, 3, 4, 5], "x1": [0.0] * 4, "track_id": 0})
    seen = []

    def regularize(d: pd.DataFrame, pts: np.ndarray, looked: np.ndarray | None) -> pd.DataFrame:
        seen.append((d["frame_index"].tolist(), pts.tolist(), None if looked is None else looked.tolist()))
        return d.assign(pts_time=pts[d["frame_index"]])

    pts = np.arange(6) / 10
    out = per_shot(det, pts, [3], np.array([1, 0, 1, 1, 0, 1], bool), regularize)
    assert seen == [
        ([0], [0.0, 0.1, 0.2], [True, False, True]),
        ([0, 1, 2], [0.3, 0.4, 0.5], [True, False, True]),
    ]
    assert out["frame_index"].tolist() == [0, 3, 4, 5]
    assert out["track_id"].tolist() == [0, 1, 1, 1]  # shot B's track 0 is not shot A's
    np.testing.assert_allclose(out["pts_time"], pts[[0, 3, 4, 5]])


def test_a_track_across_a_cut_is_refused() -> None:
    tracks = pd.DataFrame({"frame_index": [18, 19, 20, 21], "track_id": [0, 0, 0, 1]})
    with pytest.raises(FaceOffError, match=r"t.parquet: tracks \[0\] cross a shot cut"):
        check_within_shots(tracks, [20], "t.parquet")
    check_within_shots(tracks, [22], "t.parquet")
    check_within_shots(tracks, [], "t.parquet")


def _detections(path: Path, info, frames) -> Path:
    boxes = np.stack([_box(f) for f in frames])
    det = pd.DataFrame(boxes, columns=["x1", "y1", "x2", "y2"])
    det.insert(0, "frame_index", np.asarray(frames, dtype=np.int64))
    det["score"] = 0.9
    det["pts_time"] = np.asarray(info.pts_time)[det["frame_index"]]
    write_boxes(det, path, {"frame_count": info.frame_count}, DETECTION_SCHEMA)
    return path


MISSED = (18, 19, 20, 21)  # the detector loses the head on the last two frames of A and first two of B


@pytest.mark.parametrize("method", ["tracks", "kernel"])
def test_no_track_crosses_the_cut(cut_clip: Path, tmp_path: Path, method: str) -> None:
    """The done-when test of issue 20: two clips joined by a hard cut, the head of shot A close to
    the head of shot B; every box stays in its own shot, and each shot's head is covered only by boxes
    of its own shot."""
    info = run_probe(cut_clip, tmp_path / "probe.json", ShotsConfig())
    det = _detections(tmp_path / "d.parquet", info, [f for f in range(N) if f not in MISSED])
    cfg = RegularizeConfig(method=method, kernel_radius=5)
    tracks = run_regularize(det, info, cfg, tmp_path / "t.parquet", video=cut_clip)
    shots = shot_of(tracks["frame_index"], [CUT])
    assert (tracks.assign(shot=shots).groupby("track_id")["shot"].nunique() == 1).all()
    # no box in shot A came from shot B's head, none in shot B from shot A's: each lies on its own head
    for f, row in tracks.set_index("frame_index")[["x1", "x2"]].iterrows():
        assert abs((row["x1"] + row["x2"]) / 2 - (_head_x(f) + SIZE / 2)) < SIZE / 2, (f, row.tolist())
    assert read_metadata(tmp_path / "t.parquet")["cuts"] == [CUT]
    # the same detections without the cut: one track slides across it (what the cut prevents)
    uncut = dataclasses.replace(info, cuts=[])
    crossed = run_regularize(det, uncut, cfg.model_copy(update={"follow_frames": 0}), tmp_path / "u.parquet")
    spans = crossed.assign(shot=shot_of(crossed["frame_index"], [CUT])).groupby("track_id")["shot"].nunique()
    if method == "tracks":
        assert spans.max() == 2
    else:  # the kernel spreads the last detection of A over the first frames of B
        a_rows = crossed[(crossed["frame_index"] >= CUT) & (crossed["x1"] < X_B - 5)]
        assert len(a_rows)


def test_regularize_refuses_a_probe_without_cuts(cut_clip: Path, tmp_path: Path) -> None:
    info = probe_video(cut_clip)
    assert info.cuts is None
    det = _detections(tmp_path / "d.parquet", info, range(5))
    with pytest.raises(FaceOffError, match="records no shot cuts"):
        run_regularize(det, info, RegularizeConfig(follow_frames=0), tmp_path / "t.parquet")
    assert not (tmp_path / "t.parquet").exists()


def _still_track(frames) -> pd.DataFrame:
    boxes = np.stack([_box(0)] * len(frames))
    out = pd.DataFrame(boxes, columns=["x1", "y1", "x2", "y2"])
    out.insert(0, "frame_index", np.asarray(frames, dtype=np.int64))
    out["score"] = 0.9
    out["track_id"] = 0
    out["source"] = "detected"
    return out


def test_following_stops_at_the_cut(tmp_path: Path) -> None:
    """The head stays put while the room changes: by appearance it could be followed across the cut,
    both ways; with the cut it is followed up to it and no further."""
    clip = two_shots(tmp_path / "still.mp4", still_head=True)
    info = probe_video(clip)
    follow = FollowParams.from_config(RegularizeConfig(follow_frames=30, follow_min_score=0.5))
    for frames, beyond in ((range(10, 15), range(CUT, N)), (range(28, 34), range(0, CUT))):
        free = follow_tracks(clip, info, _still_track(frames), follow)
        assert set(free["frame_index"]) & set(beyond)  # without the cut it runs across
        cut = follow_tracks(clip, info, _still_track(frames), follow, cuts=[CUT])
        assert not set(cut["frame_index"]) & set(beyond)
        assert len(cut)  # ... and still follows inside its own shot
    near_end = follow_tracks(clip, info, _still_track(range(30, 36)), follow, cuts=[38])
    assert near_end["frame_index"].max() == 37  # an end near the video's end stops at the cut too


def test_the_shots_section_reruns_the_probe() -> None:
    cfg = Config(inputs=["x"])
    changed = Config(inputs=["x"], shots={"min_shot_frames": 30})
    assert cfg.stage_hashes()["shots"] != changed.stage_hashes()["shots"]
    assert cfg.stage_hashes()["detect"] == changed.stage_hashes()["detect"]
    rule = (Path(__file__).parents[1] / "rules" / "probe.smk").read_text()
    assert 'HASHES["shots"]' in rule and 'stage_params("shots")' in rule


def test_the_kernel_must_reach_a_shot_edge_from_one_side() -> None:
    from faceoff.stages.regularize import _kernel_reach

    looked = np.array([1, 0, 0, 1, 0, 0, 0, 1], bool)
    assert _kernel_reach(looked, []) == 2  # three frames between two detections: 2 from each side
    assert _kernel_reach(looked, [4]) == 3  # frames 4-6 start a shot: only frame 7 covers them
    assert _kernel_reach(looked, [1]) == 2
    assert _kernel_reach(np.array([1, 1, 0, 0], bool), [2]) == 2  # a shot nothing was detected in


def test_two_clips_joined_by_a_hard_cut_detected_and_tracked(tmp_path: Path) -> None:
    """Issue 20's done-when test through the real stages (probe, CenterFace detection, regularize with
    following): a face moving right in a grey room, then a hard cut to the same face a little further
    right in a blue room. Without the cut the tracker joins the two into one track; with it no track, nor
    any filled, extended or followed box, crosses the cut."""
    from faceoff.config import DetectConfig
    from faceoff.stages.detect import run_detect
    from tests.test_workflow import _face_frames

    frames = _face_frames(2 * CUT)
    shot_b = _face_frames(2 * CUT)
    shot_b[shot_b == 90] = 0  # the room of shot B (pixels of the face stay)
    shot_b[..., 2][shot_b[..., 2] == 0] = 170
    frames[CUT:] = np.roll(shot_b[CUT:], 30, axis=2)  # and its face 30 px further right
    video = write_clip(tmp_path / "joined.mp4", frames, crf=12)
    info = run_probe(video, tmp_path / "probe.json", ShotsConfig())
    assert info.cuts == [CUT]
    det = run_detect(str(video), info, DetectConfig(), tmp_path / "d.parquet")
    assert set(det["frame_index"]) >= {CUT - 1, CUT}  # the face is seen on both sides of the cut
    tracks = run_regularize(
        tmp_path / "d.parquet", info, RegularizeConfig(), tmp_path / "t.parquet", video=video
    )
    shots = tracks.assign(shot=shot_of(tracks["frame_index"], [CUT])).groupby("track_id")["shot"]
    assert shots.nunique().max() == 1 and set(shots.first()) == {0, 1}
    uncut = dataclasses.replace(info, cuts=[])
    joined = run_regularize(
        tmp_path / "d.parquet", uncut, RegularizeConfig(), tmp_path / "u.parquet", video=video
    )
    assert (
        joined.assign(shot=shot_of(joined["frame_index"], [CUT])).groupby("track_id")["shot"].nunique().max()
        == 2
    )
