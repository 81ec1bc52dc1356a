"""The synthetic operating-room benchmark: determinism, ground truth, flags, detectability, files."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from faceoff.boxes import read_boxes, read_metadata
from faceoff.metrics import iou_matrix
from faceoff.synth.heads import FACE, FACE_W, HEAD_C, HEAD_R, face_view
from faceoff.synth.orscene import SCENARIOS, SceneConfig, benchmark_suite, generate_scene, write_scene

SMALL = SceneConfig(width=320, height=192, n_frames=16, n_people=3, face_px=(30, 60), occluder_rate=2.0)
EASY = SceneConfig(
    n_frames=3,
    n_people=1,
    face_px=(80, 90),
    p_mask=0.0,
    p_cap=0.0,
    p_glasses=0.0,
    turn_rate=0.0,
    fast_rate=0.0,
    occluder_rate=0.0,
    entries_exits=0.0,
    light_changes=0.0,
    spotlight=0.0,
)


@pytest.fixture(scope="module")
def quick_suite() -> list[tuple[str, SceneConfig, np.ndarray, pd.DataFrame]]:
    return [(name, cfg, *generate_scene(cfg, seed)) for name, cfg, seed in benchmark_suite("quick")]


def test_same_seed_same_scene_other_seed_other_scene() -> None:
    frames, gt = generate_scene(SMALL, 3)
    again, gt_again = generate_scene(SMALL, 3)
    assert frames.shape == (16, 192, 320, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames, again)
    pd.testing.assert_frame_equal(gt, gt_again)
    other, _ = generate_scene(SMALL, 4)
    assert not np.array_equal(frames, other)


def test_gt_columns_and_boxes_inside_the_frame(quick_suite) -> None:
    for name, cfg, frames, gt in quick_suite:
        assert len(frames) == cfg.n_frames, name
        for col in ("frame_index", "pts_time", "x1", "y1", "x2", "y2", "score", "track_id"):
            assert col in gt.columns
        assert gt[["ignore", "masked", "occluded"]].dtypes.eq(bool).all()
        assert (gt.x1 >= 0).all() and (gt.y1 >= 0).all(), name
        assert (gt.x2 <= cfg.width).all() and (gt.y2 <= cfg.height).all(), name
        assert (gt.x2 > gt.x1).all() and (gt.y2 > gt.y1).all(), name
        assert gt.frame_index.between(0, cfg.n_frames - 1).all()
        np.testing.assert_allclose(gt.pts_time, gt.frame_index / cfg.fps)
        assert (gt.score == 1.0).all()
        assert gt.track_id.between(0, cfg.n_people - 1).all()
        assert not gt.duplicated(["frame_index", "track_id"]).any()  # one face per person per frame


def test_flags_present_and_plausible(quick_suite) -> None:
    gt = pd.concat([g for *_, g in quick_suite], ignore_index=True)
    valid = gt[~gt.ignore]
    assert valid.masked.mean() > 0.3 and (~valid.masked).sum() > 0
    assert valid.occluded.sum() > 20
    assert 0.02 < gt.ignore.mean() < 0.5
    # every reason for ignoring occurs: back of the head, mostly outside the frame, too small, hidden
    ign = gt[gt.ignore]
    assert (ign.facing < 0.35).any() and (ign.inside < 0.4).any()
    assert ((ign.x2 - ign.x1) < 10).any() or (ign.face_width < 12).any()
    assert (ign.occlusion > 0.85).any()
    assert (gt.occluded == (gt.occlusion > 0.3)).all()
    assert not gt[(gt.facing < 0.35) | (gt.inside < 0.4) | (gt.occlusion > 0.85)].ignore.eq(False).any()
    crowd = next(g for name, _, _, g in quick_suite if name.startswith("masked_crowd"))
    assert crowd[~crowd.ignore].masked.mean() > 0.6


def test_gt_boxes_lie_on_the_rendered_faces() -> None:
    cfg = replace(SMALL, occluder_rate=0.0, n_frames=10)
    frames, gt = generate_scene(cfg, 11)
    empty, empty_gt = generate_scene(replace(cfg, n_people=0), 11)  # same room, light and noise
    assert empty_gt.empty
    diff = np.abs(frames.astype(np.float32) - empty.astype(np.float32)).mean(axis=3)
    inside, outside = [], []
    for row in gt[~gt.ignore & ~gt.occluded].itertuples():
        x1, y1, x2, y2 = (int(round(v)) for v in (row.x1, row.y1, row.x2, row.y2))
        inside.append(diff[row.frame_index, y1:y2, x1:x2].mean())
    assert len(inside) > 10
    assert np.median(inside) > 25
    # far from every person the frame is the empty room
    for t in range(cfg.n_frames):
        mask = np.ones(diff.shape[1:], bool)
        for row in gt[gt.frame_index == t].itertuples():
            w, h = row.x2 - row.x1, row.y2 - row.y1
            mask[max(0, int(row.y1 - 2 * h)) :, max(0, int(row.x1 - 2 * w)) : int(row.x2 + 2 * w)] = False
        if mask.any():
            outside.append(diff[t][mask].mean())
    assert np.mean(outside) < 1.0


def test_face_projection_follows_the_head_turn() -> None:
    v = face_view(1.0, 0.0, 0.0, 0.0, HEAD_C)
    np.testing.assert_allclose(v.box, FACE, atol=0.5)
    assert v.visible == 1.0 and v.frontal_width == FACE_W
    shares = [face_view(1.0, np.radians(a), 0.0, 0.0, (0, 0)).visible for a in (0, 45, 90, 120, 180)]
    assert shares == sorted(shares, reverse=True)
    assert 0.35 < shares[2] < 0.6 and shares[3] < 0.35 and shares[4] == 0.0
    # cheek to cheek when frontal; a turned face's box reaches from the nose (at the silhouette) to the ear
    widths = {
        a: np.diff(face_view(1.0, np.radians(a), 0.0, 0.0, (0, 0)).box[::2])[0] for a in (0, 30, 90, 120)
    }
    assert abs(widths[30] / widths[0] - 1) < 0.05
    assert 0.5 < widths[90] / widths[0] < 0.75 and widths[120] < widths[90]
    profile = face_view(1.0, np.radians(90), 0.0, 0.0, (0, 0)).box
    mirrored = face_view(1.0, np.radians(-90), 0.0, 0.0, (0, 0)).box
    np.testing.assert_allclose(profile, (-mirrored[2], mirrored[1], -mirrored[0], mirrored[3]), atol=1e-6)
    assert profile[2] > 0.95 * HEAD_R[0]


def test_centerface_finds_the_synthetic_face() -> None:
    from faceoff.detectors import build_detector

    frames, gt = generate_scene(EASY, 2)
    assert len(gt) == 3 and not gt.ignore.any()
    dets = build_detector("centerface").detect(frames, 0.3)
    for t, boxes in enumerate(dets):
        assert len(boxes) >= 1
        truth = gt.loc[gt.frame_index == t, ["x1", "y1", "x2", "y2"]].to_numpy()
        assert iou_matrix(truth, boxes[:, :4]).max() > 0.5


def test_write_scene_writes_a_readable_clip_and_its_ground_truth(tmp_path) -> None:
    from faceoff.probe import probe_video

    cfg = replace(SMALL, n_frames=12)
    video, ann = write_scene(tmp_path, "or_test", cfg, 5)
    assert video == tmp_path / "videos" / "or_test.mp4"
    assert ann == tmp_path / "annotations" / "or_test.parquet"
    info = probe_video(video)
    assert (info.frame_count, info.width, info.height) == (12, 320, 192)
    np.testing.assert_allclose(info.pts_time, np.arange(12) / cfg.fps, atol=1e-3)
    table = read_boxes(ann)
    _, gt = generate_scene(cfg, 5)
    assert len(table) == len(gt)
    np.testing.assert_allclose(
        table[["x1", "y1", "x2", "y2"]].to_numpy(), gt[["x1", "y1", "x2", "y2"]], atol=1e-3
    )
    assert table.track_id.tolist() == gt.track_id.tolist()
    assert table.ignore.tolist() == gt.ignore.tolist()
    meta = read_metadata(ann)
    assert meta["seed"] == 5 and meta["scene_hash"] == cfg.scene_hash(5)
    assert (meta["width"], meta["height"], meta["frame_count"]) == (320, 192, 12)


def test_benchmark_suite() -> None:
    for kind in ("quick", "default", "full"):
        suite = benchmark_suite(kind)
        names = [name for name, _, _ in suite]
        assert len(names) == len(set(names))
        assert {n.rsplit("_", 1)[0] for n in names} == set(SCENARIOS)
    assert {"masked_crowd", "occlusions", "turns", "fast_motion", "small_faces_720p", "lighting"} <= set(
        SCENARIOS
    )
    assert benchmark_suite("default") == benchmark_suite("default")
    with pytest.raises(ValueError, match="unknown suite"):
        benchmark_suite("huge")
    assert SceneConfig().scene_hash(1) != SceneConfig().scene_hash(2)
    assert SceneConfig().scene_hash(1) != SceneConfig(n_people=4).scene_hash(1)
