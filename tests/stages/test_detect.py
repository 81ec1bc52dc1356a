"""The detect stage (faceoff/stages/detect.py): a killed job resumes from its last shard, same table
(also with a stride, killed in either pass)."""

import numpy as np
import pandas as pd
import pytest
import skimage.data

from faceoff.boxes import read_boxes, read_metadata
from faceoff.config import DetectConfig
from faceoff.probe import probe_video
from faceoff.shards import ShardStore
from faceoff.stages.detect import run_detect
from faceoff.synth.clips import write_clip


@pytest.fixture
def clip(tmp_path, small_face_frames):
    """40 frames: a 44 px face moving right, and the 11 px one of ``small_face_frames`` (found only by
    the zoom) standing still."""
    frames, _ = small_face_frames(40)
    face = skimage.data.astronaut()[30:190, 150:290][::2, ::2]
    for t in range(40):
        frames[t, 30 : 30 + face.shape[0], 10 + 2 * t : 10 + 2 * t + face.shape[1]] = face
    return write_clip(tmp_path / "long.mp4", frames, fps=25)


@pytest.mark.parametrize("zoom_scale", [1.0, 2.0])
def test_interrupted_detect_resumes_and_matches(tmp_path, watch_detector, zoom_scale, clip):
    video = clip
    info = probe_video(video)
    # threshold 0.2: the small face scores between 0.15 (the default) and 0.2 without the zoom
    cfg = DetectConfig(width=0, batch_size=4, shard_frames=8, zoom_scale=zoom_scale, threshold=0.2)
    full = run_detect(str(video), info, cfg, tmp_path / "full.parquet")
    assert (full["x1"] > 140).any() == (zoom_scale > 1)  # the small face: with the zoom only

    out = tmp_path / "resumed.parquet"
    watch_detector((info.height, info.width), kill_after=5)  # 5 batches of 4 frames: shards [0,8), [8,16)
    with pytest.raises(watch_detector.Killed):
        run_detect(str(video), info, cfg, out)
    assert not out.exists()
    assert len(list((tmp_path / ".resumed.parquet.parts").glob("*.npz"))) == 2

    detected = watch_detector((info.height, info.width))
    run_detect(str(video), info, cfg, out)
    assert sum(detected) == 40 - 16, "frames of finished shards were detected again"
    assert read_metadata(out)["resumed_at_frame"] == 16
    pd.testing.assert_frame_equal(read_boxes(out), read_boxes(tmp_path / "full.parquet"))
    assert len(full) == len(read_boxes(out)) > 30
    assert not (tmp_path / ".resumed.parquet.parts").exists()


def test_shards_of_other_parameters_are_ignored(tmp_path, clip):
    video = clip
    info = probe_video(video)
    store = ShardStore(tmp_path / "d.parquet", {"params": "other", "source": info.sha256, "weights": "x"})
    store.save(0, 40, np.empty((0, 6)))  # claims "no faces anywhere" under other parameters
    df = run_detect(str(video), info, DetectConfig(width=0), tmp_path / "d.parquet")
    assert df["frame_index"].nunique() >= 35


@pytest.mark.parametrize("kill_after", [3, 10, 14])  # calls on whole frames: pass 1, its end, pass 2
def test_a_killed_strided_detect_resumes_to_the_same_table(tmp_path, watch_detector, clip, kill_after):
    info = probe_video(clip)
    cfg = DetectConfig(width=0, batch_size=4, shard_frames=8, stride=2)  # with the zoom
    calls = watch_detector((info.height, info.width))
    full = run_detect(str(clip), info, cfg, tmp_path / "full.parquet")
    meta = read_metadata(tmp_path / "full.parquet")
    assert sum(calls[:10]) == meta["strided_frame_count"]  # pass 1: 10 calls of 2 or 3 frames
    assert len(calls) > 14 and meta["revisited_frame_count"] > 0

    out = tmp_path / "resumed.parquet"
    watch_detector((info.height, info.width), kill_after)
    with pytest.raises(watch_detector.Killed):
        run_detect(str(clip), info, cfg, out)
    assert not out.exists()
    again = watch_detector((info.height, info.width))
    run_detect(str(clip), info, cfg, out)
    pd.testing.assert_frame_equal(read_boxes(out), read_boxes(tmp_path / "full.parquet"))
    assert read_metadata(out)["detected_frames"] == meta["detected_frames"]
    assert sum(again) < sum(calls), "the resumed job detected every frame again"
    assert (full["x1"] > 140).any()  # the small face, found by the zoom
    assert not (tmp_path / ".resumed.parquet.parts").exists()
