"""The audit's RGB copy of a YUV frame (faceoff.yuv.to_rgb) against swscale's conversion, the decoder's, and
the fill colour's codes (faceoff.yuv.rgb_to_yuv)."""

import av
import cv2
import numpy as np
import pytest

from faceoff import yuv
from faceoff.decode import iter_frames, iter_yuv
from faceoff.probe import probe_video
from faceoff.synth.demo import demo_frames


def _yuv_frame(rgb: np.ndarray, pix_fmt: str) -> np.ndarray:
    """``rgb`` converted to ``pix_fmt`` by swscale, as one raw buffer (the render's layout)."""
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
    return np.concatenate(
        [np.frombuffer(p, np.uint8).reshape(p.height, -1)[:, : p.width].ravel() for p in frame.planes]
    )


def _swscale_rgb(buf: np.ndarray, width: int, height: int, pix_fmt: str) -> np.ndarray:
    shape = (height * 3 // 2, width) if pix_fmt == "yuv420p" else (3, height, width)
    return av.VideoFrame.from_ndarray(buf.reshape(shape), format=pix_fmt).to_ndarray(format="rgb24")


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    frames, _ = demo_frames()
    return np.ascontiguousarray(frames[40])


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv444p"])
def test_full_size_matches_swscale(scene, pix_fmt):
    height, width = scene.shape[:2]
    buf = _yuv_frame(scene, pix_fmt)
    got = yuv.to_rgb(buf, width, height, pix_fmt).astype(int)
    want = _swscale_rgb(buf, width, height, pix_fmt).astype(int)
    assert got.shape == want.shape == scene.shape
    assert np.abs(got - want).max() <= 4 and np.abs(got - want).mean() < 1.5


@pytest.mark.parametrize(
    ("pix_fmt", "size"),
    [("yuv420p", (480, 270)), ("yuv420p", (320, 180)), ("yuv444p", (480, 270)), ("yuv420p", (321, 181))],
)
def test_resized_matches_swscale_then_resize(scene, pix_fmt, size):
    """Resizing the planes before converting looks as converting first: the detector sees the same picture."""
    height, width = scene.shape[:2]
    buf = _yuv_frame(scene, pix_fmt)
    got = yuv.to_rgb(buf, width, height, pix_fmt, size).astype(int)
    want = cv2.resize(_swscale_rgb(buf, width, height, pix_fmt), size, interpolation=cv2.INTER_LINEAR).astype(
        int
    )
    assert got.shape == (size[1], size[0], 3)
    diff = np.abs(got - want)
    assert diff.mean() < 2.0 and np.percentile(diff, 99) <= 12


def _gradient_frames(n: int = 4, width: int = 96, height: int = 64) -> np.ndarray:
    """Colour ramps from black to white: dark, bright and saturated pixels in every frame."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 255 / (width + height)], -1)
    return np.stack([np.clip(base + 3 * k, 0, 255).astype(np.uint8) for k in range(n)])


@pytest.mark.parametrize(
    ("color_range", "color_matrix"),
    [(None, None), ("pc", None), ("pc", "bt709"), ("tv", "bt709"), ("tv", "bt2020nc")],
)
def test_tagged_frames_convert_as_the_decoder_shows_them(make_clip, color_range, color_matrix):
    """A full-range (IP camera) or BT.709 / BT.2020 source: the audit's RGB copy of the render's planes is
    the picture the decoder shows (swscale honouring the stream's tags), dark pixels included. Read as
    limited-range BT.601, a full-range frame's darks were halved (mean 21 -> 10 levels here)."""
    frames = _gradient_frames()
    src = make_clip(frames=frames, color_range=color_range, color_matrix=color_matrix, crf=0)
    info = probe_video(src)
    assert (info.color_range, info.color_matrix) == (color_range or "tv", color_matrix or "unknown")
    shown = np.concatenate([f for _, f in iter_frames(src, info, backend="pyav")]).astype(int)
    planes_ = np.concatenate([f for _, f in iter_yuv(src, info, "yuv420p")])
    got = np.stack(
        [
            yuv.to_rgb(
                p,
                info.width,
                info.height,
                "yuv420p",
                color_range=info.color_range,
                color_matrix=info.color_matrix,
            )
            for p in planes_
        ]
    ).astype(int)
    assert np.abs(got - shown).mean() < 1.5
    dark = shown < 40
    assert abs(got[dark].mean() - shown[dark].mean()) < 2


@pytest.mark.parametrize(
    ("color_range", "color_matrix"),
    [
        ("tv", "unknown"),
        ("pc", "unknown"),
        ("tv", "bt709"),
        ("pc", "bt2020nc"),
        ("tv", "smpte240m"),
        ("pc", "ycgco"),
    ],
)
def test_fill_colour_codes_show_the_colour(color_range, color_matrix):
    """``rgb_to_yuv`` inverts ``to_rgb``'s conversion: a fill colour looks as configured in any source's
    range and matrix."""
    for colour in [(0, 0, 0), (255, 255, 255), (200, 30, 90), (17, 140, 230)]:
        codes = yuv.rgb_to_yuv(colour, color_range, color_matrix)
        buf = np.concatenate([np.full(16, codes[0]), np.full(4, codes[1]), np.full(4, codes[2])]).astype(
            np.uint8
        )
        got = yuv.to_rgb(buf, 4, 4, "yuv420p", color_range=color_range, color_matrix=color_matrix)
        assert np.abs(got.astype(int) - colour).max() <= 3, (colour, codes)


def test_conversion_matrices_match_the_standards():
    """Against the published equations: limited-range BT.601 (ffmpeg's default for untagged video) and
    full-range YCgCo (Y = R/4 + G/2 + B/4, Cg = -R/4 + G/2 - B/4, Co = R/2 - B/2)."""
    r, g, b = 200, 30, 90
    assert yuv.rgb_to_yuv((r, g, b)) == (
        round(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255),
        round(128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255),
        round(128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255),
    )
    assert yuv.rgb_to_yuv((r, g, b), "pc", "ycgco") == (
        round(r / 4 + g / 2 + b / 4),
        round(128 - r / 4 + g / 2 - b / 4),
        round(128 + r / 2 - b / 2),
    )
