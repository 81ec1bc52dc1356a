"""The paper's temporal kernel: bidirectional spread, per-frame merging, sources and timestamps."""

import numpy as np
import pandas as pd

from faceoff.regularize import kernel_regularize


def _dets(rows):
    return pd.DataFrame(rows, columns=["frame_index", "x1", "y1", "x2", "y2", "score"])


def test_spreads_both_ways_and_clips_to_video():
    pts = np.arange(10) / 25.0
    tracks = kernel_regularize(_dets([(1, 10, 10, 20, 20, 0.9)]), pts, kernel_radius=3, merge_iou=0.3)
    assert tracks["frame_index"].tolist() == [0, 1, 2, 3, 4]
    assert tracks.loc[tracks.frame_index == 1, "source"].item() == "detected"
    assert set(tracks.loc[tracks.frame_index != 1, "source"]) == {"propagated"}
    np.testing.assert_allclose(tracks["pts_time"], pts[[0, 1, 2, 3, 4]])


def test_gap_is_bridged_and_overlaps_merge_to_union():
    dets = _dets([(0, 10, 10, 20, 20, 0.9), (4, 12, 10, 22, 20, 0.5)])
    tracks = kernel_regularize(dets, np.arange(5) / 25.0, kernel_radius=4, merge_iou=0.3)
    assert tracks["frame_index"].tolist() == [0, 1, 2, 3, 4]  # one box per frame: merged
    row = tracks[tracks.frame_index == 2].iloc[0]
    assert (row.x1, row.x2, row.score) == (10, 22, np.float64(0.9))
    assert tracks["track_id"].tolist() == [0, 0, 0, 1, 1]  # each frame keeps its nearest detection


def test_separate_faces_stay_separate():
    dets = _dets([(2, 0, 0, 10, 10, 0.9), (2, 50, 50, 60, 60, 0.8)])
    tracks = kernel_regularize(dets, np.arange(5) / 25.0, kernel_radius=0, merge_iou=0.0)
    assert len(tracks) == 2 and tracks["track_id"].nunique() == 2


def test_empty_detections_give_empty_tracks():
    tracks = kernel_regularize(_dets([]), np.arange(5) / 25.0, kernel_radius=2, merge_iou=0.3)
    assert tracks.empty and {"track_id", "source"} <= set(tracks.columns)


def test_frame_keeps_its_own_detection_over_neighbours():
    dets = _dets([(0, 10, 10, 30, 30, 0.9), (1, 14, 10, 34, 30, 0.5), (2, 18, 10, 38, 30, 0.9)])
    tracks = kernel_regularize(dets, np.arange(3) / 25.0, kernel_radius=2, merge_iou=0.3)
    assert len(tracks) == 3
    assert tracks["x1"].tolist() == [10, 14, 18] and set(tracks["source"]) == {"detected"}
