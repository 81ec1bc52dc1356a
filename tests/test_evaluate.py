"""Tests for faceoff.evaluate: coverage of annotated faces by the rendered region."""

from __future__ import annotations

import numpy as np
import pytest

from faceoff.anonymize import covered_mask
from faceoff.config import RenderConfig
from faceoff.evaluate import (
    COVERED_AT,
    collateral,
    collateral_parts,
    coverage,
    covered_fraction,
    evaluate_video,
    longest_run,
    on_face,
)
from tests.boxtables import box_table as table

RECT1 = RenderConfig(shape="rectangle", box_scale=1.0, min_margin=0)
ELLIPSE1 = RenderConfig(shape="ellipse", box_scale=1.0, min_margin=0)


def frac(hidden: list, gt: list, render: RenderConfig, w: int = 64, h: int = 48) -> np.ndarray:
    return covered_fraction(np.array(hidden, dtype=np.float64).reshape(-1, 4), np.array(gt), render, w, h)


# --- covered_fraction: hand-computed cases -------------------------------------------------------


def test_same_box_rectangle_is_fully_covered() -> None:
    np.testing.assert_allclose(frac([[10, 10, 20, 20]], [[10, 10, 20, 20]], RECT1), [1.0])


def test_shifted_box_known_fraction() -> None:
    # 3 px to the right: columns 13..19 of 10..19 hidden -> 7/10
    np.testing.assert_allclose(frac([[13, 10, 23, 20]], [[10, 10, 20, 20]], RECT1), [0.7])
    # 3 px right and 4 px down: 7 x 6 of 10 x 10
    np.testing.assert_allclose(frac([[13, 14, 23, 24]], [[10, 10, 20, 20]], RECT1), [0.42])
    # no overlap at all
    np.testing.assert_allclose(frac([[30, 30, 40, 40]], [[10, 10, 20, 20]], RECT1), [0.0])


def test_ellipse_versus_rectangle() -> None:
    # an ellipse inscribed in a 10x10 box: rows at |dy| = .5,1.5,2.5,3.5,4.5 hold 10,10,8,8,4 pixels -> 80/100
    np.testing.assert_allclose(frac([[10, 10, 20, 20]], [[10, 10, 20, 20]], ELLIPSE1), [0.8])
    # box_scale 2: region [5, 25)^2 whose inscribed ellipse contains the whole inner box
    np.testing.assert_allclose(
        frac(
            [[10, 10, 20, 20]], [[10, 10, 20, 20]], RenderConfig(shape="ellipse", box_scale=2.0, min_margin=0)
        ),
        [1.0],
    )


def test_box_scale_enlarges_about_the_centre() -> None:
    # hidden box 10 px wide at x 13..23 scaled by 1.6 -> 16 px at x 10..26: covers the GT fully
    np.testing.assert_allclose(
        frac(
            [[13, 10, 23, 20]],
            [[10, 10, 20, 20]],
            RenderConfig(shape="rectangle", box_scale=1.6, min_margin=0),
        ),
        [1.0],
    )


def test_union_of_several_hidden_boxes_counts_once() -> None:
    # two halves that overlap by 2 columns: 6 + 6 - 2 = 10 columns -> fully covered, not 1.2
    np.testing.assert_allclose(frac([[10, 10, 16, 20], [14, 10, 20, 20]], [[10, 10, 20, 20]], RECT1), [1.0])
    # left 4 and right 3 columns: 7/10
    np.testing.assert_allclose(frac([[10, 10, 14, 20], [17, 10, 20, 20]], [[10, 10, 20, 20]], RECT1), [0.7])


def test_threshold_is_inclusive() -> None:
    gt = table([(0, 0, 0, 10, 10)])
    c = coverage(table([(0, 1, 0, 11, 10)]), gt, RECT1, 64, 48, 1)  # exactly 90 %
    assert COVERED_AT == 0.9 and c["covered"] == 1 and c["coverage"] == 1.0
    c = coverage(table([(0, 2, 0, 12, 10)]), gt, RECT1, 64, 48, 1)  # 80 %
    assert c["covered"] == 0 and c["mean_covered_fraction"] == pytest.approx(0.8)


def test_pixel_centre_rule_edges_and_thin_boxes() -> None:
    # fractional GT: pixel centres 10.5 .. 19.5 lie in [10.4, 19.6) -> same 10x10 pixels as the integer box
    np.testing.assert_allclose(frac([[10, 10, 20, 20]], [[10.4, 10.4, 19.6, 19.6]], RECT1), [1.0])
    # GT half out of the frame: only its visible pixels count
    np.testing.assert_allclose(frac([[0, 0, 5, 10]], [[-5, 0, 5, 10]], RECT1), [1.0])
    # GT wholly outside the frame shows nothing: covered
    np.testing.assert_allclose(frac([], [[100, 100, 110, 110]], RECT1), [1.0])
    # too thin for a pixel centre: the pixel holding its centre
    np.testing.assert_allclose(frac([[10, 10, 11, 11]], [[10.1, 10.1, 10.3, 10.3]], RECT1), [1.0])
    np.testing.assert_allclose(frac([[11, 10, 12, 11]], [[10.1, 10.1, 10.3, 10.3]], RECT1), [0.0])
    assert frac([[0, 0, 10, 10]], np.zeros((0, 4)), RECT1).shape == (0,)


def _reference(hidden: np.ndarray, gt: np.ndarray, cfg: RenderConfig, w: int, h: int) -> np.ndarray:
    """Covered share of each GT box measured on the full-frame covered_mask (pixel-centre rule)."""
    mask = covered_mask(hidden, cfg, w, h)
    cx, cy = np.arange(w) + 0.5, np.arange(h) + 0.5
    out = []
    for x1, y1, x2, y2 in gt:
        sel = np.outer((cy >= y1) & (cy < y2), (cx >= x1) & (cx < x2))
        out.append(mask[sel].mean() if sel.any() else 1.0)
    return np.array(out)


@pytest.mark.parametrize("shape", ["ellipse", "rectangle"])
@pytest.mark.parametrize("scale", [1.0, 1.3, 1.77])
def test_agrees_with_covered_mask(shape: str, scale: float) -> None:
    rng = np.random.default_rng(int(scale * 100) + len(shape))
    w, h = 97, 61
    cfg = RenderConfig(shape=shape, box_scale=scale, min_margin=0)
    for _ in range(20):
        xy = rng.uniform(-15, 90, (4, 2))
        hidden = np.concatenate([xy, xy + rng.uniform(1, 30, (4, 2))], axis=1)
        gxy = rng.uniform(-10, 85, (6, 2))
        gt = np.concatenate([gxy, gxy + rng.uniform(2, 35, (6, 2))], axis=1)
        gt[0] = hidden[0] + rng.normal(0, 2, 4)  # one close match per round
        gt[0, 2:] = np.maximum(gt[0, 2:], gt[0, :2] + 2)  # wide enough to hold pixel centres
        np.testing.assert_allclose(covered_fraction(hidden, gt, cfg, w, h), _reference(hidden, gt, cfg, w, h))


def test_default_render_hides_most_of_a_matched_face() -> None:
    # documented in COVERED_AT: 98.6 % of a box placed on the face at box_scale 1.3, all of it at 1.5
    box = [[200, 200, 400, 400]]
    np.testing.assert_allclose(frac(box, box, RenderConfig(box_scale=1.3, min_margin=0), 600, 600), [0.9864])
    np.testing.assert_allclose(frac(box, box, RenderConfig(), 600, 600), [1.0])


# --- coverage over a video -----------------------------------------------------------------------


def test_longest_run_helper() -> None:
    assert longest_run([]) == 0
    assert longest_run([7]) == 1
    assert longest_run([2, 5, 6, 7]) == 3  # runs of 1 and 3 frames
    assert longest_run([7, 5, 6, 6, 2, 9]) == 3  # order and repeats do not matter


def test_uncovered_runs_overall_and_per_face() -> None:
    # face 1 in frames 0..9 and face 2 in frames 0..9; hidden boxes only for the frames listed
    miss1, miss2 = {2, 5, 6, 7}, {3, 4}
    gt_rows, hid_rows, tids = [], [], []
    for f in range(10):
        gt_rows += [(f, 0, 0, 10, 10), (f, 30, 0, 40, 10)]
        tids += [1, 2]
        if f not in miss1:
            hid_rows.append((f, 0, 0, 10, 10))
        if f not in miss2:
            hid_rows.append((f, 30, 0, 40, 10))
    gt = table(gt_rows, track_id=tids)
    c = coverage(table(hid_rows), gt, RECT1, 64, 48, 10)
    assert c["n_gt"] == 20 and c["covered"] == 14 and c["coverage"] == pytest.approx(0.7)
    assert c["uncovered_frames"] == [2, 3, 4, 5, 6, 7]
    assert c["longest_uncovered_run"] == 6  # the two faces' gaps join up frame-wise
    assert c["longest_uncovered_run_per_face"] == {"1": 3, "2": 2}
    assert c["frames_with_gt"] == 10

    # without track ids: no per-face runs
    c = coverage(table(hid_rows), gt.drop(columns="track_id"), RECT1, 64, 48, 10)
    assert "longest_uncovered_run_per_face" not in c and c["longest_uncovered_run"] == 6


def test_gaps_of_one_and_three_frames() -> None:
    gt = table([(f, 0, 0, 10, 10) for f in range(10)])
    hidden = table([(f, 0, 0, 10, 10) for f in range(10) if f not in (2, 5, 6, 7)])
    c = coverage(hidden, gt, RECT1, 64, 48, 10)
    assert c["uncovered_frames"] == [2, 5, 6, 7] and c["longest_uncovered_run"] == 3


def test_ignore_is_excluded() -> None:
    gt = table([(0, 0, 0, 10, 10), (0, 30, 0, 40, 10), (1, 30, 0, 40, 10)], ignore=[False, True, True])
    c = coverage(table([(0, 0, 0, 10, 10)]), gt, RECT1, 64, 48, 2)
    assert (c["n_gt"], c["covered"], c["coverage"]) == (1, 1, 1.0)
    assert c["uncovered_frames"] == [] and c["longest_uncovered_run"] == 0 and c["frames_with_gt"] == 1


def test_per_flag_split() -> None:
    gt = table(
        [(0, 0, 0, 10, 10), (0, 30, 0, 40, 10), (1, 0, 0, 10, 10), (1, 30, 0, 40, 10)],
        masked=[True, True, False, False],
        occluded=[False, True, True, False],
        ignore=[False, False, False, True],
    )
    hidden = table([(0, 0, 0, 10, 10), (1, 30, 0, 40, 10)])
    c = coverage(hidden, gt, RECT1, 64, 48, 2)
    assert c["per_flag"]["masked"] == {"n_gt": 2, "covered": 1, "coverage": 0.5}
    assert c["per_flag"]["occluded"] == {"n_gt": 2, "covered": 0, "coverage": 0.0}  # ignored row left out
    assert coverage(hidden, gt.drop(columns=["masked", "occluded"]), RECT1, 64, 48, 2)["per_flag"] == {}


def test_empty_inputs() -> None:
    gt = table([(0, 0, 0, 10, 10), (3, 0, 0, 10, 10)])
    empty = table([])
    c = coverage(empty, empty, RECT1, 64, 48, 5)
    assert (c["n_gt"], c["covered"], c["coverage"], c["mean_covered_fraction"]) == (0, 0, None, None)
    assert c["uncovered_frames"] == [] and c["longest_uncovered_run"] == 0
    for hidden in (empty, None):
        c = coverage(hidden, gt, RECT1, 64, 48, 5)
        assert c["covered"] == 0 and c["coverage"] == 0.0 and c["uncovered_frames"] == [0, 3]
    # only ignored GT: nothing to score
    c = coverage(empty, table([(0, 0, 0, 10, 10)], ignore=[True]), RECT1, 64, 48, 5)
    assert c["n_gt"] == 0 and c["coverage"] is None


def test_gt_outside_the_video_is_counted_apart() -> None:
    gt = table([(0, 0, 0, 10, 10), (5, 0, 0, 10, 10), (-1, 0, 0, 10, 10)])
    c = coverage(table([(0, 0, 0, 10, 10)]), gt, RECT1, 64, 48, 5)
    assert c["n_gt"] == 1 and c["n_gt_outside_video"] == 2 and c["coverage"] == 1.0
    assert coverage(table([(0, 0, 0, 10, 10)]), gt, RECT1, 64, 48, None)["n_gt"] == 2


def test_evaluate_video_before_and_after() -> None:
    gt = table([(f, 0, 0, 10, 10) for f in range(4)], track_id=[7] * 4)
    det = table([(0, 0, 0, 10, 10), (1, 0, 0, 10, 10), (3, 3, 0, 13, 10)])  # frame 2 missed, frame 3 off
    trk = table([(f, 0, 0, 10, 10) for f in range(4)], track_id=[1] * 4)
    ev = evaluate_video(det, trk, gt, RECT1, 64, 48, 4)
    assert set(ev) == {"detections", "tracks", "coverage"}
    assert ev["detections"]["recall"] == 0.75 and ev["tracks"]["recall"] == 1.0  # IoU 0.54 still matches
    before, after = ev["coverage"]["detections"], ev["coverage"]["tracks"]
    # coverage is stricter than IoU: the shifted box on frame 3 leaves 30 % of the face visible
    assert (
        before["covered"] == 2
        and before["uncovered_frames"] == [2, 3]
        and before["longest_uncovered_run"] == 2
    )
    assert before["longest_uncovered_run_per_face"] == {"7": 2}
    assert after["coverage"] == 1.0 and after["longest_uncovered_run"] == 0
    # the render settings matter: an exact-size ellipse hides only 80 % of each box
    assert evaluate_video(det, trk, gt, ELLIPSE1, 64, 48, 4)["coverage"]["tracks"]["coverage"] == 0.0


def test_pad_widens_the_hidden_region_but_not_the_box() -> None:
    gt = table([(0, 10, 10, 30, 30)])
    trk = table([(0, 14, 14, 26, 26)], track_id=[0], pad=[np.float32(4.0)])  # 12 px box, 4 px pad each side
    ev = evaluate_video(trk, trk, gt, RECT1, 64, 48, 1)
    assert ev["coverage"]["tracks"]["coverage"] == 1.0 and ev["coverage"]["detections"]["coverage"] == 1.0
    assert ev["tracks"]["recall"] == 0.0  # IoU of the box itself: 144 / 400
    assert coverage(trk.drop(columns=["pad"]), gt, RECT1, 64, 48, 1)["coverage"] == 0.0


def test_ten_thousand_boxes_are_scored() -> None:
    rng = np.random.default_rng(1)
    n = 10_000
    xy = rng.uniform(0, 1700, (n, 2)) * [1, 0.5]
    wh = rng.uniform(20, 160, (n, 2))
    gt = table(np.column_stack([np.repeat(np.arange(n // 2), 2), xy, xy + wh]).tolist())
    hidden = gt.copy()
    hidden[["x1", "x2"]] += rng.normal(0, 10, (n, 1)).astype(np.float32)
    c = coverage(hidden, gt, RenderConfig(), 1920, 1080, n // 2)
    assert c["n_gt"] == n and 0.5 < c["coverage"] < 1.0


def test_collateral_against_a_hand_count() -> None:
    """A 10x10 frame, 2 frames. Frame 0: face (ignore) at [2,6)x[2,6) (16 px), hidden box [4,8)x[4,8)
    (16 px, 4 of them on the face): 12 hidden background px. Frame 1: no face, hidden [0,3)x[0,2): 6 px.
    Background: 84 + 100 = 184 px; collateral 18/184; worst frame 12/84."""
    gt = table([(0, 2, 2, 6, 6)], ignore=[True])
    hidden = table([(0, 4, 4, 8, 8), (1, 0, 0, 3, 2)])
    got = collateral(hidden, gt, RECT1, 10, 10, 2)
    assert (got["hidden_px"], got["background_px"]) == (18, 184)
    assert got["collateral"] == pytest.approx(18 / 184)
    assert got["worst_frame"] == pytest.approx(12 / 84)
    # the same pixels counted by the renderer's own mask
    mask = covered_mask(np.array([[4, 4, 8, 8]]), RECT1, 10, 10)
    mask[2:6, 2:6] = False
    assert mask.sum() == 12


def test_collateral_nothing_hidden_and_boxes_outside_the_video() -> None:
    got = collateral(None, table([(0, 0, 0, 5, 5)]), RECT1, 10, 10, 1)
    assert got == {"hidden_px": 0, "background_px": 75, "collateral": 0.0, "worst_frame": 0.0}
    # a hidden box on a frame past the end of the video is no part of it
    assert collateral(table([(3, 0, 0, 5, 5)]), table([]), RECT1, 10, 10, 1)["hidden_px"] == 0


def test_on_face_by_overlap_or_by_the_face_centre() -> None:
    gt = table([(0, 10, 10, 20, 20), (1, 10, 10, 20, 20)])
    rows = table(
        [
            (0, 16, 10, 26, 20),  # IoU 40/160 = 0.25, the face centre (15, 15) outside
            (0, 0, 0, 40, 40),  # IoU 100/1600, but the face's centre (15, 15) lies inside
            (0, 19, 19, 29, 29),  # IoU 1/199, centre outside
            (1, 30, 30, 40, 40),  # elsewhere
            (2, 10, 10, 20, 20),  # a frame with no face
        ]
    )
    assert on_face(rows, gt).tolist() == [True, True, False, False, False]
    assert on_face(rows, gt, match_iou=0.5).tolist() == [False, True, False, False, False]


def test_collateral_parts_split_a_hand_count() -> None:
    """A 40x40 frame, a face at [10,20)^2 (100 px). On it a detected box with pad 2: its box hides the
    face only (rectangle, scale 1), its pad the ring [8,22)^2 less the face: 96 px. A followed box on no
    face at [30,36)^2: 36 px. A detected box on no face at [20,26)x[10,20): 60 px, 20 of them in the
    pad's ring already: 40 px. The parts sum to collateral's hidden pixels."""
    gt = table([(0, 10, 10, 20, 20)])
    hidden = table(
        [(0, 10, 10, 20, 20), (0, 30, 30, 36, 36), (0, 20, 10, 26, 20)],
        pad=[2.0, 0.0, 0.0],
        source=["detected", "followed", "detected"],
    )
    parts = collateral_parts(hidden, gt, RECT1, 40, 40, 1)
    assert parts == {"face boxes": 0, "face pads": 96, "false detected": 40, "false followed": 36}
    assert sum(parts.values()) == collateral(hidden, gt, RECT1, 40, 40, 1)["hidden_px"]
    # scale 2 about the centre (15, 15): the box hides [5,25)^2 less the face, the pad [1,29)^2 less that
    scaled = RenderConfig(shape="rectangle", box_scale=2.0, min_margin=0)
    parts = collateral_parts(hidden.iloc[:1], gt, scaled, 40, 40, 1)
    assert parts == {"face boxes": 400 - 100, "face pads": 784 - 400}
    assert collateral_parts(hidden.iloc[:0], gt, RECT1, 40, 40, 1) == {"face boxes": 0, "face pads": 0}
