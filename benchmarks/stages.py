"""Frames per second of each stage on the demo clip and on a 1280x720 clip, on this machine.

    .venv/bin/python benchmarks/stages.py [--seconds 10] [--workdir /tmp/faceoff-bench]
    .venv/bin/python benchmarks/stages.py --render-floor [--seconds 60]

The 720p clip is the demo scene upscaled 2x and looped (faces then span about 140 px), so it is
deterministic and needs no download. Prints a Markdown table (copied into docs/performance.md).
``--render-floor``: on the throughput benchmark's 720p clip (camera-like grain), the re-encode floor
(``ffmpeg -i in -c:v libx264 -preset veryfast``), the render stage without and with its frame check, and
the audit stage, each timed in-process.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np

from faceoff.config import AuditConfig, DetectConfig, RegularizeConfig, RenderConfig, ShotsConfig
from faceoff.stages.audit import run_audit
from faceoff.stages.detect import run_detect
from faceoff.stages.probe import run_probe
from faceoff.stages.regularize import run_regularize
from faceoff.stages.render import run_render
from faceoff.synth.clips import write_clip
from faceoff.synth.demo import FPS, demo_frames, write_demo


def make_720p(path: Path, seconds: float) -> Path:
    frames, _ = demo_frames()
    n = int(seconds * FPS)
    big = np.stack(
        [cv2.resize(frames[i % len(frames)], (1280, 720), interpolation=cv2.INTER_LINEAR) for i in range(n)]
    )
    return write_clip(path, big, fps=FPS)


STAGES = ("probe", "detect", "regularize", "render", "audit")


def bench(video: Path, work: Path, detect_cfg: DetectConfig) -> dict[str, float]:
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, float] = {}
    t = time.perf_counter()
    info = run_probe(video, work / "probe.json", ShotsConfig())  # the stage: index and shot cuts
    out["probe"] = info.frame_count / (time.perf_counter() - t)
    t = time.perf_counter()
    run_detect(str(video), info, detect_cfg, work / "det.parquet")
    out["detect"] = info.frame_count / (time.perf_counter() - t)
    t = time.perf_counter()
    run_regularize(work / "det.parquet", info, RegularizeConfig(), work / "tracks.parquet", video=video)
    out["regularize"] = info.frame_count / (time.perf_counter() - t)
    t = time.perf_counter()
    run_render(
        str(video),
        info,
        work / "tracks.parquet",
        RenderConfig(),
        work / "out.mp4",
        work / "render.json",
        audit=AuditConfig(),  # the audit's re-detection of every rendered frame runs here
        detect=detect_cfg,
    )
    out["render"] = info.frame_count / (time.perf_counter() - t)
    t = time.perf_counter()
    run_audit(
        work / "out.mp4",
        info,
        work / "tracks.parquet",
        work / "det.parquet",
        work / "render.json",
        RenderConfig(),
        AuditConfig(),
        detect_cfg,
        work / "audit.json",
        work / "qa.png",
        work / "delivered.mp4",
    )
    out["audit"] = info.frame_count / (time.perf_counter() - t)
    out["frames"] = info.frame_count
    out["size"] = f"{info.width}x{info.height}"
    out["all"] = info.frame_count / sum(info.frame_count / out[k] for k in STAGES)
    return out


def render_floor(work: Path, seconds: float) -> None:
    """Seconds of the re-encode floor, the render without and with its frame check, and the audit stage."""
    from benchmarks.throughput import scaled_demo
    from faceoff.ffmpeg import ffmpeg_exe

    work.mkdir(parents=True, exist_ok=True)
    clip = write_clip(
        work / "grain720.mp4", np.stack(list(scaled_demo(1280, 720, int(seconds * FPS)))), fps=FPS
    )
    info = run_probe(clip, work / "probe.json", ShotsConfig())
    n = info.frame_count
    rows: list[tuple[str, float]] = []
    t = time.perf_counter()
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-c:v", "libx264", "-preset", "veryfast"]
    subprocess.run([*cmd, str(work / "floor.mp4")], check=True)
    rows.append(("floor: ffmpeg -i in -c:v libx264 -preset veryfast", time.perf_counter() - t))
    detect = DetectConfig()
    run_detect(str(clip), info, detect, work / "det.parquet")
    run_regularize(work / "det.parquet", info, RegularizeConfig(), work / "tracks.parquet", video=clip)
    t = time.perf_counter()
    run_render(
        str(clip), info, work / "tracks.parquet", RenderConfig(), work / "plain.mp4", work / "plain.json"
    )
    rows.append(("render, no frame check (audit.enabled false)", time.perf_counter() - t))
    t = time.perf_counter()
    run_render(
        str(clip), info, work / "tracks.parquet", RenderConfig(), work / "out.mp4", work / "render.json",
        audit=AuditConfig(), detect=detect,
    )  # fmt: skip
    rows.append(("render with the frame check (defaults)", time.perf_counter() - t))
    t = time.perf_counter()
    run_audit(
        work / "out.mp4", info, work / "tracks.parquet", work / "det.parquet", work / "render.json",
        RenderConfig(), AuditConfig(), detect, work / "audit.json", work / "qa.png", work / "delivered.mp4",
    )  # fmt: skip
    rows.append(
        (
            "audit stage (no detector: table check, file check, contact sheet, delivery)",
            time.perf_counter() - t,
        )
    )
    floor = rows[0][1]
    print(f"# {time.strftime('%Y-%m-%d')}, {info.width}x{info.height}, {n} frames, in-process seconds")
    print("| step | seconds | frames/s | / floor |")
    print("| --- | --- | --- | --- |")
    for name, sec in rows:
        print(f"| {name} | {sec:.1f} | {n / sec:.1f} | {sec / floor:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the 720p clip")
    parser.add_argument("--workdir", default="/tmp/faceoff-bench")
    parser.add_argument("--render-floor", action="store_true", help="render and audit against the floor")
    args = parser.parse_args()
    work = Path(args.workdir)
    if args.render_floor:
        render_floor(work / "floor", args.seconds)
        return
    demo = write_demo(work / "demo" / "videos")[0]
    clip720 = make_720p(work / "clip720.mp4", args.seconds)
    default = DetectConfig()
    rows = [
        ("demo 640x360", bench(demo, work / "r-demo", default)),
        (f"720p, defaults (detect.width {default.width})", bench(clip720, work / "r-720", default)),
        ("720p, detect.width=640", bench(clip720, work / "r-720-640", DetectConfig(width=640))),
    ]
    machine = platform.processor() or platform.machine()
    print(f"# {time.strftime('%Y-%m-%d')}, {machine}, {os.cpu_count()} cores, CPU only")
    print(f"| clip | frames | {' | '.join(STAGES)} | all stages |")
    print("| --- | --- |" + " --- |" * (len(STAGES) + 1))
    for name, r in rows:
        cells = " | ".join(f"{r[k]:.1f}" for k in (*STAGES, "all"))
        print(f"| {name} | {r['frames']} | {cells} |")
    print("(frames per second; each stage timed in-process, including model load and file I/O)")


if __name__ == "__main__":
    main()
