"""The render stage (faceoff/stages/render.py): every frame written, the tracked region hidden, the rest
kept, streams dropped as configured, and nothing at the output path when the tracks do not fit."""

import json

import numpy as np
import pandas as pd
import pytest

from faceoff.boxes import TRACK_SCHEMA, write_boxes
from faceoff.config import RenderConfig
from faceoff.decode import iter_frames
from faceoff.errors import FaceOffError
from faceoff.probe import probe_video
from faceoff.stages.render import run_render

N, W, H = 10, 96, 64
BOX = (30.0, 20.0, 60.0, 50.0)


def _textured(n=N):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    frame = np.repeat(np.repeat(frame[::8, ::8], 8, 0), 8, 1)[:H, :W]  # 8 px blocks: survive the codec
    return np.repeat(frame[None], n, 0)


def _tracks(path, frames, n_frames=N):
    df = pd.DataFrame(
        {
            "frame_index": np.asarray(frames, dtype=np.int64),
            "pts_time": 0.0,
            "x1": BOX[0],
            "y1": BOX[1],
            "x2": BOX[2],
            "y2": BOX[3],
            "score": 0.9,
            "track_id": 0,
            "source": "detected",
        }
    )
    write_boxes(df, path, {"frame_count": n_frames}, TRACK_SCHEMA)
    return path


def _frames(path, info):
    return np.concatenate([f for _, f in iter_frames(path, info, batch_size=4)])


def test_tracked_frames_are_hidden_the_others_kept(make_clip, tmp_path):
    src = make_clip(frames=_textured(), audio=True)
    info = probe_video(src)
    out, stats_out = tmp_path / "v.mp4", tmp_path / "v.json"
    stats = run_render(
        str(src), info, _tracks(tmp_path / "t.parquet", [2, 3, 4]), RenderConfig(), out, stats_out
    )
    assert stats == json.loads(stats_out.read_text())
    assert stats["frames_written"] == N and stats["boxes_hidden"] == 3
    assert stats["dropped_streams"] == {"audio": 1} and stats["kept_streams"] == {"video": 1, "audio": 0}
    before, after = _frames(src, info), _frames(out, probe_video(out))
    assert after.shape == before.shape
    x1, y1, x2, y2 = (int(v) for v in BOX)
    diff = np.abs(after.astype(int) - before.astype(int))
    for i in range(N):
        face = diff[i, y1 + 5 : y2 - 5, x1 + 5 : x2 - 5].mean()
        corner = diff[i, :12, :12].mean()  # far from the box: only codec noise
        assert corner < 6, (i, corner)
        assert (face > 25) == (i in (2, 3, 4)), (i, face)


def test_tracks_of_another_video_write_nothing(clip, tmp_path):
    info = probe_video(clip)
    out = tmp_path / "v.mp4"
    with pytest.raises(FaceOffError, match="made for frame_count 99"):
        run_render(
            str(clip),
            info,
            _tracks(tmp_path / "t.parquet", [0], 99),
            RenderConfig(),
            out,
            tmp_path / "s.json",
        )
    assert not out.exists() and list(tmp_path.glob(".v.mp4*")) == []


def test_a_second_video_stream_is_dropped_and_reported(make_clip, tmp_path):
    """A recording with a second camera's stream (or cover art): only the processed stream is delivered,
    and the stats say what was dropped."""
    import av

    src = make_clip(frames=_textured())
    two = tmp_path / "two_cameras.mkv"
    with av.open(str(src)) as inp, av.open(str(two), "w") as out:
        first = out.add_stream_from_template(inp.streams.video[0])
        second = out.add_stream("mpeg4", rate=25)
        second.width, second.height, second.pix_fmt = 32, 32, "yuv420p"
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = first
                out.mux(packet)
        for k in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 40 * k, np.uint8), format="rgb24")
            out.mux(second.encode(frame))
        out.mux(second.encode(None))
    info = probe_video(two)
    assert info.streams["video"] == 2 and (info.width, info.height, info.frame_count) == (W, H, N)
    out = tmp_path / "v.mp4"
    stats = run_render(
        str(two), info, _tracks(tmp_path / "t.parquet", [2]), RenderConfig(), out, tmp_path / "v.json"
    )
    assert stats["dropped_streams"] == {"video": 1} and stats["kept_streams"] == {"video": 1, "audio": 0}
    with av.open(str(out)) as delivered:
        assert [(s.type, s.width) for s in delivered.streams] == [("video", W)]
