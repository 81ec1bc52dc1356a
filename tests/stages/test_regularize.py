"""The regularize stage (faceoff/stages/regularize.py): tracks for every frame, provenance, refusals."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from faceoff.boxes import DETECTION_SCHEMA, read_boxes, read_metadata, write_boxes
from faceoff.config import RegularizeConfig
from faceoff.errors import FaceOffError
from faceoff.probe import probe_video
from faceoff.stages.regularize import run_regularize


def _detections(path, frames, n_frames, **meta):
    """A 20 px face moving right 1 px a frame, detected on ``frames``."""
    f = np.asarray(frames)
    det = pd.DataFrame(
        {
            "frame_index": f,
            "x1": 10.0 + f,
            "y1": 10.0,
            "x2": 30.0 + f,
            "y2": 30.0,
            "score": 0.9,
            "pts_time": 0.0,
        }
    )
    write_boxes(det, path, {"frame_count": n_frames, **meta}, DETECTION_SCHEMA)
    return path


@pytest.mark.parametrize("method", ["tracks", "kernel"])
def test_a_gap_is_filled_with_the_probed_timestamps(clip, tmp_path, method):
    info = dataclasses.replace(probe_video(clip), cuts=[])  # one shot
    det = _detections(tmp_path / "d.parquet", [0, 1, 2, 3, 7, 8, 9, 10, 11], info.frame_count)
    cfg = RegularizeConfig(method=method, follow_frames=0, kernel_radius=3)
    out = tmp_path / "t.parquet"
    run_regularize(det, info, cfg, out)
    tracks = read_boxes(out)
    assert sorted(tracks["frame_index"].unique()) == list(range(12))
    np.testing.assert_array_equal(tracks["pts_time"], np.asarray(info.pts_time)[tracks["frame_index"]])
    meta = read_metadata(out)
    assert meta["params_hash"] == cfg.params_hash() and meta["frame_count"] == 12 and meta["method"] == method


def test_detections_of_another_video_are_refused(clip, tmp_path):
    info = dataclasses.replace(probe_video(clip), cuts=[])  # one shot
    det = _detections(tmp_path / "d.parquet", [0, 1], info.frame_count + 3)
    out = tmp_path / "t.parquet"
    with pytest.raises(FaceOffError, match=f"d.parquet: made for frame_count {info.frame_count + 3}"):
        run_regularize(det, info, RegularizeConfig(follow_frames=0), out)
    wide = _detections(tmp_path / "w.parquet", [0, 1], info.frame_count, width=info.width * 2)
    with pytest.raises(FaceOffError, match="made for width"):
        run_regularize(wide, info, RegularizeConfig(follow_frames=0), out)
    assert not out.exists()


@pytest.mark.parametrize("keep_score", [0.2, 0.0])
def test_a_face_the_tracks_drop_is_still_hidden_where_the_detector_saw_it(clip, tmp_path, keep_score):
    """A face seen at 0.25 on frames 2, 5 and 9 only is never confident and too brief to persist, so it
    makes no track. With ``keep_score`` 0.2 each of those detections is hidden on its own frame (one
    track of ``unconfirmed`` rows, no pad, nothing in between); a 0.17 box is not; a 0.25 box on a kept
    track's face is not added twice. With 0, none of them is hidden (the tracker alone)."""
    info = dataclasses.replace(probe_video(clip), cuts=[])  # 12 frames, 64x48
    rows = [(f, 2.0, 2.0, 16.0, 16.0, 0.9) for f in range(12)]  # a confident face: a track
    rows += [(f, 36.0, 20.0, 50.0, 34.0, 0.25) for f in (2, 5, 9)]  # the weak face
    rows += [(7, 36.0, 20.0, 50.0, 34.0, 0.17), (4, 3.0, 2.0, 17.0, 16.0, 0.25)]
    det = pd.DataFrame(rows, columns=["frame_index", "x1", "y1", "x2", "y2", "score"]).assign(pts_time=0.0)
    write_boxes(det, tmp_path / "d.parquet", {"frame_count": info.frame_count}, DETECTION_SCHEMA)
    cfg = RegularizeConfig(follow_frames=0, keep_score=keep_score)
    tracks = run_regularize(tmp_path / "d.parquet", info, cfg, tmp_path / "t.parquet")
    weak = tracks[tracks["x1"] > 30]
    assert (tracks[tracks["x1"] < 30].groupby("frame_index").size() == 1).all()  # the kept face, once
    if keep_score == 0:
        assert weak.empty
        return
    assert sorted(weak["frame_index"]) == [2, 5, 9] and weak["track_id"].nunique() == 1
    assert (weak["source"] == "unconfirmed").all() and (weak["pad"] == 0).all()
    np.testing.assert_allclose(weak[["x1", "y1", "x2", "y2"]], [[36.0, 20.0, 50.0, 34.0]] * 3)
    np.testing.assert_array_equal(weak["pts_time"], np.asarray(info.pts_time)[[2, 5, 9]])
