"""What one job of each stage asks a scheduler for: memory, runtime and GPUs, from the probed video.

The Snakemake rules (``rules/resources.smk``) call :func:`estimate` with the video's :class:`VideoFacts`
(frame count, size, duration from ``probe/{id}.json``) and the job's ``attempt``; SLURM gets ``mem_mb``
and ``runtime`` (minutes) per job, so a 10-minute 720p clip and a 3-hour 4K recording each ask for
what they need. Before the probe exists (a dry run, or a group job that also probes), the facts are
guessed from the file size (:func:`guess_facts`) on the generous side; Snakemake evaluates a job's
resources again when it becomes ready, and by then the probe is there.

The model is deliberately simple and conservative: a fixed cost per job (Python, model load) plus a
cost per frame that scales with the pixels each stage handles, times a safety factor, and both memory and
runtime grow with each retry (``attempt``), so a job killed for memory or time is retried bigger.
Throughputs are those measured on a 2-core x86_64 without GPU (docs/performance.md) divided by two;
GPU detection throughput is a floor for a data-centre GPU with CPU decoding.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

STAGES = ("probe", "detect", "regularize", "render", "audit", "report", "summary")

# Throughputs in megapixels per second (per thread where noted), conservative.
DECODE_MPX_S = 100.0  # H.264 decode + colour conversion, one job
DETECT_CPU_MPX_S_PER_THREAD = 3.0  # measured about 6.8 (CenterFace on onnxruntime, 960x540, 2 threads)
DETECT_GPU_MPX_S = 40.0  # torch fp16 on a data-centre GPU is far faster; decoding usually bounds it
RENDER_MPX_S_PER_THREAD = 20.0  # measured about 60 (blur + libx264 veryfast, 720p, 2 threads)
HASH_MB_S = 200.0  # probe: sha256 and packet index of the file
JOB_OVERHEAD_S = {"probe": 10, "detect": 60, "regularize": 20, "render": 30, "audit": 60, "report": 30}
SAFETY = 2.0
MIN_RUNTIME_MIN = 1  # per job: the runtimes of a group job add up
# Memory: resident size of a job before it holds any frame (measured 0.2-1.2 GB), MB.
BASE_MEM_MB = {
    "probe": 500,
    "detect": 3000,
    "regularize": 1000,
    "render": 3000,  # with the audit's detector (it re-detects each rendered frame)
    "audit": 1500,
    "report": 1500,
    "summary": 1500,
}
PER_FRAME_MB = 0.002  # probe JSON (pts lists) and box tables held in memory, per video frame
X264_FRAMES = 40  # frames libx264 keeps (lookahead, references, threads) at veryfast


@dataclass(frozen=True)
class VideoFacts:
    """What the resource model needs to know about one video."""

    frames: int
    width: int
    height: int
    duration: float
    size_bytes: int
    guessed: bool = False

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


# A guess before probing: the file at a low bitrate (so long), 1080p (so big), 30 fps.
GUESS_BITRATE = 2e6
GUESS_SIZE = (1920, 1080)
GUESS_FPS = 30.0


def guess_facts(size_bytes: int) -> VideoFacts:
    """Generous facts for a video of ``size_bytes`` that is not probed yet."""
    duration = max(1.0, size_bytes * 8 / GUESS_BITRATE)
    return VideoFacts(
        frames=math.ceil(duration * GUESS_FPS),
        width=GUESS_SIZE[0],
        height=GUESS_SIZE[1],
        duration=duration,
        size_bytes=size_bytes,
        guessed=True,
    )


# The facts are top-level numbers before and after the probe's per-frame lists (megabytes for a long video):
# read from the file's first and last few KB, not parsed whole (10^4-10^5 probes per DAG).
_FACT_KEYS = ("frame_count", "width", "height", "duration", "size_bytes")
_FACT_RE = re.compile(r'[{,]\s*"(' + "|".join(_FACT_KEYS) + r')":\s*(-?[0-9][0-9.eE+-]*)')
_EDGE_BYTES = 8192


def _facts_of(d: dict) -> VideoFacts:
    return VideoFacts(
        frames=int(d["frame_count"]),
        width=int(d["width"]),
        height=int(d["height"]),
        duration=float(d["duration"]),
        size_bytes=int(d["size_bytes"]),
    )


@lru_cache(maxsize=1 << 17)
def _read_facts(path: str, mtime_ns: int, size: int) -> VideoFacts | None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(_EDGE_BYTES)
            if size > 2 * _EDGE_BYTES:
                fh.seek(-_EDGE_BYTES, os.SEEK_END)
                edges = head.decode("utf-8", "replace") + " " + fh.read().decode("utf-8", "replace")
            else:
                edges = (head + fh.read()).decode("utf-8", "replace")
        found = dict(_FACT_RE.findall(edges))
        if len(found) == len(_FACT_KEYS):
            return _facts_of({k: float(v) for k, v in found.items()})
        with open(path, encoding="utf-8") as fh:  # keys not at the edges: parse it all
            return _facts_of(json.load(fh))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_facts(probe_json: str | os.PathLike | None) -> VideoFacts | None:
    """The facts in a probe JSON, or None when it does not exist (yet) or cannot be read."""
    if not probe_json:
        return None
    try:
        st = os.stat(probe_json)
    except OSError:
        return None
    return _read_facts(str(probe_json), st.st_mtime_ns, st.st_size)


def video_facts(probe_json: str | os.PathLike | None, video: str | os.PathLike | None) -> VideoFacts:
    """Facts from the probe when it exists, else guessed from the video's size (1 GB if unreadable)."""
    facts = read_facts(probe_json)
    if facts is not None:
        return facts
    try:
        size = os.stat(video).st_size if video else 1 << 30
    except OSError:
        size = 1 << 30
    return guess_facts(size)


@dataclass(frozen=True)
class Request:
    mem_mb: int
    runtime: int  # minutes


def _scaled_mpx(facts: VideoFacts, width: int) -> float:
    """Megapixels per frame at a detection width (0 = source; never upscaled)."""
    if width <= 0 or width >= facts.width:
        return facts.megapixels
    return width * (facts.height * width / facts.width) / 1e6


def _round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


def estimate(
    stage: str,
    facts: VideoFacts | None,
    *,
    threads: int = 1,
    gpu: bool = False,
    attempt: int = 1,
    detect_width: int = 960,
    audit_width: int = 960,
    detect_batch: int = 8,
    render_batch: int = 16,
    audit_batch: int = 8,
    follow_frames: int = 0,
    n_videos: int = 1,
) -> Request:
    """Memory (MB) and runtime (minutes) for one job of ``stage``; both grow linearly with ``attempt``.

    ``facts`` is the video's (None only for ``summary``, which reads one report JSON per video).
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    attempt = max(1, int(attempt))
    threads = max(1, int(threads or 1))
    if stage == "summary":
        mem = BASE_MEM_MB["summary"] + 0.2 * n_videos  # measured about 0.03 MB per report
        seconds = 60 + 0.02 * n_videos  # measured 3-5 ms per report
        return _request(mem, seconds, attempt)
    if facts is None:
        raise ValueError(f"{stage}: needs the video's facts")
    n = facts.frames
    src_mpx = facts.megapixels
    frame_mb = src_mpx * 3  # one RGB frame at source size
    mem = BASE_MEM_MB[stage] + PER_FRAME_MB * n
    seconds = JOB_OVERHEAD_S[stage]
    if stage == "probe":
        mem += 20 * frame_mb
        # the packet index and hash, then the shot cuts: every frame decoded (faceoff/shots.py)
        seconds += facts.size_bytes / 1e6 / HASH_MB_S + n * src_mpx / DECODE_MPX_S
    elif stage == "detect":
        det_mpx = _scaled_mpx(facts, detect_width)
        # decoded batches (prefetch depth 2 + the one in use), resized copies, the model's input tensors
        mem += 3 * detect_batch * frame_mb + 4 * detect_batch * det_mpx * 3 * 4
        rate = DETECT_GPU_MPX_S if gpu else DETECT_CPU_MPX_S_PER_THREAD * threads
        seconds += n * (src_mpx / DECODE_MPX_S + det_mpx / rate)
    elif stage == "render":  # decode, hide, encode, and the audit's detector on each rendered frame
        det_mpx = _scaled_mpx(facts, audit_width)
        mem += 3 * render_batch * frame_mb + X264_FRAMES * frame_mb + 4 * audit_batch * det_mpx * 3 * 4
        rate = DETECT_GPU_MPX_S if gpu else DETECT_CPU_MPX_S_PER_THREAD * threads
        seconds += n * (
            src_mpx / DECODE_MPX_S + src_mpx / (RENDER_MPX_S_PER_THREAD * threads) + det_mpx / rate
        )
    elif stage == "audit":  # the contact sheet's decode, a probe (sha256) and a copy of the file
        mem += 16 * frame_mb
        seconds += 2 * facts.size_bytes / 1e6 / HASH_MB_S + n * src_mpx / DECODE_MPX_S
    elif stage in ("regularize", "report"):
        seconds += n * 2e-4
        if stage == "regularize" and follow_frames > 0:  # following decodes the video, keeping a ring of
            mem += (follow_frames + 1) * src_mpx + 3 * frame_mb  # grey frames (1 byte a pixel), a batch
            seconds += n * src_mpx / DECODE_MPX_S
    return _request(mem, seconds, attempt)


def _request(mem: float, seconds: float, attempt: int) -> Request:
    runtime = max(MIN_RUNTIME_MIN, math.ceil(seconds * SAFETY / 60))
    return Request(mem_mb=_round_up(mem * attempt, 100), runtime=runtime * attempt)


def shell_for_gpu_jobs(root: str | os.PathLike) -> str:
    """The ``shell_exec`` that runs a GPU job holding one GPU slot (see :mod:`faceoff.gpu_slots`)."""
    return str(Path(root) / "scripts" / "gpu-slot-shell")
