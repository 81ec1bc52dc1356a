"""A corpus of broken and hostile input videos, generated in a few seconds, for fail-closed tests.

:func:`write_hostile_corpus` writes one file per case in :data:`CASES` and returns ``{name: (path,
expected)}`` where ``expected`` is ``"ok"`` (FaceOff must process it completely) or ``"error"`` (it must
be rejected with a :class:`~faceoff.errors.VideoError` naming the file and the cause). Every file stem
is unique, so the folder can be used directly as a workflow ``inputs`` entry (video id = stem).

For an ``"ok"`` case, :data:`CASES` gives what the probe must report: frame count, displayed size,
rotation and timestamps (seconds). For an ``"error"`` case it gives a regular expression the error's
cause must match. Clip content is :func:`~faceoff.synth.clips.pattern_frames` (grey level = frame
index, white block top-left), so order and orientation can be checked after decoding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from faceoff.ffmpeg import run_ffmpeg
from faceoff.synth.clips import (
    pattern_frames,
    write_audio,
    write_clip,
    write_garbage_payload,
    write_live_matroska,
    write_raw_stream,
    write_stream_cut,
    write_truncated,
)

FPS = 25.0
VFR_TIMES = (0.0, 0.04, 0.12, 0.14, 0.3, 0.34, 0.36, 0.5, 0.54, 0.7)
UNICODE_NAME = "Opération 3 — salle B.mp4"
WRAP_AT = 95443.5  # s: an MPEG-TS clip starting here passes 2**33 ticks of 1/90000 s 0.22 s later
# how a clip's colour is described: write_clip's arguments, ProbeInfo's fields, HostileCase.color's order
COLOUR_KEYS = ("color_range", "color_matrix", "color_primaries", "color_transfer")


# the codec the probe reports for a clip written with write_clip's encoder
DECODERS = {
    "libx264": "h264",
    "libx265": "hevc",
    "mjpeg": "mjpeg",
    "prores_ks": "prores",
    "libvpx-vp9": "vp9",
    "libsvtav1": "libdav1d",  # PyAV's FFmpeg decodes AV1 with dav1d (decord's FFmpeg 4.1 cannot)
    "mpeg2video": "mpeg2video",
}


@dataclass(frozen=True)
class HostileCase:
    """One corpus file: its name, what FaceOff must do with it, and how it is made."""

    filename: str
    expected: str  # "ok" | "error"
    make: Callable[[Path], object]
    frames: int = 0  # ok: frame count
    size: tuple[int, int] = (0, 0)  # ok: displayed (width, height)
    rotation: int = 0  # ok: display rotation
    sample_aspect: tuple[int, int] = (1, 1)  # ok: displayed pixel width:height
    interlace: str = "progressive"  # ok: field shown first (tff, bff) of the upright frames
    # ok: colour range, matrix, primaries and transfer (COLOUR_KEYS)
    color: tuple[str, str, str, str] = ("tv", "unknown", "unknown", "unknown")
    pts_time: tuple[float, ...] = ()  # ok: presentation times (s)
    pix_fmt: str = ""  # ok: the source's pixel format
    codec: str = ""  # ok: the source's codec
    cause: str = ""  # error: regex the VideoError's cause must match


def _cfr(n: int) -> tuple[float, ...]:
    return tuple(i / FPS for i in range(n))


def _clip(n: int, width: int = 64, height: int = 48, **kw) -> Callable[[Path], object]:
    return lambda path: write_clip(path, pattern_frames(n, width, height), **kw)


def _from_clip(
    frames: Callable[[], np.ndarray], make: Callable[[Path, Path], object], **clip
) -> Callable[[Path], None]:
    """A corpus file made by ``make(source, path)`` from an MP4 of ``frames()`` (:func:`write_clip` with
    ``clip``), the source removed after."""

    def write(path: Path) -> None:
        src = path.with_name(f"_src_{path.stem}.mp4")
        try:
            write_clip(src, frames(), **clip)
            make(src, path)
        finally:
            src.unlink(missing_ok=True)

    return write


def _pattern(n: int, repeat: int = 1, lead: int = 0) -> Callable[[], np.ndarray]:
    """The pattern's ``n`` frames ``repeat`` times, after ``lead`` frames of it backwards (frames that a
    corpus case leaves out of the video, so that the frames shown are the pattern in order)."""

    def frames() -> np.ndarray:
        one = pattern_frames(n, 64, 48)
        return np.concatenate([one[:lead][::-1], *[one] * repeat])

    return frames


def _noisy() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (10, 48, 64, 3), dtype=np.uint8)  # a big mdat


def _ffmpeg(*args: str) -> Callable[[Path, Path], None]:
    """``make`` for :func:`_from_clip`: ``ffmpeg -i source <args> path``."""
    return lambda src, path: run_ffmpeg(["-i", str(src), *args, str(path)], path)


def _joined_ts(path: Path) -> None:
    """Two MPEG-TS recordings joined byte by byte (``cat a.ts b.ts``): the second's timestamps start again."""
    parts = [path.with_name(f"_part{i}_{path.name}") for i in range(2)]
    try:
        for part in parts:
            _from_clip(_pattern(40), _ffmpeg("-c", "copy", "-f", "mpegts"))(part)
        path.write_bytes(b"".join(part.read_bytes() for part in parts))
    finally:
        for part in parts:
            part.unlink(missing_ok=True)


def _pix_fmt(width: int, height: int, color: tuple[str, ...] | None) -> str:
    """The pixel format a decoder reports for a clip :func:`write_clip` makes by default (full range:
    FFmpeg's "J" formats)."""
    fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
    return fmt.replace("yuv", "yuvj") if color is not None and color[0] == "pc" else fmt


def _ok(
    filename: str,
    n: int,
    size: tuple[int, int],
    *,
    rotation: int = 0,
    pts_time=None,
    sample_aspect: tuple[int, int] = (1, 1),
    interlace: str | None = None,
    color: tuple[str, str, str, str] | None = None,
    **kw,
) -> HostileCase:
    """An "ok" case: ``size`` and ``sample_aspect`` are the *coded* ones; the expected ones are displayed."""
    w, h = size
    turned = rotation in (90, 270)
    return HostileCase(
        filename,
        "ok",
        _clip(
            n,
            w,
            h,
            rotation=rotation,
            pts_time=pts_time,
            sample_aspect=sample_aspect,
            interlace=interlace,
            **{k: v for k, v in zip(COLOUR_KEYS, color or (), strict=False) if v != "unknown"},
            **kw,
        ),
        frames=n,
        size=(h, w) if turned else (w, h),
        rotation=rotation,
        sample_aspect=sample_aspect[::-1] if turned else sample_aspect,
        interlace=interlace or "progressive",
        color=color or ("tv", "unknown", "unknown", "unknown"),
        pts_time=tuple(pts_time) if pts_time is not None else _cfr(n),
        pix_fmt=kw.get("pix_fmt") or _pix_fmt(w, h, color),
        codec=DECODERS.get(kw.get("codec", "libx264"), "h264"),
    )


CASES: dict[str, HostileCase] = {
    # -- must be rejected ------------------------------------------------------------------------
    "zero_bytes": HostileCase("zero_bytes.mp4", "error", lambda p: p.write_bytes(b""), cause=r"empty"),
    # half of an MP4: the index (moov, at the end) is lost; with faststart it survives but lists samples
    # past the end of the file
    "truncated": HostileCase(
        "truncated.mp4",
        "error",
        _from_clip(_noisy, lambda src, path: write_truncated(src, path, 0.5)),
        cause=r"no moov box.*truncated",
    ),
    "truncated_faststart": HostileCase(
        "truncated_faststart.mp4",
        "error",
        _from_clip(_noisy, lambda src, path: write_truncated(src, path, 0.5), faststart=True),
        cause=r"cut short \(truncated\)",
    ),
    "text": HostileCase(
        "text_named_mp4.mp4",
        "error",
        lambda p: p.write_text("this is not a video\n" * 20, encoding="utf-8"),
        cause=r"not a readable video container.*text file",
    ),
    "audio_only": HostileCase(
        "audio_only.mp4", "error", lambda p: write_audio(p, 0.5), cause=r"no video stream \(audio-only"
    ),
    "garbage_packets": HostileCase(
        "garbage_packets.mp4",
        "error",
        _from_clip(_pattern(8), lambda src, path: write_garbage_payload(src, path, seed=1)),
        cause=r"cannot be decoded.*damaged",
    ),
    "ts_joined": HostileCase(
        "joined_segments.ts", "error", _joined_ts, cause=r"timestamps start again.*joined with cat"
    ),
    "raw_h264": HostileCase(
        "raw_stream.h264",
        "error",
        _from_clip(_pattern(6), write_raw_stream),
        cause=r"no timestamp: a raw h264 stream without a container; put it into one",
    ),
    # -- must be processed completely --------------------------------------------------------------
    "odd_641x359": _ok("odd_641x359.mp4", 3, (641, 359)),
    "h264_10bit": _ok("h264_10bit.mp4", 6, (64, 48), pix_fmt="yuv420p10le"),
    "hevc": _ok("hevc.mp4", 6, (64, 48), codec="libx265"),
    "hevc_10bit": _ok("hevc_10bit.mp4", 6, (64, 48), codec="libx265", pix_fmt="yuv420p10le"),
    "vfr": _ok("vfr.mp4", len(VFR_TIMES), (64, 48), pts_time=VFR_TIMES),
    "rotation_90": _ok("rotation_90.mp4", 5, (64, 48), rotation=90),
    "rotation_180": _ok("rotation_180.mp4", 5, (64, 48), rotation=180),
    "rotation_270": _ok("rotation_270.mp4", 5, (64, 48), rotation=270),
    "anamorphic": _ok("anamorphic_pal_16x9.mp4", 5, (64, 48), sample_aspect=(16, 11)),
    "anamorphic_rotated": _ok("anamorphic_rotation_90.mp4", 5, (64, 48), rotation=90, sample_aspect=(16, 11)),
    "interlaced_tff": _ok("interlaced_tff.mp4", 6, (64, 48), interlace="tff"),
    "interlaced_bff": _ok("interlaced_bff.mkv", 6, (64, 48), interlace="bff"),
    "full_range_bt709": _ok(
        "ip_camera_full_range.mp4", 6, (64, 48), color=("pc", "bt709", "unknown", "unknown")
    ),
    "hlg_bt2020": _ok("hlg_bt2020.mp4", 6, (64, 48), color=("tv", "bt2020nc", "bt2020", "arib-std-b67")),
    "single_frame": _ok("single_frame.mp4", 1, (64, 48)),
    "long_gop": _ok("long_gop_bframes.mp4", 30, (64, 48), codec_options={"g": "1000", "bf": "3"}),
    "unicode_name": _ok(UNICODE_NAME, 4, (64, 48)),
    # an OR capture card's Motion JPEG: full-range 4:2:2
    "mjpeg_avi": _ok(
        "capture_card_mjpeg.avi",
        6,
        (64, 48),
        codec="mjpeg",
        pix_fmt="yuvj422p",
        color=("pc", "bt470bg", "unknown", "unknown"),
    ),
    # an editing suite's ProRes 422 HQ: 10-bit 4:2:2
    "prores_mov": _ok(
        "prores_422hq.mov",
        6,
        (64, 48),
        codec="prores_ks",
        pix_fmt="yuv422p10le",
        codec_options={"profile": "3"},
    ),
    "vfr_avi": replace(
        _ok("vfr_mjpeg.avi", len(VFR_TIMES), (64, 48), pts_time=VFR_TIMES, codec="mjpeg", pix_fmt="yuvj420p"),
        color=("pc", "bt470bg", "unknown", "unknown"),
        # AVI has no timestamps: the gaps are empty chunks, and the header counts slots, not frames
        make=_from_clip(_pattern(len(VFR_TIMES)), _ffmpeg("-c:v", "mjpeg", "-q:v", "2"), pts_time=VFR_TIMES),
    ),
    # ffmpeg -ss 0.5 -c copy: the packets from the keyframe before 0.5 s (frame 10) are kept, those before
    # the cut hidden by an edit list; the frames shown (13-29) are the pattern
    "stream_copy_cut": replace(
        _ok("stream_copy_cut.mp4", 17, (64, 48)),
        make=_from_clip(
            _pattern(17, lead=13),
            lambda src, path: run_ffmpeg(["-ss", "0.5", "-i", str(src), "-c", "copy", str(path)], path),
            codec_options={"g": "10", "bf": "2"},
        ),
    ),
    # a DVD recorder's MPEG-2 program stream; the muxer starts it at 0.54 s
    "mpeg2_ps": replace(
        _ok(
            "dvd_recorder.mpg",
            6,
            (64, 48),
            pts_time=tuple(0.54 + i / FPS for i in range(6)),
            codec="mpeg2video",
        ),
        make=_from_clip(
            _pattern(6), _ffmpeg("-c:v", "mpeg2video", "-q:v", "2", "-muxdelay", "0", "-f", "vob")
        ),
    ),
    "vp9_webm": _ok("vp9.webm", 6, (64, 48), codec="libvpx-vp9"),
    "av1_mkv": _ok("av1.mkv", 6, (64, 48), codec="libsvtav1"),
    "mkv": _ok("matroska.mkv", 6, (64, 48)),
    # cut from a stream before its keyframe; pts from frame 6 on, after the 2-frame B-frame delay
    "ts_cut_mid_gop": replace(
        _ok("stream_cut.ts", 6, (64, 48), pts_time=tuple((6 + 2 + i) / FPS for i in range(6))),
        make=_from_clip(
            _pattern(6, repeat=2),
            lambda src, path: write_stream_cut(src, path, lead=2),
            codec_options={"g": "6", "bf": "2"},
        ),
    ),
    # an MPEG-TS whose 33-bit 90 kHz clock wraps after frame 5: FFmpeg unwraps it to negative times
    "ts_clock_wrap": replace(
        _ok(
            "clock_wrap.ts",
            12,
            (64, 48),
            pts_time=tuple(WRAP_AT - 2**33 / 90000 + i / FPS for i in range(12)),
        ),
        make=_from_clip(
            _pattern(12),
            _ffmpeg("-c", "copy", "-muxdelay", "0", "-output_ts_offset", str(WRAP_AT), "-f", "mpegts"),
        ),
    ),
    # a live capture's Matroska: no duration, no cues
    "mkv_live": replace(
        _ok("live_capture.mkv", 7, (64, 48)), make=_from_clip(_pattern(7), write_live_matroska)
    ),
    "mov": _ok("quicktime.mov", 6, (64, 48)),
}


def write_hostile_corpus(folder: str | Path, names: list[str] | None = None) -> dict[str, tuple[Path, str]]:
    """Write the corpus (or the cases ``names``) into ``folder``; ``{name: (path, "ok" | "error")}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, tuple[Path, str]] = {}
    for name in names if names is not None else list(CASES):
        case = CASES[name]
        path = folder / case.filename
        case.make(path)
        out[name] = (path, case.expected)
    return out
