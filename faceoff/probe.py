"""Probe a video: frame index, timestamps, size, rotation, pixel aspect, interlacing, colour range and
matrix, streams, content hash.

Timestamp convention
--------------------
``pts`` are the presentation timestamps of the video stream's packets, in ``time_base`` units, exactly as
FFmpeg (PyAV) demuxes them (container edit lists already applied, no start-time subtraction), sorted
ascending: ``pts[i]`` belongs to frame ``i`` in presentation order. ``pts_time[i] = pts[i] * time_base``
is absolute stream seconds and ``start_time == pts_time[0]`` (usually 0.0 for MP4). The encoder
(:mod:`faceoff.encode`) writes frame ``i`` at exactly ``pts[i]`` (``-copyts``, track timescale =
time-base denominator), so an output probes to the same ``pts``/``pts_time`` as its source.

Frame count and timestamps come from the packet index (demuxing without decoding), never from the
container's ``nb_frames``; the index is cross-checked against ``nb_frames`` (where the container has it),
against decord's ``len(VideoReader)`` (where decord can open the file: not a stream-written Matroska,
WebM or GIF without a duration) and against the first decoded frame, and any disagreement is a
:class:`~faceoff.errors.VideoError` (fail closed). Packets that the demuxer marks *discard* (frames an
edit list hides, e.g. after ``ffmpeg -ss ... -c copy``) are not frames: decoders decode them as
references and show none of them (decord 0.6.0 counts them, which its cross-check allows for). Nor are
the frames of a file cut from a stream (an MPEG-TS recording started mid-stream) that come before its
first keyframe and reference pictures it lacks: no decoder shows them (``leading_undecodable`` counts
them); only packets demuxed before the first keyframe may be such frames, any other frame the decoder
skips is an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shlex
import struct
import time
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from faceoff.atomic import write_text
from faceoff.errors import VideoError

STREAM_KINDS = ("video", "audio", "subtitle", "data", "attachment")
# FFmpeg's field orders (AVFieldOrder: TT, BB, TB, BT = top/bottom coded, then displayed, first) by the
# field displayed first; unknown (0) and progressive (1) are progressive.
INTERLACE = {2: "tff", 3: "bff", 4: "bff", 5: "tff"}
# FFmpeg's AVColorRange and AVColorSpace values by name. Unmarked YUV is limited range ("tv"); an
# unmarked or RGB matrix is "unknown".
COLOR_RANGES = {0: "tv", 1: "tv", 2: "pc"}
COLOR_MATRICES = {
    1: "bt709",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "ycgco",
    9: "bt2020nc",
    10: "bt2020c",
}
# AVColorPrimaries and AVColorTransferCharacteristic by FFmpeg's names (wide-gamut and HDR video: BT.2020,
# PQ as smpte2084, HLG as arib-std-b67); unmarked ones are "unknown"
COLOR_PRIMARIES = {
    1: "bt709",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "film",
    9: "bt2020",
    10: "smpte428",
    11: "smpte431",
    12: "smpte432",
    22: "ebu3213",
}
COLOR_TRANSFERS = {
    1: "bt709",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    9: "log100",
    10: "log316",
    11: "iec61966-2-4",
    12: "bt1361e",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    17: "smpte428",
    18: "arib-std-b67",
}
# FFmpeg's demuxers of bare elementary streams: no container, so no timestamps to keep
RAW_STREAM_FORMATS = frozenset({"h264", "hevc", "mpegvideo", "m4v", "h263", "vvc", "obu"})
# ProbeInfo's fields that say how a frame is shown (display_properties' keys): the output keeps them
DISPLAY_FIELDS = (
    "sample_aspect",
    "interlace",
    "color_range",
    "color_matrix",
    "color_primaries",
    "color_transfer",
)
PROBE_FORMAT = "faceoff.probe/1"

log = logging.getLogger(__name__)


@dataclass
class ProbeInfo:
    """What :func:`probe_video` learned about one video file (see the module docstring for timestamps)."""

    path: str
    frame_count: int
    width: int  # displayed width (rotation applied)
    height: int  # displayed height (rotation applied)
    rotation: int  # counter-clockwise degrees (0/90/180/270) to turn coded frames upright, as ffmpeg's
    # -display_rotation; displayed = np.rot90(coded, rotation // 90)
    time_base: tuple[int, int]
    pts: list[int]
    pts_time: list[float]
    start_time: float
    variable_frame_rate: bool
    avg_fps: float
    codec: str
    pix_fmt: str
    duration: float  # seconds from the first frame's pts to the end of the last frame
    size_bytes: int
    sha256: str
    streams: dict[str, int] = field(default_factory=dict)
    chapters: int = 0
    leading_undecodable: int = 0  # frames before the first keyframe of a file cut from a stream, which
    # reference pictures the file lacks: no decoder shows them; not indexed, not delivered
    seconds: float = 0.0  # how long probing took
    cuts: list[int] | None = None  # frames that start a new shot (faceoff.shots); None: not looked for
    sample_aspect: tuple[int, int] = (1, 1)  # shape of a displayed pixel, width:height (rotation applied;
    # anamorphic video, e.g. 16:11 for PAL 16:9): the output keeps it. Probe JSON without it: square
    interlace: str = "progressive"  # "tff" / "bff": interlaced, top / bottom field of the upright frame
    # shown first; the output keeps it (a quarter-turned source is written progressive)
    color_range: str = "tv"  # "tv" (limited, 16-235; also when unmarked) or "pc" (full, 0-255: IP cameras)
    color_matrix: str = "unknown"  # YUV matrix as FFmpeg names it (bt709, smpte170m, ...): kept
    color_primaries: str = "unknown"  # colour primaries (bt709, bt2020, ...): kept, as is the transfer,
    color_transfer: str = "unknown"  # (bt709, smpte2084 = PQ, arib-std-b67 = HLG, ...)

    def shown(self) -> dict[str, Any]:
        """How the upright frames are shown: the fields :func:`display_properties` reads from a stream, which
        the encoder keeps and checks."""
        return {name: getattr(self, name) for name in DISPLAY_FIELDS}

    @property
    def coded_size(self) -> tuple[int, int]:
        """(width, height) of the frames as stored, before rotation."""
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)

    @property
    def time_base_fraction(self) -> Fraction:
        return Fraction(*self.time_base)

    @property
    def last_frame_ticks(self) -> int:
        """Duration of the last frame in time_base units (>= 1)."""
        span = (self.pts[-1] - self.pts[0]) * self.time_base_fraction
        return max(1, round((Fraction(self.duration) - span) / self.time_base_fraction))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["time_base"] = list(self.time_base)
        d["sample_aspect"] = list(self.sample_aspect)
        cuts = d.pop("cuts")
        out: dict[str, Any] = {"format": PROBE_FORMAT}
        for key, value in d.items():
            out[key] = value
            if key == "pts_time":  # beside the per-frame lists, so that the top-level facts stay within
                out["cuts"] = cuts  # the file's first and last few KB (read there by faceoff.resources)
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ProbeInfo:
        if d.get("format", PROBE_FORMAT) != PROBE_FORMAT:
            raise ValueError(f"unknown probe format {d.get('format')!r}")
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        missing = (required | {"cuts"}) - d.keys()
        if missing:
            raise ValueError(f"probe JSON lacks {sorted(missing)}")
        kw = {k: d[k] for k in names & d.keys()}
        kw["time_base"] = tuple(int(x) for x in d["time_base"])
        kw["pts"] = [int(x) for x in d["pts"]]
        kw["pts_time"] = [float(x) for x in d["pts_time"]]
        kw["cuts"] = None if d["cuts"] is None else [int(x) for x in d["cuts"]]
        if "sample_aspect" in d:  # a probe JSON written before it (and what follows) was recorded: defaults
            kw["sample_aspect"] = tuple(int(x) for x in d["sample_aspect"])
        info = cls(**kw)
        if not (len(info.pts) == len(info.pts_time) == info.frame_count):
            raise ValueError("pts/pts_time length differs from frame_count")
        return info


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def display_matrix(frame: av.VideoFrame) -> bytes | None:
    """The 36 bytes of ``frame``'s display matrix side data, or None when it has none. PyAV 18.1 made
    ``frame.side_data`` a mapping from type to entry (iterating it gives the types); earlier versions
    iterate over the entries: both are read."""
    side = frame.side_data
    entries = side.values() if isinstance(side, Mapping) else side
    for sd in entries:
        if str(getattr(sd, "type", "")).endswith("DISPLAYMATRIX"):
            return bytes(sd)[:36]
    return None


def _is_mirrored(frame: av.VideoFrame) -> bool:
    """True when the frame's display matrix contains a flip (negative determinant)."""
    matrix = display_matrix(frame)
    if matrix is None:
        return False
    m = struct.unpack("<9i", matrix)
    return m[0] * m[4] - m[1] * m[3] < 0


AVERROR_INVALIDDATA = 1094995529  # FFmpeg's "Invalid data found when processing input" (negated)
_DECORD_LOCATION = re.compile(r"\[\d{2}:\d{2}:\d{2}\] [^\s:]+:\d+: ")


def decoder_cause(exc: BaseException) -> str:
    """One human-readable line for a PyAV or decord decoding exception (for :class:`VideoError` causes).

    decord's messages carry C++ source locations and ``Check failed`` expressions, PyAV's an errno and
    the failing C function; both are reduced to what happened, e.g. "the video data is damaged: the
    decoder rejected it as invalid data".
    """
    if isinstance(exc, av.FFmpegError):
        detail = exc.strerror or str(exc)
        invalid = exc.errno == AVERROR_INVALIDDATA
    else:
        detail = _DECORD_LOCATION.sub("", str(exc)).strip()
        invalid = str(-AVERROR_INVALIDDATA) in detail or "Invalid data" in detail
        detail = detail.splitlines()[0] if detail else type(exc).__name__
    if invalid:
        return "the video data is damaged: the decoder rejected it as invalid data"
    detail = " ".join(detail.split())
    return f"the decoder failed ({detail[:200]})"


def _first_frame(path: Path, stream_index: int) -> av.VideoFrame:
    try:
        with av.open(str(path), metadata_errors="replace") as c:
            stream = next(s for s in c.streams if s.index == stream_index)
            for frame in c.decode(stream):
                return frame
    except av.FFmpegError as exc:
        raise VideoError(path, f"the first video frame cannot be decoded: {decoder_cause(exc)}") from exc
    raise VideoError(path, "no decodable video frames: the video data is damaged or empty")


def _avi_slots(container_format: str, pts: list[int], nb_frames: int) -> bool:
    """Whether an AVI's header length ``nb_frames`` (``pts`` sorted) counts frame slots, not frames:
    AVI has no timestamps, so a variable frame rate (or a time base finer than the frame rate) is written
    as empty chunks that repeat the frame before, and the demuxer gives each frame its slot number as pts.
    The header then counts the slots up to the end of the last frame, which lasts at most the longest gap
    between two."""
    if container_format != "avi" or len(pts) < 2:
        return False
    longest = max(b - a for a, b in zip(pts, pts[1:], strict=False))  # pts sorted
    return len(pts) < nb_frames <= pts[-1] + longest


def _restarts(packets: Iterator[av.Packet], latest: int, tb: Fraction, look: int = 64) -> bool:
    """Whether a timestamp among the next ``look`` ``packets`` lies over a second before ``latest`` (the
    latest pts so far): a second recording's start, not B-frame reordering."""
    for _, pkt in zip(range(look), packets, strict=False):
        if pkt.pts is not None and (latest - pkt.pts) * tb > 1:
            return True
    return False


def _decord_count(path: Path) -> int | None:
    """decord's frame count of ``path``: a second demuxer's opinion of the packet index. None when decord
    cannot open a file that PyAV demuxed and decoded: its FFmpeg 4.1 counts frames from the container's
    duration, which a recording written as a stream (Matroska or WebM from a live capture, a GIF) lacks,
    and knows fewer codecs. The decoders then check every frame's pts against the index instead."""
    import decord

    try:
        vr = decord.VideoReader(str(path), num_threads=1)
        n = len(vr)
        del vr
    except Exception as exc:  # decord raises DECORDError/RuntimeError with C++ text
        log.warning(
            "%s: no second frame count (decord: %s); the packet index alone counts the frames, "
            "and decoding checks each frame against it",
            path,
            decoder_cause(exc),
        )
        return None
    return n


def _iso_boxes(path: Path, size: int) -> tuple[list[str], bool]:
    """Top-level ISO-BMFF (MP4/MOV) box types of ``path``, and whether the last box runs past the end."""
    kinds: list[str] = []
    pos = 0
    with open(path, "rb") as f:
        while pos + 8 <= size and len(kinds) < 100_000:
            f.seek(pos)
            head = f.read(16)
            n = int.from_bytes(head[:4], "big")
            if n == 1 and len(head) == 16:
                n = int.from_bytes(head[8:16], "big")
            elif n == 0:
                n = size - pos
            if n < 8:
                break
            kinds.append(head[4:8].decode("latin-1"))
            if pos + n > size:
                return kinds, True
            pos += n
    return kinds, False


def _is_cut_iso(path: Path, size: int) -> bool:
    """True for an MP4/MOV whose last top-level box runs past the end of the file."""
    with open(path, "rb") as f:
        if f.read(8)[4:8] != b"ftyp":
            return False
    return _iso_boxes(path, size)[1]


def _unreadable_hint(path: Path, size: int) -> str:
    """Why FFmpeg could not open ``path``, in words, when the first bytes tell (else "")."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if head[4:8] == b"ftyp":
        kinds, cut = _iso_boxes(path, size)
        if "moov" not in kinds:
            return "MP4/MOV file without its index (no moov box): truncated, e.g. an interrupted recording"
        if cut:
            return "MP4/MOV file cut short: truncated, e.g. an incomplete copy"
        return "MP4/MOV file with a damaged index (moov box)"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # not just a multi-byte character cut at 4096
                return ""
        return "looks like a text file, not a video"
    return ""


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The stream FaceOff processes: the first video stream that is not cover art (attached picture)."""
    for s in container.streams.video:
        if not s.disposition & av.stream.Disposition.attached_pic:
            return s
    return None


def probe_video(path: str | Path) -> ProbeInfo:
    """Probe ``path``; raise VideoError for anything that is not a complete, decodable video."""
    t0 = time.perf_counter()
    p = Path(path)
    if not p.exists():
        raise VideoError(p, "file not found")
    if not p.is_file():
        raise VideoError(p, "not a regular file")
    size = p.stat().st_size
    if size == 0:
        raise VideoError(p, "file is empty (0 bytes)")
    try:
        digest = sha256_file(p)
    except OSError as exc:
        raise VideoError(p, f"cannot read the file ({exc.strerror or exc})") from exc
    try:
        container = av.open(str(p), metadata_errors="replace")
    except av.FFmpegError as exc:
        try:
            hint = _unreadable_hint(p, size)
        except OSError:
            hint = ""
        raise VideoError(
            p, f"not a readable video container ({exc.strerror or exc})" + (f": {hint}" if hint else "")
        ) from exc
    with container:
        streams = {k: 0 for k in STREAM_KINDS}
        for s in container.streams:
            if s.type in streams:
                streams[s.type] += 1
        try:
            chapters = len(container.chapters())
        except Exception:  # chapters() is informational only
            chapters = 0
        vs = video_stream(container)
        if vs is None:
            what = " (audio-only file)" if streams["audio"] else ""
            raise VideoError(p, f"no video stream{what}")
        stream_index = vs.index
        if vs.time_base is None:
            raise VideoError(p, "video stream has no time base")
        tb = Fraction(vs.time_base)
        codec = vs.codec_context.name
        container_format = container.format.name
        nb_frames = int(vs.frames or 0)
        average_rate = Fraction(vs.average_rate) if vs.average_rate else None
        sar, field_order = stream_picture(vs)
        pts: list[int] = []
        durations: dict[int, int] = {}
        discarded = 0
        before_key: set[int] = set()  # pts of the packets demuxed before the first keyframe
        key_seen = False
        try:
            for pkt in container.demux(vs):
                if pkt.size == 0:
                    continue  # flush packet
                if pkt.is_corrupt:
                    if _is_cut_iso(p, size):
                        why = (
                            "the file is cut short (truncated): copy it again; if the recording itself "
                            f"stopped, ffmpeg -fflags +discardcorrupt -i {shlex.quote(p.name)} -c copy "
                            f"{shlex.quote(p.stem + '-saved' + p.suffix)} keeps the frames written whole"
                        )
                    elif pts and _restarts(container.demux(vs), max(pts), tb):
                        why = (
                            "the timestamps start again after it: recordings joined byte by byte (e.g. "
                            "MPEG-TS segments joined with cat); give each one, or join them with "
                            "ffmpeg's concat demuxer"
                        )
                    else:
                        why = "damaged or truncated"
                    raise VideoError(p, f"corrupt video packet #{len(pts) + discarded}: {why}")
                if pkt.is_discard:
                    discarded += 1
                    continue
                if pkt.pts is None:
                    raw = container_format in RAW_STREAM_FORMATS
                    raise VideoError(
                        p,
                        f"video packet #{len(pts) + discarded} has no timestamp"
                        + (
                            f": a raw {codec} stream without a container; put it into one at its "
                            f"frame rate first, e.g. ffmpeg -r 25 -i {shlex.quote(p.name)} -c copy "
                            f"{shlex.quote(p.stem + '.mp4')}"
                            if raw
                            else ""
                        ),
                    )
                pts.append(int(pkt.pts))
                durations[int(pkt.pts)] = int(pkt.duration or 0)
                key_seen = key_seen or pkt.is_keyframe
                if not key_seen:
                    before_key.add(int(pkt.pts))
        except av.FFmpegError as exc:
            raise VideoError(
                p, f"error reading video packet #{len(pts)} ({exc}): damaged or truncated"
            ) from exc
    if not pts:
        raise VideoError(p, "video stream has no frames")
    pts.sort()
    if nb_frames and nb_frames != len(pts) + discarded and not _avi_slots(container_format, pts, nb_frames):
        raise VideoError(
            p,
            f"container index lists {nb_frames} frames but {len(pts) + discarded} could be read: truncated?",
        )
    arr = np.asarray(pts, dtype=np.int64)
    diffs = np.diff(arr)
    if diffs.size and diffs.min() <= 0:
        i = int(np.argmin(diffs))
        raise VideoError(p, f"duplicate frame timestamp {pts[i]} (frames {i} and {i + 1})")

    first = _first_frame(p, stream_index)
    leading = 0
    if first.pts is not None and first.pts != pts[0]:
        leading = int(np.searchsorted(arr, first.pts))
        if not (leading < len(pts) and pts[leading] == first.pts and set(pts[:leading]) <= before_key):
            raise VideoError(p, f"first decoded frame has pts {first.pts}, packet index starts at {pts[0]}")
        # A file cut from a stream starts before its first keyframe: the frames shown before the first
        # one decoded reference pictures the file lacks. No decoder can show them; they are not frames of
        # the video (as packets an edit list hides), so they are neither indexed nor delivered.
        pts = pts[leading:]
        arr = arr[leading:]
        diffs = np.diff(arr)
    rot = first.rotation
    rotation = int(round(rot)) % 360 if rot == rot else 0  # NaN: invalid matrix -> treat as none
    if rotation not in (0, 90, 180, 270) or abs(rot - round(rot)) > 1e-3:
        raise VideoError(p, f"unsupported display rotation {rot} degrees (only multiples of 90)")
    if _is_mirrored(first):
        raise VideoError(p, "display matrix mirrors the picture: not supported")
    cw, ch = first.width, first.height
    width, height = (ch, cw) if rotation in (90, 270) else (cw, ch)

    n_decord = _decord_count(p)
    # decord 0.6.0 counts the packets an edit list hides, and those before the first keyframe, as frames
    if n_decord is not None and n_decord not in (len(pts) + leading, len(pts) + leading + discarded):
        what = f"decord counts {n_decord} frames but the packet index has {len(pts)}"
        if streams["video"] > 1:  # decord reads the stream FFmpeg finds best, FaceOff the first one
            what += (
                f" (the file has {streams['video']} video streams; FaceOff reads the first that is not "
                f"cover art, #{stream_index}, decord may read another: copy the camera's stream alone "
                f"into a file first, e.g. ffmpeg -i {shlex.quote(p.name)} -map 0:v:1 -c copy "
                f"{shlex.quote(p.stem + '-camera' + p.suffix)})"
            )
        raise VideoError(p, what)

    last = durations.get(pts[-1], 0)  # the last frame lasts its packet duration, else the median interval
    if last <= 0 and diffs.size:
        last = int(np.median(diffs))
    elif last <= 0 and average_rate:
        last = round(1 / (average_rate * tb))
    last = max(1, last)
    duration = float((pts[-1] - pts[0] + last) * tb)
    vfr = bool(diffs.size and int(diffs.max() - diffs.min()) > 1)
    return ProbeInfo(
        path=str(p),
        frame_count=len(pts),
        width=width,
        height=height,
        rotation=rotation,
        time_base=(tb.numerator, tb.denominator),
        pts=pts,
        pts_time=[float(x * tb) for x in pts],
        start_time=float(pts[0] * tb),
        variable_frame_rate=vfr,
        avg_fps=len(pts) / duration,
        codec=codec,
        pix_fmt=first.format.name,
        duration=duration,
        size_bytes=size,
        sha256=digest,
        streams=streams,
        chapters=chapters,
        leading_undecodable=leading,
        seconds=time.perf_counter() - t0,
        **display_properties(sar, field_order, first, rotation),
    )


def stream_picture(stream: av.video.stream.VideoStream) -> tuple[Fraction | None, int]:
    """A video stream's sample aspect ratio (the container's, else the codec's) and FFmpeg field order."""
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    return sar, int(stream.codec_context.field_order or 0)


def display_properties(
    sar: Fraction | None, field_order: int, frame: av.VideoFrame, rotation: int = 0
) -> dict:
    """How the upright frames are shown, as :class:`ProbeInfo` records it (``sample_aspect``,
    ``interlace``, ``color_range``, ``color_matrix``, ``color_primaries``, ``color_transfer``), from the
    stream's :func:`stream_picture` and its first decoded ``frame``; the probe of a source and the
    encoder's check of its output both use it."""
    return {
        "sample_aspect": _sample_aspect(sar, rotation),
        "interlace": _upright_interlace(INTERLACE.get(field_order, "progressive"), rotation),
        "color_range": COLOR_RANGES.get(int(frame.color_range), "tv"),
        "color_matrix": COLOR_MATRICES.get(int(frame.colorspace), "unknown"),
        "color_primaries": COLOR_PRIMARIES.get(int(frame.color_primaries), "unknown"),
        "color_transfer": COLOR_TRANSFERS.get(int(frame.color_trc), "unknown"),
    }


def _upright_interlace(interlace: str, rotation: int) -> str:
    """The coded frames' field order as the upright frames have it: a half turn puts the top field's rows
    at the bottom field's places; after a quarter turn fields are columns, which no encoder interlaces."""
    if rotation in (90, 270):
        return "progressive"
    if rotation == 180:
        return {"tff": "bff", "bff": "tff"}.get(interlace, interlace)
    return interlace


def _sample_aspect(sar: Fraction | None, rotation: int) -> tuple[int, int]:
    """The displayed pixel's width:height from the stream's sample aspect ratio (None or 0: unknown, taken
    as square); a quarter turn swaps it."""
    if not sar or sar <= 0:
        return (1, 1)
    sar = Fraction(sar)
    num, den = sar.numerator, sar.denominator
    return (den, num) if rotation in (90, 270) else (num, den)


def write_probe(info: ProbeInfo, out_path: str | Path) -> None:
    """Write ``info`` as JSON atomically (:mod:`faceoff.atomic`)."""
    write_text(out_path, json.dumps(info.to_json()))


def read_probe(path: str | Path) -> ProbeInfo:
    """Read a JSON written by :func:`write_probe`; raise VideoError naming the file if invalid."""
    try:
        with open(path, encoding="utf-8") as f:
            return ProbeInfo.from_json(json.load(f))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise VideoError(path, f"cannot read probe JSON: {exc}") from exc
