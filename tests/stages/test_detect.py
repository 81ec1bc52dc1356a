"""The detect stage (faceoff/stages/detect.py): a killed job resumes from its last shard, same table."""

import numpy as np
import pandas as pd
import pytest
import skimage.data

import faceoff.detectors as detectors
from faceoff.boxes import read_boxes, read_metadata
from faceoff.config import DetectConfig
from faceoff.probe import probe_video
from faceoff.shards import ShardStore
from faceoff.stages.detect import run_detect
from faceoff.synth.clips import write_clip


class Killed(Exception):
    pass


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
def test_interrupted_detect_resumes_and_matches(tmp_path, monkeypatch, zoom_scale, clip):
    video = clip
    info = probe_video(video)
    cfg = DetectConfig(width=0, batch_size=4, shard_frames=8, zoom_scale=zoom_scale)
    full = run_detect(str(video), info, cfg, tmp_path / "full.parquet")
    assert (full["x1"] > 140).any() == (zoom_scale > 1)  # the small face: with the zoom only

    real_build = detectors.build_detector
    detected: list[int] = []

    def build(*args, **kwargs):
        det = real_build(*args, **kwargs)
        real_detect = det.detect

        def detect(frames, threshold):
            if frames.shape[1:3] != (info.height, info.width):  # the zoom's crops
                return real_detect(frames, threshold)
            if kill_after is not None and len(detected) >= kill_after:
                raise Killed
            detected.append(len(frames))
            return real_detect(frames, threshold)

        det.detect = detect
        return det

    monkeypatch.setattr(detectors, "build_detector", build)
    out = tmp_path / "resumed.parquet"
    kill_after = 5  # 5 batches of 4 = 20 frames: shards [0,8) and [8,16) are saved
    with pytest.raises(Killed):
        run_detect(str(video), info, cfg, out)
    assert not out.exists()
    assert len(list((tmp_path / ".resumed.parquet.parts").glob("*.npz"))) == 2

    kill_after, detected[:] = None, []
    run_detect(str(video), info, cfg, out)
    assert sum(detected) == 40 - 16, "frames of finished shards were detected again"
    assert read_metadata(out)["resumed_at_frame"] == 16
    pd.testing.assert_frame_equal(read_boxes(out), read_boxes(tmp_path / "full.parquet"))
    assert len(full) == len(read_boxes(out)) > 30
    assert not (tmp_path / ".resumed.parquet.parts").exists()


def test_shards_of_other_parameters_are_ignored(tmp_path, clip):
    video = clip
    info = probe_video(video)
    store = ShardStore(
        tmp_path / "d.parquet", {"params": "other", "source": info.sha256, "weights": "x"}
    )
    store.save(0, 40, np.empty((0, 6)))  # claims "no faces anywhere" under other parameters
    df = run_detect(str(video), info, DetectConfig(width=0), tmp_path / "d.parquet")
    assert df["frame_index"].nunique() >= 35
