"""Frames per second of each stage on the demo clip and on a 1280x720 clip, on this machine.

    .venv/bin/python benchmarks/stages.py [--seconds 10] [--workdir /tmp/faceoff-bench]

The 720p clip is the demo scene upscaled 2x and looped (faces then span about 140 px), so it is
deterministic and needs no download. Prints a Markdown table (copied into docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import cv2
import numpy as np

from faceoff.config import AuditConfig, DetectConfig, RegularizeConfig, RenderConfig
from faceoff.probe import probe_video, write_probe
from faceoff.stages.audit import run_audit
from faceoff.stages.detect import run_detect
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
    info = probe_video(video)
    out["probe"] = info.frame_count / (time.perf_counter() - t)
    write_probe(info, work / "probe.json")
    t = time.perf_counter()
    run_detect(str(video), info, detect_cfg, work / "det.parquet")
    out["detect"] = info.frame_count / (time.perf_counter() - t)
    t = time.perf_counter()
    run_regularize(work / "det.parquet", info, RegularizeConfig(), work / "tracks.parquet", video=video)
    out["regularize"] = info.frame_count / (time.perf_counter() - t)
    t = time.perf_counter()
    run_render(
        str(video), info, work / "tracks.parquet", RenderConfig(), work / "out.mp4", work / "render.json"
    )
    out["render"] = info.frame_count / (time.perf_counter() - t)
    t = time.perf_counter()
    run_audit(
        work / "out.mp4",
        info,
        work / "tracks.parquet",
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the 720p clip")
    parser.add_argument("--workdir", default="/tmp/faceoff-bench")
    args = parser.parse_args()
    work = Path(args.workdir)
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
