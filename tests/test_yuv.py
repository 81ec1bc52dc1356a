"""The audit's RGB copy of a YUV frame (faceoff.yuv.to_rgb) against swscale's conversion, the decoder's."""

import av
import cv2
import numpy as np
import pytest

from faceoff import yuv
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
