"""The render stage hides regions on the decoded YUV planes: it looks like the RGB render it replaced.

Oracle: the former RGB path (decode to RGB, :func:`faceoff.anonymize.anonymize_frame`, RGB piped to the
encoder), run on the same clip and tracks. Both encode losslessly here (crf 0), so codec noise does not hide
a difference. Tolerances, on the decoded outputs (RGB, 0..255):

* outside the hidden regions (grown by 4 px: the chroma of a 2x2 block straddling the edge is hidden
  with it), the YUV render is the source, exactly; the RGB round trip was not (it is allowed a mean
  absolute difference of 2, shown for comparison);
* inside, the regions are hidden as well: the detail left (std of the Laplacian over the region shrunk by
  4 px) is at most 1.25x the RGB render's + 1 and under a quarter of the source's, and the region's mean
  colour is within 4 levels of the RGB render's.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from faceoff.anonymize import anonymize_frame, covered_mask
from faceoff.boxes import TRACK_SCHEMA, boxes_by_frame, read_boxes, write_boxes
from faceoff.config import AuditConfig, RenderConfig
from faceoff.decode import iter_frames
from faceoff.encode import VideoWriter
from faceoff.probe import probe_video
from faceoff.stages.render import run_render
from faceoff.synth.clips import write_clip
from faceoff.synth.hostile import CASES

HOSTILE_OK = [name for name, case in CASES.items() if case.expected == "ok"]

N = 8


def _textured_frames(n: int, width: int, height: int) -> np.ndarray:
    """Smooth colour gradients with fine texture (detail that a blur removes and a codec keeps)."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / width, yy * 255 / height, 128 + 60 * np.sin(xx / 7.0)], axis=-1)
    frames = np.empty((n, height, width, 3), np.uint8)
    for t in range(n):
        texture = rng.normal(0, 28, (height // 4 + 1, width // 4 + 1, 1)).repeat(4, 0).repeat(4, 1)
        frames[t] = np.clip(base + texture[:height, :width], 0, 255)
    return frames


def _tracks(path, info) -> None:
    rows = []
    for t in range(N):
        rows.append((t, 20 + 3 * t, 18, 70 + 3 * t, 80, 0.0))  # a face moving right
        if t % 2:
            rows.append(
                (t, info.width - 30, info.height - 40, info.width + 10, info.height, 6.0)
            )  # at the edge
    df = pd.DataFrame(rows, columns=["frame_index", "x1", "y1", "x2", "y2", "pad"])
    df = df.assign(
        pts_time=np.asarray(info.pts_time)[df.frame_index], score=0.9, track_id=0, source="detected"
    )
    meta = {"frame_count": info.frame_count, "width": info.width, "height": info.height}
    write_boxes(df.astype({"frame_index": "int64"}), path, meta, TRACK_SCHEMA)


def _rgb_render(src, info, tracks, cfg: RenderConfig, out) -> None:
    """The former render path: RGB frames hidden by anonymize_frame, RGB piped to ffmpeg."""
    by_frame = boxes_by_frame(read_boxes(tracks), hidden=True)
    with VideoWriter(out, info, crf=cfg.crf, preset=cfg.preset) as writer:
        for indices, frames in iter_frames(src, info, batch_size=4):
            for i, frame in zip(indices, frames, strict=True):
                if int(i) in by_frame:
                    anonymize_frame(frame, by_frame[int(i)], cfg)
            writer.write(frames)


def _decoded(path, info) -> np.ndarray:
    return np.concatenate([f for _, f in iter_frames(path, info)]).astype(np.float64)


def _detail(frame: np.ndarray, where: np.ndarray) -> float:
    """Std of the Laplacian of ``frame``'s grey levels over the pixels ``where``."""
    lap = cv2.Laplacian(cv2.cvtColor(frame.astype(np.uint8), cv2.COLOR_RGB2GRAY), cv2.CV_64F)
    return float(lap[where].std())


@pytest.mark.parametrize(
    "width,height,rotation,method",
    [
        (160, 120, 0, "blur"),  # yuv420p
        (160, 120, 0, "pixelate"),
        (160, 120, 0, "fill"),
        (161, 119, 0, "blur"),  # odd size: yuv444p
        (160, 120, 90, "blur"),  # rotated: the planes are rotated upright
        (161, 119, 270, "blur"),
    ],
)
def test_yuv_render_looks_like_the_rgb_render(tmp_path, width, height, rotation, method):
    frames = _textured_frames(N, width, height)
    src = tmp_path / "src.mp4"
    write_clip(src, frames, fps=25, rotation=rotation, crf=10)
    info = probe_video(src)
    tracks = tmp_path / "tracks.parquet"
    _tracks(tracks, info)
    cfg = RenderConfig(method=method, crf=0)
    yuv_out, rgb_out = tmp_path / "yuv.mp4", tmp_path / "rgb.mp4"
    stats = run_render(str(src), info, tracks, cfg, yuv_out, tmp_path / "yuv.json")
    _rgb_render(src, info, tracks, cfg, rgb_out)
    assert stats["frames_written"] == N and stats["audit"] == {"enabled": False}
    out_info = probe_video(yuv_out)
    assert (out_info.width, out_info.height, out_info.frame_count) == (info.width, info.height, N)
    assert out_info.pix_fmt == ("yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p")

    a, b = _decoded(yuv_out, out_info), _decoded(rgb_out, probe_video(rgb_out))
    source = _decoded(src, info)
    by_frame = boxes_by_frame(read_boxes(tracks), hidden=True)
    kernel = np.ones((9, 9), np.uint8)
    for t in range(N):
        hidden = covered_mask(by_frame[t], cfg, info.width, info.height)
        near = cv2.dilate(hidden.astype(np.uint8), kernel).astype(bool)
        assert np.array_equal(a[t][~near], source[t][~near]), t
        assert np.abs(b[t] - source[t])[~near].mean() < 2
        assert np.abs(a[t][hidden].mean(0) - b[t][hidden].mean(0)).max() < 4
        inner = cv2.erode(hidden.astype(np.uint8), kernel).astype(bool)
        if method != "fill":  # a fill has no detail in either render
            yuv_detail, rgb_detail, src_detail = (_detail(x[t], inner) for x in (a, b, source))
            assert yuv_detail <= 1.25 * rgb_detail + 1 and yuv_detail < src_detail / 4, (
                yuv_detail,
                rgb_detail,
                src_detail,
            )


def test_vfr_timestamps_kept(tmp_path):
    pts = np.cumsum([0.0, 0.04, 0.1, 0.02, 0.04, 0.2])
    src = write_clip(tmp_path / "vfr.mp4", _textured_frames(len(pts), 64, 48), pts_time=pts)
    info = probe_video(src)
    tracks = tmp_path / "t.parquet"
    write_boxes(
        pd.DataFrame(columns=["frame_index", "x1", "y1", "x2", "y2"])
        .astype(float)
        .astype({"frame_index": "int64"})
        .assign(pts_time=[], score=[], track_id=[], source=[]),
        tracks,
        {"frame_count": len(pts)},
        TRACK_SCHEMA,
    )
    run_render(str(src), info, tracks, RenderConfig(), tmp_path / "out.mp4", tmp_path / "out.json")
    out = probe_video(tmp_path / "out.mp4")
    np.testing.assert_allclose(out.pts_time, info.pts_time, atol=1e-4)


def _no_tracks(path, info) -> None:
    empty = pd.DataFrame(
        {c: pd.Series(dtype="float64") for c in ("x1", "y1", "x2", "y2", "pts_time", "score")}
    )
    empty = empty.assign(frame_index=pd.Series(dtype="int64"), track_id=pd.Series(dtype="int64"), source="")
    write_boxes(empty, path, {"frame_count": info.frame_count}, TRACK_SCHEMA)


@pytest.mark.parametrize("name", HOSTILE_OK)
def test_every_accepted_input_renders_through_the_yuv_path(hostile_corpus, name, tmp_path):
    """10-bit, HEVC, 4:2:2, full-range, odd sizes, rotations, VFR...: the render (no boxes) gives the source's
    frames, count, size and timestamps, within codec noise of the RGB decode."""
    path, _ = hostile_corpus[name]
    info = probe_video(path)
    tracks = tmp_path / "t.parquet"
    _no_tracks(tracks, info)
    out = tmp_path / "out.mp4"
    run_render(str(path), info, tracks, RenderConfig(), out, tmp_path / "out.json")
    got = probe_video(out)
    assert (got.frame_count, got.width, got.height, got.rotation) == (
        info.frame_count,
        info.width,
        info.height,
        0,
    )
    shifted = np.asarray(info.pts_time) - min(0.0, info.pts_time[0])  # MP4 holds no time before 0
    np.testing.assert_allclose(got.pts_time, shifted, atol=float(info.time_base_fraction) / 2)
    source, rendered = _decoded(path, info), _decoded(out, got)
    assert np.abs(rendered - source).mean() < 4, name


@pytest.mark.parametrize(("color_range", "color_matrix"), [("pc", "bt709"), ("tv", "bt709"), ("pc", None)])
def test_tagged_source_is_checked_and_filled_as_shown(
    tmp_path, make_clip, recording_detector, color_range, color_matrix
):
    """A full-range (IP camera) or BT.709 source: the render's frame check gives the audit's detector the
    picture a player shows (the source decoded with its tags), dark pixels included, and a fill is the
    configured colour in the delivered video."""
    y, x = np.mgrid[0:48, 0:64]
    ramp = np.stack([x * 4, y * 5, (x + y) * 2], -1).clip(0, 255).astype(np.uint8)  # black to bright
    src = make_clip(frames=np.stack([ramp] * 4), color_range=color_range, color_matrix=color_matrix, crf=0)
    info = probe_video(src)
    tracks = tmp_path / "t.parquet"
    box = {"x1": 40.0, "y1": 8.0, "x2": 56.0, "y2": 24.0, "score": 0.9, "track_id": 0, "source": "detected"}
    write_boxes(
        pd.DataFrame([{"frame_index": f, "pts_time": info.pts_time[f], **box} for f in range(4)]),
        tracks,
        {"frame_count": 4},
        TRACK_SCHEMA,
    )
    checked = recording_detector()
    cfg = RenderConfig(
        method="fill", fill_color=(200, 30, 90), shape="rectangle", box_scale=1.0, min_margin=0
    )
    out = tmp_path / "out.mp4"
    run_render(str(src), info, tracks, cfg, out, tmp_path / "out.json", audit=AuditConfig(), detector=checked)
    shown = np.concatenate([f for _, f in iter_frames(src, info)]).astype(int)
    seen = np.stack(checked.frames).astype(int)
    outside = np.ones(shown.shape[:3], bool)
    outside[:, 6:26, 38:58] = False  # the hidden box and the chroma it touches
    dark = outside[..., None] & (shown < 40)
    assert np.abs(seen - shown)[outside].mean() < 1.5
    assert abs(seen[dark].mean() - shown[dark].mean()) < 2  # limited-range reading halved these
    delivered = np.concatenate([f for _, f in iter_frames(out, probe_video(out))]).astype(int)
    assert np.abs(delivered[:, 10:22, 42:54] - (200, 30, 90)).max() <= 6
