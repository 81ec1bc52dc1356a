"""Raw YUV frames as the render stage hands them from the decoder to the encoder.

A frame is one contiguous uint8 buffer in ffmpeg's ``rawvideo`` layout: the Y plane, then U, then V, each
row-major without padding. ``yuv420p`` (even sizes) stores U and V at half width and height; ``yuv444p``
(the encoder's format for odd sizes, :func:`faceoff.encode.output_pix_fmt`) stores them at full size.
Keeping frames in the encoder's format spares the render two colour conversions per frame (YUV -> RGB in
the decoder, RGB -> YUV in ffmpeg); only the audit's copy is converted to RGB (:func:`to_rgb`).
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

PixFmt = Literal["yuv420p", "yuv444p"]
PIX_FMTS: tuple[PixFmt, ...] = ("yuv420p", "yuv444p")


def chroma_shift(pix_fmt: str) -> int:
    """log2 of the chroma subsampling (both axes): 1 for yuv420p, 0 for yuv444p."""
    if pix_fmt not in PIX_FMTS:
        raise ValueError(f"unsupported pixel format {pix_fmt!r} (one of {PIX_FMTS})")
    return 1 if pix_fmt == "yuv420p" else 0


def plane_shapes(width: int, height: int, pix_fmt: str) -> list[tuple[int, int]]:
    """(rows, columns) of the Y, U and V planes of a ``width x height`` frame."""
    s = chroma_shift(pix_fmt)
    if s and (width % 2 or height % 2):
        raise ValueError(f"yuv420p needs an even size, not {width}x{height}")
    chroma = (height >> s, width >> s)
    return [(height, width), chroma, chroma]


def frame_bytes(width: int, height: int, pix_fmt: str) -> int:
    """Bytes of one frame."""
    return sum(h * w for h, w in plane_shapes(width, height, pix_fmt))


def planes(buf: np.ndarray, width: int, height: int, pix_fmt: str) -> list[np.ndarray]:
    """Views of the Y, U and V planes of the frame buffer ``buf`` (1-D uint8); writes go to ``buf``."""
    views, start = [], 0
    for h, w in plane_shapes(width, height, pix_fmt):
        views.append(buf[start : start + h * w].reshape(h, w))
        start += h * w
    if start != buf.size:
        raise ValueError(f"a {width}x{height} {pix_fmt} frame has {start} bytes, the buffer {buf.size}")
    return views


# (Kr, Kb) of the YCbCr matrices FFmpeg names; any other (unknown, bt470bg, smpte170m) decodes as BT.601,
# as swscale does. ycgco is no Kr/Kb matrix: :func:`yuv_to_rgb_matrix` has its own rows.
KR_KB = {
    "bt709": (0.2126, 0.0722),
    "fcc": (0.30, 0.11),
    "smpte240m": (0.212, 0.087),
    "bt2020nc": (0.2627, 0.0593),
    "bt2020c": (0.2627, 0.0593),
}
BT601_KR_KB = (0.299, 0.114)


def yuv_to_rgb_matrix(color_range: str = "tv", color_matrix: str = "unknown") -> np.ndarray:
    """(3, 4) float64: RGB (0..255) = M @ (Y, U, V, 1) for 8-bit codes of that range ("tv": Y 16-235, U
    and V 16-240; "pc": 0-255) and matrix (:data:`KR_KB`; :class:`faceoff.probe.ProbeInfo` names)."""
    if color_matrix == "ycgco":  # U carries Cg, V carries Co
        rows = np.array([[1.0, -1.0, 1.0], [1.0, 1.0, 0.0], [1.0, -1.0, -1.0]])
    else:
        kr, kb = KR_KB.get(color_matrix, BT601_KR_KB)
        kg = 1.0 - kr - kb
        rows = np.array(
            [
                [1.0, 0.0, 2 * (1 - kr)],
                [1.0, -2 * kb * (1 - kb) / kg, -2 * kr * (1 - kr) / kg],
                [1.0, 2 * (1 - kb), 0.0],
            ]
        )
    luma_scale, chroma_scale, black = (255 / 219, 255 / 224, 16.0) if color_range != "pc" else (1.0, 1.0, 0.0)
    linear = rows * np.array([luma_scale, chroma_scale, chroma_scale])
    return np.hstack([linear, -(linear @ np.array([black, 128.0, 128.0]))[:, None]])


def to_rgb(
    buf: np.ndarray,
    width: int,
    height: int,
    pix_fmt: str,
    size: tuple[int, int] | None = None,
    *,
    color_range: str = "tv",
    color_matrix: str = "unknown",
) -> np.ndarray:
    """The frame as (H, W, 3) uint8 RGB, as the decoder shows it (the source's ``color_range`` and
    ``color_matrix``, :class:`faceoff.probe.ProbeInfo`'s; the defaults are ffmpeg's for untagged video:
    limited-range BT.601), resized to ``size=(width, height)`` when given. The audit's detector sees this
    copy.

    The planes are resized to the output size (:func:`_resize`), then
    converted by :func:`yuv_to_rgb_matrix` (``cv2.transform``). Against swscale's RGB resized afterwards
    (the decoder's way) the pixels differ by a mean of about 1 level (chroma edges up to ~30); 720p ->
    960x540 costs 0.7-0.8 ms against swscale's 2.5 (quiet 2-core machine)."""
    out_w, out_h = (width, height) if size is None else size
    full = [
        p if p.shape == (out_h, out_w) else _resize(p, out_w, out_h)
        for p in planes(buf, width, height, pix_fmt)
    ]
    return cv2.transform(cv2.merge(full), yuv_to_rgb_matrix(color_range, color_matrix))


def _resize(plane: np.ndarray, width: int, height: int) -> np.ndarray:
    """``plane`` at ``width x height``: bilinear, but 4:2:0 chroma doubled to full size is repeated, as
    swscale does (bilinear there moved colour edges by up to 21 levels against the decoder)."""
    doubled = plane.shape[0] * 2 == height and plane.shape[1] * 2 == width
    return cv2.resize(
        plane, (width, height), interpolation=cv2.INTER_NEAREST if doubled else cv2.INTER_LINEAR
    )


def rgb_to_yuv(
    rgb: tuple[int, int, int], color_range: str = "tv", color_matrix: str = "unknown"
) -> tuple[int, int, int]:
    """An RGB colour as Y, U, V codes of that range and matrix (the inverse of :func:`yuv_to_rgb_matrix`;
    the defaults, limited-range BT.601, are ffmpeg's for an untagged RGB input), so a fill colour looks
    as configured in the delivered video."""
    matrix = yuv_to_rgb_matrix(color_range, color_matrix)
    codes = np.linalg.solve(matrix[:, :3], np.asarray(rgb, dtype=np.float64) - matrix[:, 3])
    return tuple(int(np.clip(round(c), 0, 255)) for c in codes)  # type: ignore[return-value]
