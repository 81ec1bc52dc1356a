"""What the defaults cannot do without on this machine: the work every video needs, piece by piece,
against the re-encode floor (issue 13: "why the rest cannot be had").

    .venv/bin/python benchmarks/cost_floor.py [--clip /tmp/faceoff-throughput/clip_720p_60s.mp4]
        [--frames 300] [--rounds 3]

On the first ``--frames`` frames of the clip (default: the throughput benchmark's 720p and 1080p clips),
each piece alone, in this process, best of ``--rounds`` (wall seconds, and CPU seconds of this process and
its children):

* the floor: ``ffmpeg -i in -c:v libx264 -preset veryfast`` (crf 23, ffmpeg's default), and the same at the
  render's crf (``render.crf``);
* decoding to RGB as detect does (PyAV, ``decode.iter_frames``), and to YUV as the render does;
* the detector network alone on every frame at detect's size (``detect.width``), and at the audit's
  (``audit.width``), ``CenterFace.detect`` on frames already in memory (no zoom: its crops come on top).

The sum of the pieces a default run cannot skip (detect network, audit network, a re-encode at the
render's crf, which decodes once as the render does, and two more decodes: detect's to RGB, regularize's
following, counted as a YUV decode) is a lower bound of the workflow's time, with nothing for tracking,
following, hiding, start-up or scheduling, printed as a multiple of the floor.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from faceoff.config import AuditConfig, DetectConfig, RenderConfig
from faceoff.decode import detection_size, iter_frames, iter_yuv
from faceoff.detectors import build_detector
from faceoff.ffmpeg import ffmpeg_exe
from faceoff.probe import probe_video

CLIPS = ("/tmp/faceoff-throughput/clip_720p_60s.mp4", "/tmp/faceoff-throughput/clip_1080p_20s.mp4")


def cpu_seconds() -> float:
    """CPU seconds of this process and its waited-for children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def best(run: Callable[[], object], rounds: int) -> tuple[float, float]:
    """(wall s, CPU s) of the fastest of ``rounds`` calls of ``run``."""
    results = []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), cpu_seconds()
        run()
        results.append((time.perf_counter() - wall, cpu_seconds() - cpu))
    return min(results)


def pieces(clip: Path, n: int, rounds: int, work: Path) -> dict[str, tuple[float, float]]:
    """(wall s, CPU s) of each piece on the first ``n`` frames of ``clip``."""
    short = work / f"{clip.stem}-{n}.mp4"
    ffmpeg = ffmpeg_exe()
    cut = [ffmpeg, "-y", "-v", "error", "-i", str(clip), "-frames:v", str(n), "-c", "copy", str(short)]
    subprocess.run(cut, check=True)
    info = probe_video(short)
    render = RenderConfig()
    out: dict[str, tuple[float, float]] = {}

    def encode(crf: int | None) -> Callable[[], object]:
        args = [ffmpeg, "-y", "-v", "error", "-i", str(short), "-c:v", "libx264", "-preset", render.preset]
        args += [] if crf is None else ["-crf", str(crf)]
        return lambda: subprocess.run([*args, str(work / "floor.mp4")], check=True)

    out["floor (crf 23)"] = best(encode(None), rounds)
    out[f"floor at the render's crf {render.crf}"] = best(encode(render.crf), rounds)
    out["decode to RGB (detect)"] = best(lambda: sum(1 for _ in iter_frames(short, info, 16)), rounds)
    out["decode to YUV (render)"] = best(lambda: sum(1 for _ in iter_yuv(short, info, "yuv420p", 16)), rounds)
    detect, audit = DetectConfig(), AuditConfig()
    detector = build_detector(detect.detector, runtime=detect.runtime, device="cpu", threads=os.cpu_count())
    for label, width, threshold in (("detect", detect.width, detect.threshold), ("audit", audit.width, 0.3)):
        size = detection_size(info, width)
        frames = np.concatenate([f for _, f in iter_frames(short, info, 16, size=size)])
        detector.detect(frames[:1], threshold)  # warm-up
        w, h = size or (info.width, info.height)

        def run(frames: np.ndarray = frames, threshold: float = threshold) -> None:
            for i in range(len(frames)):
                detector.detect(frames[i : i + 1], threshold)

        out[f"network at {label} size ({w}x{h}, {detector.runtime})"] = best(run, rounds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", action="append", help="clip(s); default: the throughput clips")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", default="/tmp/faceoff-cost-floor")
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    for clip in map(Path, args.clip or CLIPS):
        got = pieces(clip, args.frames, args.rounds, work)
        floor = got["floor (crf 23)"][0]
        print(f"\n## {clip.name}, first {args.frames} frames (wall s / CPU s / x floor wall)\n")
        print("| piece | wall s | CPU s | / floor |")
        print("| --- | --- | --- | --- |")
        for name, (wall, cpu) in got.items():
            print(f"| {name} | {wall:.2f} | {cpu:.2f} | {wall / floor:.2f}x |")
        unavoidable = [k for k in got if k.startswith(("network", "floor at"))]
        decodes = got["decode to RGB (detect)"][0] + got["decode to YUV (render)"][0]
        bound = sum(got[k][0] for k in unavoidable) + decodes
        print(
            f"\nlower bound (networks at detect and audit size, re-encode at the render's crf, 2 decodes): "
            f"{bound:.2f} s = **{bound / floor:.2f}x the floor**"
        )


if __name__ == "__main__":
    main()
