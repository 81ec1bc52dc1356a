"""The real-footage dev set: manifest, committed annotations, the annotation edits, and (when the clips
are in ``$FACEOFF_REAL_CLIPS``) that clips and annotations line up frame for frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.real_annotate import apply_edits, interpolate, link_groups
from benchmarks.real_clips import annotation_path, clip_path, clips_dir, load_manifest, missing_clips
from faceoff.annotations import load_annotations
from faceoff.boxes import read_metadata

CLIPS = load_manifest()
KEYS = {"clip_id", "frames", "width", "height", "fps", "start_time", "sha256", "origin", "cut", "contents"}


def test_manifest_names_origin_cut_and_licence() -> None:
    assert len(CLIPS) >= 4
    assert len({c["clip_id"] for c in CLIPS}) == len(CLIPS)
    for c in CLIPS:
        assert set(c) >= KEYS, c["clip_id"]
        assert {"repository", "path", "commit", "sha256", "licence"} <= set(c["origin"])
        assert len(c["origin"]["commit"]) == 40 and len(c["origin"]["sha256"]) == 64
        assert c["cut"]["method"] in ("copy", "x264")
        if c["cut"]["method"] == "x264":
            assert c["cut"]["last_frame"] - c["cut"]["first_frame"] + 1 == c["frames"]
    assert any(c["start_time"] != 0 for c in CLIPS), "one clip must start at a non-zero timestamp"


@pytest.mark.parametrize("clip", CLIPS, ids=[c["clip_id"] for c in CLIPS])
def test_annotations_fit_their_clip(clip: dict) -> None:
    path = annotation_path(clip)
    meta = read_metadata(path)
    assert meta["frame_count"] == clip["frames"]
    assert (meta["width"], meta["height"]) == (clip["width"], clip["height"])
    gt = load_annotations(path, frame_count=clip["frames"])
    assert len(gt) and gt["frame_index"].between(0, clip["frames"] - 1).all()
    assert (gt["x1"] >= 0).all() and (gt["x2"] <= clip["width"]).all() and (gt["x2"] > gt["x1"]).all()
    assert (gt["y1"] >= 0).all() and (gt["y2"] <= clip["height"]).all() and (gt["y2"] > gt["y1"]).all()
    assert (~gt["ignore"]).any()


@pytest.mark.skipif(
    bool(missing_clips()), reason=f"real clips not in {clips_dir()} (benchmarks/real_clips.py)"
)
@pytest.mark.parametrize("clip", CLIPS, ids=[c["clip_id"] for c in CLIPS])
def test_clip_and_annotations_line_up(clip: dict) -> None:
    from faceoff.probe import probe_video

    info = probe_video(clip_path(clip))
    assert info.frame_count == clip["frames"]
    assert round(info.start_time, 4) == clip["start_time"]
    gt = load_annotations(annotation_path(clip), frame_count=info.frame_count)
    want = np.asarray(info.pts_time)[gt["frame_index"].to_numpy()]
    np.testing.assert_allclose(gt["pts_time"].to_numpy(), want, atol=1e-6)


def test_interpolate_between_keyframes() -> None:
    rows = interpolate([[10, 0, 0, 10, 10], [14, 4, 8, 18, 18]])
    assert rows[:, 0].tolist() == [10, 11, 12, 13, 14]
    np.testing.assert_allclose(rows[2, 1:], [2, 4, 14, 14])


def test_edits_drop_flag_and_add() -> None:
    pre = pd.DataFrame(
        {
            "frame_index": [0, 0, 1, 2],
            "x1": [0.0, 50, 0, 0],
            "y1": [0.0, 50, 0, 0],
            "x2": [10.0, 60, 10, 10],
            "y2": [10.0, 60, 10, 10],
        }
    )
    edits = {
        "drop": [[0, 0, 55, 55]],  # the box holding (55, 55) on frame 0
        "flag": [[1, 2, 0, 0, 20, 20, "ignore"]],  # boxes centred in the region, frames 1-2
        "add": [{"flags": ["occluded"], "keys": [[2, 1, 1, 11, 11], [3, 3, 1, 13, 11]]}],
    }
    out = apply_edits(pre, edits)
    assert out[["frame_index", "x1"]].values.tolist() == [[0, 0], [1, 0], [2, 1], [3, 3]]
    assert out["ignore"].tolist() == [False, True, False, False]  # frame 2's box was replaced
    assert out["occluded"].tolist() == [False, False, True, True]


def test_link_groups_follows_faces_over_frames() -> None:
    """Two 20 px faces walking past each other a row apart stay two groups; a face seen again after
    more than ``max_gap`` frames, or far from every group, starts a new one."""
    rows = []
    for f in range(5):
        rows.append((f, 100 + 12 * f, 50))  # walks right, 0.6 widths a frame
        rows.append((f, 160 - 12 * f, 80))  # walks left, 1.5 widths below
    rows += [(9, 160, 50), (10, 400, 300)]  # 5 frames after the walkers ended; far from everything
    df = pd.DataFrame(
        [{"frame_index": f, "x1": x, "y1": y, "x2": x + 20.0, "y2": y + 20.0} for f, x, y in rows]
    )
    group = link_groups(df)
    right, left = group[0:10:2], group[1:10:2]
    assert len(set(right)) == 1 and len(set(left)) == 1 and right[0] != left[0]
    assert len(set(group)) == 4


def test_dark_copy_keeps_frames_and_timestamps_and_is_dark(make_clip, tmp_path) -> None:
    """``real_clips.py dark``: the same frames at the same (variable, offset) timestamps, so the clip's
    annotations score the copy; the light scaled to ``DARK_LUMA``; a clip already that dark untouched."""
    from benchmarks.real_clips import DARK_LUMA, darken
    from faceoff.decode import iter_frames
    from faceoff.probe import probe_video

    rng = np.random.default_rng(3)
    frames = rng.integers(90, 230, size=(14, 48, 64, 3), dtype=np.uint8)
    pts = [1.5 + 0.04 * i + (0.08 if i > 6 else 0.0) for i in range(14)]  # starts at 1.5 s, 2 frames dropped
    bright = make_clip("bright.mp4", frames=frames, pts_time=pts)
    gain = darken(bright, tmp_path / "dark.mp4")
    src, dst = probe_video(bright), probe_video(tmp_path / "dark.mp4")
    assert dst.frame_count == 14 and np.allclose(dst.pts_time, src.pts_time, atol=1e-6)
    assert src.start_time == pytest.approx(1.5, abs=1e-3)
    luma = [f.astype(float) for _, b in iter_frames(tmp_path / "dark.mp4", dst, gray=True) for f in b]
    orig = [f.astype(float) for _, b in iter_frames(bright, src, gray=True) for f in b]
    assert np.mean(luma) == pytest.approx(DARK_LUMA, abs=2.0)
    assert 0.05 < gain < 0.3
    # each frame is its source darkened, not another frame: pixel for pixel about 16 + (y - 16) * gain
    for d, o in zip(luma, orig, strict=True):
        assert np.abs(d - (16 + (o - 16) * gain)).mean() < 4.0
    dim = make_clip("dim.mp4", frames=(frames // 16 + 4).astype(np.uint8))
    assert darken(dim, tmp_path / "dim-dark.mp4") == 1.0


def test_lit_copy_keeps_its_top_band_lit_and_darkens_the_rest(make_clip, tmp_path) -> None:
    """``real_clips.py lit``: the dark copy's gain below the band, the source's light in it (a dark scene
    with a lit part), blending between; the same frames and timestamps."""
    from benchmarks.real_clips import LIT_EDGE, darken
    from faceoff.decode import iter_frames
    from faceoff.probe import probe_video

    frames = np.random.default_rng(4).integers(120, 220, size=(6, 80, 64, 3), dtype=np.uint8)
    bright = make_clip("bright.mp4", frames=frames)
    gain = darken(bright, tmp_path / "lit.mp4", lit_top=0.25)
    src, dst = probe_video(bright), probe_video(tmp_path / "lit.mp4")
    assert dst.frame_count == 6 and np.allclose(dst.pts_time, src.pts_time, atol=1e-6)
    luma = [f.astype(float) for _, b in iter_frames(tmp_path / "lit.mp4", dst, gray=True) for f in b]
    orig = [f.astype(float) for _, b in iter_frames(bright, src, gray=True) for f in b]
    band, dark = slice(0, 18), slice(int(80 * (0.25 + LIT_EDGE)) + 2, 80)  # clear of the blend
    for d, o in zip(luma, orig, strict=True):
        assert np.abs(d[band] - o[band]).mean() < 4.0
        assert np.abs(d[dark] - (16 + (o[dark] - 16) * gain)).mean() < 4.0
    assert 0.05 < gain < 0.3
