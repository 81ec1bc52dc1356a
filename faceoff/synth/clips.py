"""Write small clips with known content for tests and demos (PyAV, plus the ffmpeg CLI for subtitles).

Frames are RGB uint8 ``(H, W, 3)`` arrays and are stored *as given* (coded orientation); ``rotation``
only adds a display matrix, so a correct player shows ``np.rot90(frame, rotation // 90)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from faceoff.ffmpeg import run_ffmpeg
from faceoff.probe import COLOR_MATRICES, COLOR_PRIMARIES, COLOR_RANGES, COLOR_TRANSFERS

PTS_HZ = 90000  # codec time base for written clips: 1/90000 s
AUDIO_RATE = 16000
PATTERN_BASE, PATTERN_STEP, PATTERN_PERIOD = 16, 5, 40


def pattern_frames(n: int, width: int, height: int) -> np.ndarray:
    """``n`` frames whose grey level encodes the frame index (``pattern_index`` reads it back).

    Each frame also has a white block in its top-left corner (``height // 3`` x ``width // 2``) so that
    orientation can be checked. Indices repeat every 40 frames.
    """
    out = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        out[i] = PATTERN_BASE + PATTERN_STEP * (i % PATTERN_PERIOD)
        out[i, : max(1, height // 3), : max(1, width // 2)] = 255
    return out


def pattern_index(frame: np.ndarray) -> int:
    """Frame index (mod 40) encoded by :func:`pattern_frames`, robust to lossy coding, resize and rotation."""
    level = float(np.median(frame[..., :3]))
    return int(round((level - PATTERN_BASE) / PATTERN_STEP))


def _timestamps(n: int, fps: float, pts_time: Sequence[float] | None) -> list[int]:
    if pts_time is None:
        return [round(i * PTS_HZ / fps) for i in range(n)]
    if len(pts_time) != n:
        raise ValueError(f"pts_time has {len(pts_time)} entries for {n} frames")
    pts = [round(t * PTS_HZ) for t in pts_time]
    if any(b <= a for a, b in zip(pts, pts[1:], strict=False)):
        raise ValueError("pts_time must be strictly increasing")
    return pts


def _add_audio_stream(container: av.container.OutputContainer) -> av.audio.stream.AudioStream:
    return container.add_stream("aac", rate=AUDIO_RATE, layout="mono")


def _write_audio(
    container: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float
) -> None:
    """Encode ``seconds`` of a 440 Hz sine into ``stream``."""
    total = max(1, int(seconds * AUDIO_RATE))
    t = np.arange(total, dtype=np.float32) / AUDIO_RATE
    wave = (0.2 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    chunk = 1024
    for start in range(0, total, chunk):
        frame = av.AudioFrame.from_ndarray(wave[None, start : start + chunk], format="fltp", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        frame.time_base = Fraction(1, AUDIO_RATE)
        for pkt in stream.encode(frame):
            container.mux(pkt)
    for pkt in stream.encode():
        container.mux(pkt)


def write_clip(
    path: str | Path,
    frames: Iterable[np.ndarray] | np.ndarray,
    *,
    fps: float = 25.0,
    pts_time: Sequence[float] | None = None,
    rotation: int = 0,
    hflip: bool = False,
    sample_aspect: tuple[int, int] | None = None,
    interlace: str | None = None,
    color_range: str | None = None,
    color_matrix: str | None = None,
    color_primaries: str | None = None,
    color_transfer: str | None = None,
    audio: bool = False,
    metadata: dict[str, str] | None = None,
    codec: str = "libx264",
    pix_fmt: str | None = None,
    subtitle: bool = False,
    chapters: bool = False,
    faststart: bool = False,
    crf: int = 18,
    codec_options: dict[str, str] | None = None,
) -> Path:
    """Write an MP4/MOV/MKV clip of RGB ``frames``; returns the path.

    ``pts_time`` (seconds, strictly increasing) gives a variable frame rate; otherwise frames are ``1/fps``
    apart. ``rotation`` (0/90/180/270, counter-clockwise) sets the display matrix (``hflip`` adds a
    mirror, which FaceOff rejects). ``sample_aspect`` (width, height of a pixel as displayed, e.g. (16, 11)
    for anamorphic PAL 16:9) marks the pixels non-square; ``interlace`` (``"tff"``/``"bff"``, libx264 only)
    encodes interlaced, that field first. ``color_range`` ("tv"/"pc") and ``color_matrix`` (e.g. "bt709")
    convert the frames that way and tag the stream (libx264 with an 8-bit 4:2:0 ``pix_fmt`` only);
    ``color_primaries`` (e.g. "bt2020") and ``color_transfer`` (e.g. "arib-std-b67", HLG) only tag it.
    ``audio`` adds a 440 Hz AAC track; ``metadata`` sets container tags (e.g. ``creation_time``,
    ``location``, ``title``);
    ``subtitle`` adds a mov_text (SRT in MKV) subtitle stream and ``chapters`` two chapters, both by a
    stream-copy remux with the ffmpeg CLI. ``faststart`` puts the MP4 index (moov) before the data.
    ``pix_fmt`` defaults to yuv420p, or yuv444p when a dimension is odd (4:2:0 H.264 needs even sizes);
    e.g. ``yuv420p10le`` gives 10-bit H.264/HEVC. ``codec_options`` are extra encoder options (e.g.
    ``{"g": "1000", "bf": "3"}`` for a long GOP with B-frames).
    """
    path = Path(path)
    frames_list = [np.ascontiguousarray(f, dtype=np.uint8) for f in frames]
    if not frames_list:
        raise ValueError("no frames")
    height, width = frames_list[0].shape[:2]
    if pix_fmt is None:
        pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
    if rotation % 90:
        raise ValueError("rotation must be a multiple of 90")
    pts = _timestamps(len(frames_list), fps, pts_time)
    remux = subtitle or chapters
    target = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}") if remux else path
    options = {"movflags": "+faststart"} if faststart and not remux else {}
    tb = Fraction(1, PTS_HZ)
    try:
        with av.open(str(target), "w", options=options) as out:
            if metadata:
                out.metadata.update(metadata)
            vs = out.add_stream(codec, rate=Fraction(fps).limit_denominator(100000))
            vs.width, vs.height, vs.pix_fmt = width, height, pix_fmt
            vs.time_base = tb
            vs.codec_context.time_base = tb
            opts = {"crf": str(crf)} if codec.startswith("libx26") else {}
            if codec == "libx265":
                opts["x265-params"] = "log-level=error"
            if interlace is not None:
                opts.update({"flags": "+ildct+ilme", "x264-params": f"{interlace}=1"})
            opts.update(codec_options or {})
            if opts:
                vs.codec_context.options = opts
            if sample_aspect is not None:
                vs.codec_context.sample_aspect_ratio = Fraction(*sample_aspect)
            tags = _color_tags(color_range, color_matrix, color_primaries, color_transfer)
            for key, value in tags.items():
                setattr(vs.codec_context, key, value)
            if rotation % 360 or hflip:
                vs.set_display_rotation(rotation % 360, hflip=hflip)
            aus = _add_audio_stream(out) if audio else None  # all streams before the first packet
            for arr, t in zip(frames_list, pts, strict=True):
                frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
                if tags:
                    frame = frame.reformat(
                        format=pix_fmt,
                        dst_colorspace=tags.get("colorspace"),
                        dst_color_range=tags.get("color_range"),
                    )
                frame.pts, frame.time_base = t, tb
                for pkt in vs.encode(frame):
                    out.mux(pkt)
            for pkt in vs.encode():
                out.mux(pkt)
            if aus is not None:
                step = (pts[-1] - pts[-2]) if len(pts) > 1 else round(PTS_HZ / fps)
                _write_audio(out, aus, (pts[-1] + step) / PTS_HZ)
        if remux:
            _remux_extras(target, path, subtitle=subtitle, chapters=chapters, faststart=faststart)
    finally:
        if remux:
            target.unlink(missing_ok=True)
    return path


def _color_tags(
    color_range: str | None, color_matrix: str | None, primaries: str | None, transfer: str | None
) -> dict[str, int]:
    """Codec-context colour settings (FFmpeg's values) for the given names; {} for none."""
    tags = {}
    if color_range is not None:
        tags["color_range"] = max(k for k, v in COLOR_RANGES.items() if v == color_range)  # tv: marked
    for key, names, name in (
        ("colorspace", COLOR_MATRICES, color_matrix),
        ("color_primaries", COLOR_PRIMARIES, primaries),
        ("color_trc", COLOR_TRANSFERS, transfer),
    ):
        if name is not None:
            tags[key] = {v: k for k, v in names.items()}[name]
    return tags


def _remux_extras(src: Path, dst: Path, *, subtitle: bool, chapters: bool, faststart: bool) -> None:
    """Stream-copy ``src`` to ``dst`` adding a subtitle stream and/or chapters."""
    side = dst.with_name(f".{dst.stem}.tmp-{os.getpid()}")
    args: list[str] = ["-i", str(src)]
    maps = ["-map", "0"]
    extra: list[Path] = []
    try:
        if subtitle:
            srt = side.with_suffix(".srt")
            srt.write_text("1\n00:00:00,000 --> 00:00:00,200\nPatient name here\n\n", encoding="utf-8")
            extra.append(srt)
            args += ["-i", str(srt)]
            maps += ["-map", str(len(extra))]
        if chapters:
            meta = side.with_suffix(".ffmeta")
            meta.write_text(
                ";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=100\ntitle=Incision\n"
                "[CHAPTER]\nTIMEBASE=1/1000\nSTART=100\nEND=200\ntitle=Closure\n",
                encoding="utf-8",
            )
            extra.append(meta)
            args += ["-i", str(meta)]
            maps += ["-map_chapters", str(len(extra))]
        sub_codec = "srt" if dst.suffix.lower() == ".mkv" else "mov_text"
        args += [*maps, "-map_metadata", "0", "-c", "copy", "-c:s", sub_codec]
        if faststart:
            args += ["-movflags", "+faststart"]
        run_ffmpeg([*args, str(dst)], dst)
    finally:
        for f in extra:
            f.unlink(missing_ok=True)


def write_audio(path: str | Path, seconds: float = 1.0) -> Path:
    """An audio-only file (AAC in MP4/M4A) for negative tests."""
    path = Path(path)
    with av.open(str(path), "w") as out:
        _write_audio(out, _add_audio_stream(out), seconds)
    return path


def write_truncated(src: str | Path, dst: str | Path, fraction: float = 0.5) -> Path:
    """Copy the first ``fraction`` of ``src``'s bytes to ``dst`` (a truncated, e.g. interrupted, recording).

    For a plain MP4 (index/moov at the end, PyAV's default) this loses the index, so nothing can be
    demuxed; for a ``faststart`` MP4 (moov first) the index survives but lists samples beyond the end of
    the file. Both must be rejected by the prober.
    """
    data = Path(src).read_bytes()
    dst = Path(dst)
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def write_live_matroska(src: str | Path, dst: str | Path) -> Path:
    """Remux ``src`` into ``dst`` as a live capture writes Matroska (``-live 1``: the muxer never seeks
    back, so the file has no duration and no cue index), e.g. a recorder or browser writing WebM/MKV as it
    films. Every frame is there with its timestamp; only the header's totals are missing."""
    dst = Path(dst)
    run_ffmpeg(["-i", str(src), "-map", "0", "-c", "copy", "-f", "matroska", "-live", "1", str(dst)], dst)
    return dst


def write_raw_stream(src: str | Path, dst: str | Path) -> Path:
    """Copy ``src``'s H.264 video into ``dst`` as a bare Annex B stream, with no container: the frames
    without their timestamps, as some recorders dump them."""
    dst = Path(dst)
    run_ffmpeg(["-i", str(src), "-map", "0:v:0", "-c", "copy", "-f", "h264", str(dst)], dst)
    return dst


def write_stream_cut(src: str | Path, dst: str | Path, lead: int = 2) -> Path:
    """MPEG-TS of ``src``'s video that starts ``lead`` packets (decode order) before its second keyframe,
    as a recording started mid-stream does: those packets' frames reference pictures the file lacks."""
    dst = Path(dst)
    whole = dst.with_name(f"_whole_{dst.name}")
    try:
        run_ffmpeg(
            ["-i", str(src), "-map", "0:v:0", "-c", "copy", "-muxdelay", "0", "-f", "mpegts", str(whole)], dst
        )
        with av.open(str(whole)) as inp, av.open(str(dst), "w", format="mpegts") as out:
            stream = inp.streams.video[0]
            target = out.add_stream_from_template(stream)
            packets = [pkt for pkt in inp.demux(stream) if pkt.size]
            second_key = [i for i, pkt in enumerate(packets) if pkt.is_keyframe][1]
            for pkt in packets[second_key - lead :]:
                pkt.stream = target
                out.mux(pkt)
    finally:
        whole.unlink(missing_ok=True)
    return dst


def _mp4_boxes(data: bytes) -> list[tuple[str, int, int]]:
    """Top-level ISO-BMFF boxes of ``data`` as ``(type, payload_start, end)``."""
    boxes, pos = [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8].decode("latin-1")
        header = 8
        if size == 1:
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:
            size = len(data) - pos
        if size < header or pos + size > len(data):
            raise ValueError(f"malformed MP4 box {kind!r} at byte {pos}")
        boxes.append((kind, pos + header, pos + size))
        pos += size
    return boxes


def write_garbage_payload(src: str | Path, dst: str | Path, seed: int = 0) -> Path:
    """Copy the MP4 ``src`` to ``dst`` with its media data (``mdat``) replaced by random bytes.

    The container (``ftyp``/``moov``: stream, sample table, timestamps) stays valid and every packet
    demuxes, but no packet holds decodable video: a recording whose data was overwritten or encrypted.
    """
    data = bytearray(Path(src).read_bytes())
    rng = np.random.default_rng(seed)
    found = False
    for kind, start, end in _mp4_boxes(bytes(data)):
        if kind == "mdat":
            data[start:end] = rng.integers(0, 256, end - start, dtype=np.uint8).tobytes()
            found = True
    if not found:
        raise ValueError(f"{src}: no mdat box")
    dst = Path(dst)
    dst.write_bytes(bytes(data))
    return dst


def write_damaged_packets(src: str | Path, dst: str | Path, packets: Sequence[int], seed: int = 0) -> Path:
    """Copy ``src`` to ``dst`` with the payload of the given video packets (demux order) overwritten.

    Each packet keeps its first 4 bytes (the NAL length in MP4 H.264) and its size, so the container and
    every timestamp stay valid and the first frame still decodes: only decoding the damaged packets fails
    (bit rot or a bad sector in the middle of a recording).
    """
    data = bytearray(Path(src).read_bytes())
    with av.open(str(src)) as c:
        layout = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    rng = np.random.default_rng(seed)
    for i in packets:
        pos, size = layout[i]
        if pos is None or pos < 0 or size <= 4:
            raise ValueError(f"{src}: packet {i} has no usable file position")
        data[pos + 4 : pos + size] = rng.integers(0, 256, size - 4, dtype=np.uint8).tobytes()
    dst = Path(dst)
    dst.write_bytes(bytes(data))
    return dst
