"""iter_frames and frames_at: count, order, orientation, resize and fail-closed checks, for both backends."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from faceoff.decode import choose_backend, frames_at, iter_frames
from faceoff.errors import VideoError
from faceoff.probe import probe_video
from faceoff.synth import pattern_frames, pattern_index

BACKENDS = ["decord", "pyav"]


def decode_all(path, info, **kw):
    batches = list(iter_frames(path, info, **kw))
    idx = np.concatenate([b[0] for b in batches])
    frames = np.concatenate([b[1] for b in batches])
    return batches, idx, frames


def marker_corner(frame: np.ndarray) -> str:
    """Which corner holds the bright pattern block."""
    h, w = frame.shape[:2]
    corners = {
        "top-left": frame[: h // 6, : w // 6],
        "top-right": frame[: h // 6, -(w // 6) :],
        "bottom-left": frame[-(h // 6) :, : w // 6],
        "bottom-right": frame[-(h // 6) :, -(w // 6) :],
    }
    return max(corners, key=lambda k: corners[k].mean())


@pytest.mark.parametrize("backend", BACKENDS)
def test_count_and_order(make_clip, backend):
    path = make_clip(n=23)
    info = probe_video(path)
    batches, idx, frames = decode_all(path, info, batch_size=5, backend=backend)
    assert [len(b[0]) for b in batches] == [5, 5, 5, 5, 3]
    assert idx.dtype == np.int64 and idx.tolist() == list(range(23))
    assert frames.dtype == np.uint8 and frames.shape == (23, 48, 64, 3)
    assert [pattern_index(f) for f in frames] == list(range(23))
    expected = pattern_frames(23, 64, 48)
    assert np.abs(frames.astype(int) - expected).mean() < 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_vfr_order(make_clip, backend):
    rng = np.random.default_rng(3)
    times = np.cumsum(np.r_[0, rng.uniform(0.005, 0.2, 29)]).tolist()
    path = make_clip(n=30, pts_time=times)
    info = probe_video(path)
    _, idx, frames = decode_all(path, info, batch_size=8, backend=backend)
    assert [pattern_index(f) for f in frames] == list(range(30)) == idx.tolist()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_rotation_applied(make_clip, rotation, backend):
    path = make_clip(n=5, width=160, height=96, rotation=rotation)
    info = probe_video(path)
    _, _, frames = decode_all(path, info, batch_size=4, backend=backend)
    expected = np.rot90(pattern_frames(5, 160, 96), rotation // 90, axes=(1, 2))
    assert frames.shape == expected.shape == (5, info.height, info.width, 3)
    assert np.abs(frames.astype(int) - expected).mean() < 3
    assert [pattern_index(f) for f in frames] == list(range(5))
    corner = {0: "top-left", 90: "bottom-left", 180: "bottom-right", 270: "top-right"}[rotation]
    assert marker_corner(frames[0]) == corner


@pytest.mark.parametrize("rotation", [0, 90, 270])
@pytest.mark.parametrize("pix_fmt", [None, "yuv444p", "yuv420p10le"])
def test_gray_frames_are_the_rgb_frames_luma(make_clip, rotation, pix_fmt):
    """Grey decoding (the luma plane as stored, or converted for other formats) gives the same frames
    as RGB decoding, same order, same orientation; only PyAV decodes grey."""
    path = make_clip(n=6, width=160, height=96, rotation=rotation, pix_fmt=pix_fmt)
    info = probe_video(path)
    _, idx, grey = decode_all(path, info, batch_size=4, gray=True)
    _, _, rgb = decode_all(path, info, batch_size=4)
    assert idx.tolist() == list(range(6)) and grey.dtype == np.uint8
    assert grey.shape == rgb.shape[:3] == (6, info.height, info.width)
    luma = rgb.astype(float) @ [0.299, 0.587, 0.114]
    for g, y in zip(grey.astype(float), luma, strict=True):
        assert np.corrcoef(g.ravel(), y.ravel())[0, 1] > 0.99
    assert marker_corner(grey[0]) == marker_corner(rgb[0])
    with pytest.raises(ValueError, match="PyAV"):
        next(iter_frames(path, info, gray=True, backend="decord"))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_resize(make_clip, rotation, backend):
    path = make_clip(n=5, width=192, height=128, rotation=rotation)
    info = probe_video(path)
    size = (info.width // 2, info.height // 2)
    _, idx, frames = decode_all(path, info, batch_size=3, size=size, backend=backend)
    assert frames.shape == (5, size[1], size[0], 3)
    assert idx.tolist() == list(range(5))
    assert [pattern_index(f) for f in frames] == list(range(5))
    full = np.rot90(pattern_frames(1, 192, 128)[0], rotation // 90)
    assert marker_corner(frames[0]) == marker_corner(full)
    small = full[::2, ::2]  # the pattern is blocky: subsampling approximates a resize
    assert np.abs(frames[0].astype(int) - small).mean() < 12


def test_backend_choice(make_clip):
    info48 = probe_video(make_clip("a.mp4", n=2, width=48, height=32))
    info64 = probe_video(make_clip("b.mp4", n=2, width=64, height=48))
    assert choose_backend(info48) == choose_backend(info64) == "pyav"  # default: flat memory
    assert choose_backend(info64, "decord") == "decord"
    assert choose_backend(info64, "pyav") == "pyav"
    with pytest.raises(ValueError, match="decord"):  # decord 0.6.0 returns 4 channels for 48-px widths
        choose_backend(info48, "decord")
    with pytest.raises(ValueError, match="decord"):
        choose_backend(info64, "decord", size=(48, 36))
    with pytest.raises(ValueError, match="backend"):
        choose_backend(info64, "opencv")


def test_odd_size(make_clip):
    path = make_clip(n=5, width=65, height=49)
    info = probe_video(path)
    for backend in BACKENDS:
        _, _, frames = decode_all(path, info, backend=backend)
        assert frames.shape == (5, 49, 65, 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_count_mismatch_is_error(make_clip, backend):
    path = make_clip(n=9)
    info = probe_video(path)
    extra = info.pts[-1] + (info.pts[1] - info.pts[0])
    bad = dataclasses.replace(
        info,
        frame_count=10,
        pts=[*info.pts, extra],
        pts_time=[*info.pts_time, float(extra * info.time_base_fraction)],
    )
    with pytest.raises(VideoError, match="frames") as e:
        for _ in iter_frames(path, bad, batch_size=4, backend=backend):
            pass
    assert str(path) in str(e.value)


def test_pyav_checks_every_timestamp(make_clip):
    path = make_clip(n=9)
    info = probe_video(path)
    shifted = dataclasses.replace(info, pts=[*info.pts[:5], info.pts[5] + 1, *info.pts[6:]])
    got = []
    with pytest.raises(VideoError, match="frame 5 has pts"):
        for idx, _ in iter_frames(path, shifted, batch_size=2, backend="pyav"):
            got.extend(idx.tolist())
    assert got == [0, 1, 2, 3]  # nothing past the bad frame is yielded


def test_missing_file(clip, tmp_path):
    info = probe_video(clip)
    gone = tmp_path / "gone.mp4"
    for backend in BACKENDS:
        with pytest.raises(VideoError, match="gone.mp4"):
            list(iter_frames(gone, info, backend=backend))


@pytest.mark.parametrize("rotation", [0, 90])
@pytest.mark.parametrize("half", [False, True])
def test_frames_at_are_iter_frames_rows(make_clip, rotation, half):
    path = make_clip(n=14, width=96, height=64, rotation=rotation)
    info = probe_video(path)
    size = (info.width // 2, info.height // 2) if half else None
    _, _, every = decode_all(path, info, batch_size=4, size=size, backend="pyav")
    got = frames_at(path, info, [9, 0, 4, 9], size)
    assert sorted(got) == [0, 4, 9]
    for index, frame in got.items():
        assert np.array_equal(frame, every[index])
        assert pattern_index(frame) == index
    assert frames_at(path, info, []) == {}
    with pytest.raises(ValueError, match="probed"):
        frames_at(path, info, [14])


def test_frames_at_checks_every_timestamp_up_to_the_last_wanted(make_clip):
    path = make_clip(n=9)
    info = probe_video(path)
    shifted = dataclasses.replace(info, pts=[*info.pts[:5], info.pts[5] + 1, *info.pts[6:]])
    with pytest.raises(VideoError, match="frame 5 has pts"):
        frames_at(path, shifted, [2, 7])
    assert pattern_index(frames_at(path, shifted, [4])[4]) == 4  # frame 5 is never reached
