"""Encode upright frames to H.264 MP4 with the source's exact timestamps and no metadata; fail closed.

How
---
Frames come as RGB (``(H, W, 3)``, converted to YUV by ffmpeg) or, with ``input_format="yuv"``, already in
the output's pixel format (one raw buffer per frame, :mod:`faceoff.yuv`: no conversion at all; the render
stage's way). They are muxed by PyAV as ``rawvideo`` packets into a NUT stream whose time base is
``1/time_base.denominator`` of the source (the NUT muxer may refine it to an exact multiple, e.g.
1/15360 -> 1/61440) and whose pts are the source's ``ProbeInfo.pts`` (exact ticks);
that stream is piped to ffmpeg (command built with ``ffmpeg-python``) which encodes with libx264 using
``-copyts -fps_mode passthrough -enc_time_base 1:<den> -video_track_timescale <den>``. The output
therefore probes to the same ``pts``/``pts_time`` as the source (VFR and a non-zero start included); the
last frame keeps the source's last-frame duration. MP4 holds no time before 0, so a source whose
timestamps start below it (an MPEG-TS whose 33-bit clock wrapped during the recording, which FFmpeg
unwraps to negative times) is written ``shift`` ticks later, every interval kept (audit trail:
``verification["timestamp_shift"]``, seconds; a kept audio track moves with it).

Sizes and orientation
---------------------
Frames are already upright, so no display matrix is written (and none is accepted in verification).
An anamorphic source (non-square pixels, ``ProbeInfo.sample_aspect``) keeps its pixel aspect (``setsar``),
so the output is displayed at the source's shape; an interlaced one (``ProbeInfo.interlace``) is encoded
interlaced with the same field first (``setfield``, x264's interlaced mode), so players still deinterlace it.
The YUV planes pass unchanged, so they are marked with the source's colour range, matrix, primaries and
transfer (``ProbeInfo.color_range``, ``color_matrix``, ``color_primaries``, ``color_transfer``;
``setparams``, else ffmpeg would convert them from what it takes unmarked frames to be) and written so:
full-range IP-camera video stays full range, BT.2020 and HLG/PQ video keep their gamut and curve (in 8
bits). Verification checks all of these.
Even sizes are encoded as ``yuv420p``. H.264 cannot signal an odd width/height in 4:2:0 (SPS cropping
works in 2-pixel units, ``h264_metadata`` refuses ``crop_right=1``), so odd sizes are encoded as
``yuv444p`` (High 4:4:4 profile), which decoders (FFmpeg, PyAV, decord) return at the exact odd size.

Metadata
--------
Dropped: all container and stream tags (``-map_metadata -1``; creation_time, location, title, encoder...),
chapters, subtitle/data/attachment streams, audio (unless ``keep_audio``), the ``Lavf``/``Lavc``
version tags (``-fflags +bitexact``, ``-flags:v +bitexact``, ``-metadata:s:v encoder=``) and the x264
settings SEI (``-bsf:v filter_units=remove_types=6``). What remains, as PyAV reports it (box defaults,
not copied from the source): container ``major_brand``, ``minor_version``, ``compatible_brands`` (the
``ftyp`` box); per stream ``language=und`` and ``handler_name`` = ``VideoHandler``/``SoundHandler``.
Verification rejects the output if any other tag, stream or a chapter is present.

Fail closed
-----------
ffmpeg writes ``.{name}.partial-{pid}.mp4`` next to ``out_path`` (:mod:`faceoff.atomic`). Only after
ffmpeg exits 0 and the file verifies (one video stream, packet count == frame_count, size, pixel aspect,
interlacing, pts, no rotation, allowed tags/streams) is it renamed atomically to ``out_path``. Any error, an
exception inside the ``with`` block, or fewer/more frames than ``frame_count`` kills ffmpeg and deletes
the temp file; ``out_path`` is then never created or replaced (a file already there from an earlier run
is left as it was). A temp file left by a killed process is removed by the next writer of the same output
(:func:`faceoff.atomic.remove_stale_partials`).
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Literal

import av
import ffmpeg as ffmpeg_python
import numpy as np

from faceoff import yuv
from faceoff.atomic import commit, partial_path, remove_stale_partials
from faceoff.errors import VideoError
from faceoff.ffmpeg import ffmpeg_exe, tail
from faceoff.probe import ProbeInfo, display_matrix, display_properties, stream_picture

SHOWN = {  # how a frame is shown, as verification names it
    "sample_aspect": "pixel aspect",
    "interlace": "interlacing",
    "color_range": "colour range",
    "color_matrix": "colour matrix",
    "color_primaries": "colour primaries",
    "color_transfer": "transfer characteristic",
}
ALLOWED_CONTAINER_TAGS = frozenset({"major_brand", "minor_version", "compatible_brands"})
ALLOWED_STREAM_TAGS = frozenset({"language", "handler_name", "vendor_id"})
ALLOWED_HANDLERS = frozenset({"VideoHandler", "SoundHandler"})


def _text(value: Any) -> str:
    return ":".join(map(str, value)) if isinstance(value, tuple) else str(value)


def output_pix_fmt(width: int, height: int) -> str:
    """yuv420p, or yuv444p when a dimension is odd (4:2:0 H.264 cannot represent odd sizes)."""
    return "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"


class VideoWriter:
    """Context manager that encodes exactly ``info.frame_count`` frames to ``out_path`` (see module doc)."""

    def __init__(
        self,
        out_path: str | Path,
        info: ProbeInfo,
        *,
        crf: int = 20,
        preset: str = "veryfast",
        keep_audio: bool = False,
        source_path: str | Path | None = None,
        log_path: str | Path | None = None,
        input_format: Literal["rgb24", "yuv"] = "rgb24",
    ):
        self.out_path = Path(out_path)
        self.info = info
        self.verification: dict = {}  # what the check of the finished output found (see _verify)
        self.crf = int(crf)
        self.preset = preset
        self.keep_audio = keep_audio
        self.source_path = Path(source_path) if source_path is not None else None
        self.log_path = Path(log_path) if log_path is not None else None
        if keep_audio and self.source_path is None:
            raise ValueError("keep_audio=True needs source_path")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf {crf} outside 0..51")
        self.tmp_path = partial_path(self.out_path, suffix=".mp4")
        self.pix_fmt = output_pix_fmt(info.width, info.height)
        if input_format not in ("rgb24", "yuv"):
            raise ValueError(f"input_format must be 'rgb24' or 'yuv', not {input_format!r}")
        self.input_pix_fmt = "rgb24" if input_format == "rgb24" else self.pix_fmt
        if input_format == "rgb24":
            self.frame_shape: tuple[int, ...] = (info.height, info.width, 3)
        else:
            self.frame_shape = (yuv.frame_bytes(info.width, info.height, self.pix_fmt),)
        num, den = info.time_base
        self._tick = num  # source tick expressed in output units of 1/den s
        # MP4 holds no time before 0: a source starting below it (an MPEG-TS whose 33-bit clock wrapped,
        # which FFmpeg unwraps to negative times) is written this many source ticks later
        self.shift = max(0, -info.pts[0])
        self._den = den
        self._tb = Fraction(1, den)
        self.frames_written = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._nut: Any = None
        self._stream: Any = None
        self._done = False

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> VideoWriter:
        self.open()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()
            return  # the original exception propagates
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_proc", None) is not None and not self._done:
            with contextlib.suppress(Exception):
                self.abort()

    def command(self) -> list[str]:
        """The ffmpeg command line (built with ffmpeg-python)."""
        has_audio = self.keep_audio and self.info.streams.get("audio", 0) > 0
        video_in = ffmpeg_python.input("pipe:", format="nut")
        video = video_in["v:0"]
        if self.info.sample_aspect != (1, 1):  # anamorphic: the output is displayed as the source is
            video = video.filter("setsar", "{}/{}".format(*self.info.sample_aspect))
        if self.info.interlace != "progressive":  # interlaced stays interlaced, the same field first
            video = video.filter("setfield", self.info.interlace)
        colour = {  # ffmpeg's output options; unmarked ("tv", "unknown") stays unmarked
            "color_range": self.info.color_range,
            "colorspace": self.info.color_matrix,
            "color_primaries": self.info.color_primaries,
            "color_trc": self.info.color_transfer,
        }
        colour = {k: v for k, v in colour.items() if v not in ("tv", "unknown")}
        if colour:  # the planes carry the source's values: mark them so, so that nothing converts them
            video = video.filter(
                "setparams", **{"range" if k == "color_range" else k: v for k, v in colour.items()}
            )
        streams = [video]
        if has_audio:  # shifted with the video
            shift = {"itsoffset": str(float(self.shift * self.info.time_base_fraction))} if self.shift else {}
            streams.append(ffmpeg_python.input(str(self.source_path), **shift)["a"])
        opts: dict[str, Any] = {
            "format": "mp4",
            "c:v": "libx264",
            "preset": self.preset,
            "crf": self.crf,
            "pix_fmt": self.pix_fmt,
            "fps_mode": "passthrough",
            "enc_time_base": f"1:{self._den}",
            "video_track_timescale": self._den,
            "map_metadata": -1,
            "map_chapters": -1,
            "fflags": "+bitexact",
            "flags:v": "+bitexact",
            "metadata:s:v": "encoder=",
            "bsf:v": "filter_units=remove_types=6",
        }
        if self.info.interlace != "progressive":  # x264 codes the fields setfield marked
            opts["flags:v"] += "+ildct+ilme"
        opts.update(colour)  # the planes go through unchanged: so does their meaning
        if has_audio:
            opts["c:a"] = "copy"
        cmd = ffmpeg_python.output(*streams, str(self.tmp_path), **opts).compile(cmd=ffmpeg_exe())
        cmd[1:1] = ["-hide_banner", "-nostdin", "-nostats", "-y", "-copyts"]
        return cmd

    def open(self) -> None:
        """Start ffmpeg and the NUT muxer feeding it."""
        if self._proc is not None:
            raise RuntimeError("VideoWriter already open")
        if not self.out_path.parent.is_dir():
            raise VideoError(self.out_path, f"output folder {self.out_path.parent} does not exist")
        remove_stale_partials(self.out_path)
        try:
            self._log = open(self.log_path, "wb") if self.log_path else tempfile.TemporaryFile()  # noqa: SIM115
            self._proc = subprocess.Popen(
                self.command(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log
            )
            self._nut = av.open(self._proc.stdin, "w", format="nut", buffer_size=1 << 20)
            s = self._nut.add_stream("rawvideo", rate=self._last_frame_rate())
            s.width, s.height, s.pix_fmt = self.info.width, self.info.height, self.input_pix_fmt
            s.time_base = self._tb
            self._stream = s
        except Exception as exc:
            self._fail(f"cannot start ffmpeg: {exc}", exc)

    def _last_frame_rate(self) -> Fraction:
        """The NUT stream's frame rate: the reciprocal of the last frame's duration.

        NUT stores no packet durations, so ffmpeg guesses each frame's duration from this rate; only the
        last frame's guess survives into the MP4 (the others follow from the next timestamp), so this rate
        makes the output's last frame (and its total duration) match the source's, VFR included.
        """
        seconds = self.info.last_frame_ticks * self.info.time_base_fraction
        return (1 / seconds).limit_denominator(1 << 30)

    def write(self, frames: np.ndarray) -> None:
        """Append frames of ``frame_shape`` (uint8, a batch ``(B, *frame_shape)`` or one frame): RGB
        ``(H, W, 3)`` at ``info.width x info.height``, or one raw YUV buffer per frame (``input_format``)."""
        if self._nut is None or self._done:
            raise VideoError(self.out_path, "VideoWriter is not open")
        frames = np.asarray(frames)
        if frames.ndim == len(self.frame_shape):
            frames = frames[None]
        if frames.dtype != np.uint8 or frames.shape[1:] != self.frame_shape:
            want = ", ".join(map(str, self.frame_shape))
            self._fail(f"frames must be uint8 (B, {want}), not {frames.dtype} {frames.shape}")
        if self.frames_written + len(frames) > self.info.frame_count:
            self._fail(f"more frames written than the source's {self.info.frame_count}")
        pts = self.info.pts
        try:
            for frame in frames:
                i = self.frames_written
                pkt = av.Packet(np.ascontiguousarray(frame))
                pkt.pts = pkt.dts = (pts[i] + self.shift) * self._tick
                nxt = pts[i + 1] if i + 1 < len(pts) else pts[i] + self.info.last_frame_ticks
                pkt.duration = (nxt - pts[i]) * self._tick
                pkt.time_base = self._tb  # constant: the NUT muxer may refine the stream's time base
                pkt.stream = self._stream
                self._nut.mux(pkt)
                self.frames_written += 1
        except Exception as exc:
            self._fail(f"writing frame {self.frames_written} to ffmpeg failed: {exc}", exc)

    def close(self) -> None:
        """Finish encoding, verify the output and move it to ``out_path``; VideoError on any problem."""
        if self._done:
            return
        if self._proc is None:
            raise VideoError(self.out_path, "VideoWriter was never opened")
        if self.frames_written != self.info.frame_count:
            self._fail(f"only {self.frames_written} of {self.info.frame_count} frames were written")
        try:
            self._nut.close()
            self._nut = None
            self._proc.stdin.close()
            rc = self._proc.wait()
        except Exception as exc:
            self._fail(f"finishing the ffmpeg stream failed: {exc}", exc)
        if rc != 0:
            self._fail(f"ffmpeg exited with status {rc}")
        try:
            self._verify()
            commit(self.tmp_path, self.out_path)
        except VideoError:
            self._cleanup()
            self._close_log()
            raise
        except Exception as exc:
            self._fail(f"finalising the output failed: {exc}", exc)
        self._done = True
        self._close_log()

    def abort(self) -> None:
        """Kill ffmpeg and delete the temp file; nothing is left at ``out_path``. Idempotent."""
        self._cleanup()

    # -- internals ---------------------------------------------------------------------------------
    def _cleanup(self) -> None:
        self._done = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        if self._nut is not None:
            with contextlib.suppress(Exception):
                self._nut.close()
            self._nut = None
        if self._proc is not None:
            with contextlib.suppress(Exception):
                self._proc.stdin.close()
            with contextlib.suppress(Exception):
                self._proc.wait(timeout=30)
        self.tmp_path.unlink(missing_ok=True)

    def _close_log(self) -> None:
        if self._log is not None:
            with contextlib.suppress(Exception):
                self._log.close()
            self._log = None

    def _stderr_tail(self) -> str:
        if self._log is None:
            return ""
        try:
            self._log.flush()
            if self.log_path is not None:
                return tail(self.log_path.read_bytes()[-8192:])
            self._log.seek(0)
            return tail(self._log.read()[-8192:])
        except Exception:  # the log is best effort
            return ""

    def _fail(self, cause: str, exc: BaseException | None = None) -> None:
        self._cleanup()
        err = self._stderr_tail()
        self._close_log()
        raise VideoError(self.out_path, f"{cause}" + (f"\nffmpeg stderr:\n{err}" if err else "")) from exc

    def _verify(self) -> None:
        """Check the temp output against the probe; raise VideoError(out_path, ...) on any mismatch."""
        info, out = self.info, self.out_path
        try:
            with av.open(str(self.tmp_path)) as c:
                kinds = [s.type for s in c.streams]
                want_audio = info.streams.get("audio", 0) if self.keep_audio else 0
                if (
                    kinds.count("video") != 1
                    or kinds.count("audio") != want_audio
                    or len(kinds) != 1 + want_audio
                ):
                    raise VideoError(out, f"unexpected streams in output: {kinds}")
                if len(c.chapters()) != 0:
                    raise VideoError(out, "output has chapters")
                extra = set(c.metadata) - ALLOWED_CONTAINER_TAGS
                for s in c.streams:
                    extra |= {f"{s.type}:{k}" for k in set(s.metadata) - ALLOWED_STREAM_TAGS}
                    handler = s.metadata.get("handler_name")
                    if handler is not None and handler not in ALLOWED_HANDLERS:
                        extra.add(f"{s.type}:handler_name={handler}")
                if extra:
                    raise VideoError(out, f"output still carries metadata {sorted(extra)}")
                self.verification = {
                    "streams": kinds,
                    "chapters": 0,
                    "container_tags": dict(c.metadata),
                    "stream_tags": {f"{s.type}:{s.index}": dict(s.metadata) for s in c.streams},
                }
                vs = c.streams.video[0]
                if (vs.width, vs.height) != (info.width, info.height):
                    raise VideoError(
                        out, f"output is {vs.width}x{vs.height}, expected {info.width}x{info.height}"
                    )
                picture = stream_picture(vs)
                out_tb = Fraction(vs.time_base)
                packets = [(p.pts, p.is_discard) for p in c.demux(vs) if p.size]
            if any(t is None or discard for t, discard in packets):
                raise VideoError(out, "output has packets without timestamps or hidden by an edit list")
            pts = sorted(t for t, _ in packets)
            if len(pts) != info.frame_count:
                raise VideoError(out, f"output has {len(pts)} frames, expected {info.frame_count}")
            src_tb = info.time_base_fraction
            self.verification.update(
                frames=len(pts),
                size=[info.width, info.height],
                timestamps_match=True,
                timestamp_shift=float(self.shift * src_tb),
            )
            half_tick = src_tb / 2
            for i, (a, b) in enumerate(zip(pts, info.pts, strict=True)):
                if abs(a * out_tb - (b + self.shift) * src_tb) > half_tick:
                    raise VideoError(
                        out,
                        f"frame {i} pts {float(a * out_tb):.6f}s != source {float(b * src_tb):.6f}s"
                        + (f" + {float(self.shift * src_tb):.6f}s" if self.shift else ""),
                    )
            with av.open(str(self.tmp_path)) as c:
                frame = next(c.decode(video=0))
                shown = display_properties(*picture, frame)
                wrong = [
                    f"{SHOWN[k]}: output is {_text(v)}, the source {_text(getattr(info, k))}"
                    for k, v in shown.items()
                    if v != getattr(info, k)
                ]
                if wrong:
                    raise VideoError(out, "; ".join(wrong))
                self.verification.update(shown, sample_aspect=list(info.sample_aspect))
                if frame.rotation not in (0, 0.0) or display_matrix(frame) is not None:
                    raise VideoError(out, f"output carries a display rotation ({frame.rotation})")
                if (frame.width, frame.height) != (info.width, info.height):
                    raise VideoError(out, f"decoded output is {frame.width}x{frame.height}")
        except av.FFmpegError as exc:
            raise VideoError(out, f"output cannot be read back: {exc}") from exc
