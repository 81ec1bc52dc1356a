"""The numpy NMS against torchvision's, the oracle: the same boxes kept, in the same order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from faceoff.detectors.nms import batched_nms, nms


def random_boxes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(0, 60, (n, 2))  # some boxes with (almost) no area
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    scores = rng.uniform(0, 1, n).astype(np.float32)
    scores[rng.random(n) < 0.2] = 1.0  # ties, as a saturated heatmap gives
    return boxes, scores


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("iou", [0.3, 0.4, 0.7])
def test_nms_matches_torchvision(seed, iou):
    rng = np.random.default_rng(seed)
    boxes, scores = random_boxes(rng, int(rng.integers(1, 300)))
    expected = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou).numpy()
    got = nms(boxes, scores, iou)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)


def test_nms_at_the_threshold_and_degenerate():
    # IoU 1/3: its float32 value lies just above the float64 threshold 1/3, which torchvision compares to
    boxes = np.array([[0, 0, 2, 1], [1, 0, 3, 1]], np.float32)
    scores = np.array([0.9, 0.8], np.float32)
    for iou in (1 / 3, 0.3, 0.34):
        expected = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou).numpy()
        np.testing.assert_array_equal(nms(boxes, scores, iou), expected)
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.3).shape == (0,)
    empty = np.array([[5, 5, 5, 5], [5, 5, 5, 5]], np.float32)  # no area: IoU undefined, never suppressed
    np.testing.assert_array_equal(nms(empty, np.array([0.5, 0.4], np.float32), 0.3), [0, 1])


@pytest.mark.parametrize("seed", range(10))
def test_batched_nms_is_nms_per_group(seed):
    rng = np.random.default_rng(100 + seed)
    boxes, scores = random_boxes(rng, 200)
    groups = rng.integers(0, 4, 200)
    got = batched_nms(boxes, scores, groups, 0.3)
    expected = torchvision.ops.batched_nms(
        torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(groups), 0.3
    ).numpy()
    assert sorted(got) == sorted(expected)
    # grouped in increasing group order, each group by decreasing score
    assert (np.diff(groups[got]) >= 0).all()
    for g in np.unique(groups):
        assert (np.diff(scores[got[groups[got] == g]]) <= 0).all()
