"""Tests for faceoff.metrics on hand-made box tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import faceoff.metrics as metrics
from faceoff.metrics import evaluate, iou_matrix, match_boxes
from tests.boxtables import box_table as table


def test_iou_matrix_values() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], dtype=np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]], dtype=np.float32)
    m = iou_matrix(a, b)
    assert m.shape == (2, 4)
    np.testing.assert_allclose(m[0], [1.0, 50 / 150, 0.0, 0.0])
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 4)
    assert iou_matrix(a, np.zeros((0, 4))).shape == (2, 0)


def test_perfect_match() -> None:
    gt = table([(0, 0, 0, 10, 10), (0, 20, 20, 40, 40), (3, 5, 5, 15, 15)])
    r = evaluate(gt.copy(), gt)
    assert (r["tp"], r["fp"], r["fn"]) == (3, 0, 0)
    assert r["recall"] == 1.0 and r["precision"] == 1.0
    assert r["n_gt"] == 3 and r["n_pred"] == 3 and r["frames_evaluated"] == 2


def test_shifted_box_below_threshold_is_miss_and_false_positive() -> None:
    gt = table([(0, 0, 0, 10, 10)])
    # shift by 4 px: IoU = 60 / 140 = 0.43 < 0.5
    r = evaluate(table([(0, 4, 0, 14, 10)]), gt)
    assert (r["tp"], r["fp"], r["fn"]) == (0, 1, 1)
    assert r["recall"] == 0.0 and r["precision"] == 0.0
    # shift by 3 px: IoU = 70 / 130 = 0.54 >= 0.5
    r = evaluate(table([(0, 3, 0, 13, 10)]), gt)
    assert (r["tp"], r["fp"], r["fn"]) == (1, 0, 0)


def test_same_box_in_another_frame_does_not_match() -> None:
    r = evaluate(table([(1, 0, 0, 10, 10)]), table([(0, 0, 0, 10, 10)]))
    assert (r["tp"], r["fp"], r["fn"], r["frames_evaluated"]) == (0, 1, 1, 2)


def test_one_to_one_two_predictions_on_one_gt() -> None:
    gt = table([(0, 0, 0, 10, 10)])
    pred = table([(0, 0, 0, 10, 10), (0, 1, 0, 11, 10)])
    r = evaluate(pred, gt)
    assert (r["tp"], r["fp"], r["fn"]) == (1, 1, 0)
    assert r["precision"] == 0.5


def test_matching_maximises_number_of_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    # Maximising summed IoU (even with sub-threshold pairs zeroed) picks p0-g0, p1-g1: 2 matches,
    # 1.98 total. Pairing p0-g1, p1-g2, p2-g0 gives 3 matches, every one at IoU >= 0.5.
    m = np.array([[0.99, 0.5, 0.0], [0.0, 0.99, 0.5], [0.5, 0.0, 0.0]])
    monkeypatch.setattr(metrics, "iou_matrix", lambda a, b: m)
    boxes = np.zeros((3, 4))
    rows, cols = match_boxes(boxes, boxes, 0.5)
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 1), (1, 2), (2, 0)]


def test_ignore_flag_not_miss_and_absorbs_prediction() -> None:
    gt = table([(0, 0, 0, 10, 10), (0, 50, 50, 60, 60), (1, 0, 0, 10, 10)], ignore=[False, True, True])
    pred = table([(0, 0, 0, 10, 10), (0, 50, 50, 60, 60), (0, 51, 50, 61, 60), (2, 0, 0, 10, 10)])
    r = evaluate(pred, gt)
    # GT on frame 1 is ignored: no miss. Pred on ignored GT in frame 0: not an FP.
    # Second pred on the same ignored GT and the pred on frame 2 (no GT): FPs.
    assert r["n_gt"] == 1 and r["n_gt_ignored"] == 2
    assert (r["tp"], r["fn"], r["fp"], r["n_pred_ignored"]) == (1, 0, 2, 1)
    assert r["recall"] == 1.0 and r["precision"] == pytest.approx(1 / 3)


def test_ignore_gt_does_not_steal_match_from_valid_gt() -> None:
    # An ignored GT identical to the prediction must not prevent matching the valid GT nearby.
    gt = table([(0, 0, 0, 10, 10), (0, 1, 0, 11, 10)], ignore=[True, False])
    r = evaluate(table([(0, 0, 0, 10, 10)]), gt)
    assert (r["tp"], r["fp"], r["fn"]) == (1, 0, 0)


def test_null_flags_read_as_false() -> None:
    gt = table([(0, 0, 0, 10, 10), (1, 0, 0, 10, 10)], ignore=pd.array([None, True], dtype="boolean"))
    r = evaluate(table([]), gt)
    assert r["n_gt"] == 1 and r["fn"] == 1


def test_per_flag_recall_masked_and_occluded() -> None:
    gt = table(
        [(0, 0, 0, 10, 10), (0, 50, 50, 60, 60), (1, 0, 0, 10, 10), (1, 50, 50, 60, 60)],
        masked=[True, True, False, True],
        occluded=[False, False, False, False],
    )
    pred = table([(0, 0, 0, 10, 10), (1, 0, 0, 10, 10)])
    r = evaluate(pred, gt)
    assert r["recall"] == 0.5
    assert r["per_flag"]["masked"] == {"n_gt": 3, "tp": 1, "recall": pytest.approx(1 / 3)}
    assert r["per_flag"]["occluded"] == {"n_gt": 0, "tp": 0, "recall": None}
    assert evaluate(pred, table([(0, 0, 0, 10, 10)]))["per_flag"] == {}


def test_masked_flag_excludes_ignored_rows() -> None:
    gt = table([(0, 0, 0, 10, 10), (0, 50, 50, 60, 60)], masked=[True, True], ignore=[False, True])
    r = evaluate(table([]), gt)
    assert r["per_flag"]["masked"]["n_gt"] == 1


def test_empty_predictions() -> None:
    gt = table([(0, 0, 0, 10, 10), (4, 0, 0, 10, 10)])
    r = evaluate(table([]), gt)
    assert (r["tp"], r["fp"], r["fn"]) == (0, 0, 2)
    assert r["recall"] == 0.0 and r["precision"] is None
    assert r["frames_evaluated"] == 2


def test_empty_ground_truth() -> None:
    r = evaluate(table([(0, 0, 0, 10, 10)]), table([]))
    assert (r["tp"], r["fp"], r["fn"]) == (0, 1, 0)
    assert r["recall"] is None and r["precision"] == 0.0
    both = evaluate(table([]), table([]))
    assert (both["tp"], both["fp"], both["fn"], both["frames_evaluated"]) == (0, 0, 0, 0)


def test_frames_restriction() -> None:
    gt = table([(0, 0, 0, 10, 10)])
    pred = table([(0, 0, 0, 10, 10), (7, 0, 0, 10, 10)])
    r = evaluate(pred, gt, frames=[0, 1])
    assert (r["tp"], r["fp"], r["fn"], r["frames_evaluated"]) == (1, 0, 0, 2)


def test_many_frames_vectorised_counts() -> None:
    rng = np.random.default_rng(0)
    n = 500
    frames = np.repeat(np.arange(n), 2)
    x = rng.uniform(0, 1000, size=2 * n)
    gt_rows = [
        (f, xi, 0, xi + 20, 20) for f, xi in zip(frames, np.sort(x) + np.arange(2 * n) * 40, strict=True)
    ]
    pred_rows = [r for i, r in enumerate(gt_rows) if i % 4 != 0]
    r = evaluate(table(pred_rows), table(gt_rows))
    assert r["tp"] == len(pred_rows) and r["fn"] == len(gt_rows) - len(pred_rows) and r["fp"] == 0
