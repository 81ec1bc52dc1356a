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
