"""Throughput against the re-encode floor and deface, with peak memory.

    .venv/bin/python benchmarks/throughput.py [--quick] [--workdir /tmp/faceoff-throughput]

For a generated 60 s 1280x720 and a 20 s 1920x1080 30 fps H.264 clip (the demo scene, scaled and
looped), in one run: (a) the floor, ``ffmpeg -i in -c:v libx264 -preset <ours> out``; (b) our whole
workflow (``snakemake --cores all``), also with detection and audit at 640 px width; (c) ``faceoff detect``
alone; (d) ``deface`` with its defaults.
Prints frames/s, ours/floor and ours/deface ratios, and the peak RSS of each process tree; then the peak
RSS of the whole workflow on a 60 s and a 10-minute 640x360 clip (``--memory-minutes``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import psutil
import yaml

from faceoff.config import RenderConfig
from faceoff.ffmpeg import ffmpeg_exe
from faceoff.synth.clips import write_clip
from faceoff.synth.demo import demo_frames

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def scaled_demo(width: int, height: int, n: int, grain: float = 4.0) -> Iterator[np.ndarray]:
    """The demo scene scaled to ``width`` x ``height``, looped to ``n`` frames, with camera-like grain
    (Gaussian, sigma ``grain`` levels): without it x264 encodes the smooth upscaled scene unusually fast."""
    frames, _ = demo_frames()
    rng = np.random.default_rng(0)
    noise = [rng.normal(0, grain, (height, width, 3)).astype(np.float32) for _ in range(16)]
    for i in range(n):
        frame = cv2.resize(frames[i % len(frames)], (width, height), interpolation=cv2.INTER_LINEAR)
        yield np.clip(frame + noise[(i * 7) % len(noise)], 0, 255).astype(np.uint8)


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float, float]:
    """Run ``cmd``; return (seconds, peak RSS of its process tree in MiB sampled every 0.1 s, CPU seconds of
    the tree: user + system of every descendant waited for, steadier than wall time on a shared machine)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = psutil.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                procs = [proc, *proc.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in procs if p.is_running())
                peak = max(peak, rss / 2**20)
            except psutil.Error:
                pass
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return time.perf_counter() - start, peak, cpu


def bench_clip(
    clip: Path,
    frames: int,
    work: Path,
    env: dict,
    with_deface: bool = True,
    configs: tuple[str, ...] = (),
    with_fast: bool = True,
) -> list[tuple[str, float, float, float]]:
    preset = RenderConfig().preset
    rows = []
    floor_out = work / f"{clip.stem}.floor.mp4"
    cmd = [
        ffmpeg_exe(),
        "-y",
        "-v",
        "error",
        "-i",
        str(clip),
        "-c:v",
        "libx264",
        "-preset",
        preset,
        str(floor_out),
    ]
    rows.append(("floor (ffmpeg re-encode)", *timed(cmd, work, env)))
    rows.append(("FaceOff workflow (all stages)", *workflow_peak(clip, work, env)))
    if with_fast:
        rows.append(
            ("FaceOff workflow, detect+audit width 640", *workflow_peak(clip, work, env, FAST, "-fast"))
        )
    for k, config in enumerate(configs):
        extra = json.loads(config)
        rows.append((f"FaceOff workflow, {config}", *workflow_peak(clip, work, env, extra, f"-{k}")))
    cmd = [str(BIN / "faceoff"), "detect", str(clip), "-o", str(work / f"{clip.stem}.det.parquet")]
    rows.append(("FaceOff detect alone", *timed(cmd, work, env)))
    deface = BIN / "deface"
    if with_deface and deface.exists():
        cmd = [str(deface), str(clip), "-o", str(work / f"{clip.stem}.deface.mp4")]
        rows.append(("deface (defaults)", *timed(cmd, work, env)))
    return [(name, frames / sec, rss, 1000 * cpu / frames) for name, sec, rss, cpu in rows]


# A faster setting traded against small faces (docs/recall.md measures what it costs).
FAST = {"detect": {"width": 640}, "audit": {"width": 640}}


def workflow_peak(
    clip: Path, work: Path, env: dict, extra: dict | None = None, tag: str = ""
) -> tuple[float, float, float]:
    """(seconds, peak RSS MiB, CPU s) of the whole workflow on ``clip`` (defaults updated by ``extra``),
    in the folder ``wf-{clip}{tag}``."""
    wf = work / f"wf-{clip.stem}{tag}"
    shutil.rmtree(wf, ignore_errors=True)  # from nothing: no results or Snakemake state of an earlier run
    wf.mkdir()
    cfg = {"inputs": [str(clip)], "results": "results", "annotations": None, **(extra or {})}
    (wf / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [str(BIN / "snakemake"), "-s", str(ROOT / "Snakefile"), "--cores", "all"]
    return timed([*cmd, "--configfile", "cfg.yaml", "--forceall", "--quiet"], wf, env)


def memory_table(work: Path, env: dict, minutes: float) -> None:
    """Peak RSS of the whole workflow on a 60 s and a ``minutes``-long 640x360 clip: flat in length?"""
    print("\n## Peak RSS against video length (640x360, 30 fps, whole workflow)\n")
    print("| clip | frames | frames/s | peak RSS (MiB) |")
    print("| --- | --- | --- | --- |")
    for seconds in (60, int(minutes * 60)):
        n = int(seconds * 30)
        clip = work / f"clip_360p_{seconds}s.mp4"
        if not clip.exists():
            write_clip(clip, scaled_demo(640, 360, n), fps=30.0)
        sec, rss, _ = workflow_peak(clip, work, env)
        print(f"| {seconds} s | {n} | {n / sec:.1f} | {rss:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 s and 3 s clips instead of 60 s and 20 s")
    parser.add_argument("--workdir", default="/tmp/faceoff-throughput")
    parser.add_argument(
        "--memory-minutes",
        type=float,
        default=10,
        help="length of the long clip for the memory table (0: skip)",
    )
    parser.add_argument("--skip-throughput", action="store_true", help="only the memory table")
    parser.add_argument("--no-deface", action="store_true", help="leave deface out (slow)")
    parser.add_argument("--seconds", type=int, help="length of the 720p clip (the 1080p one: a third of it)")
    parser.add_argument("--sizes", nargs="*", default=["720p", "1080p"], help="clips to run: 720p, 1080p")
    parser.add_argument("--no-fast", action="store_true", help="leave out the detect+audit width 640 run")
    parser.add_argument(
        "--configs",
        nargs="*",
        default=[],
        help="also run the whole workflow with each of these JSON config overrides, e.g. "
        '\'{"detect": {"runtime": "onnxruntime-int8"}}\' (the render\'s re-detection and the audit use '
        "detect.runtime too)",
    )
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    fps = 30.0
    seconds = args.seconds or (6 if args.quick else 60)
    clips = [("720p", 1280, 720, seconds), ("1080p", 1920, 1080, max(1, seconds // 3))]
    clips = [c for c in clips if c[0] in args.sizes]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB"
    print(f"# {time.strftime('%Y-%m-%d')} · {machine} · CPU only", flush=True)
    for name, w, h, seconds in [] if args.skip_throughput else clips:
        n = int(seconds * fps)
        clip = work / f"clip_{name}_{seconds}s.mp4"
        if not clip.exists():
            write_clip(clip, scaled_demo(w, h, n), fps=fps)
        rows = bench_clip(clip, n, work, env, not args.no_deface, tuple(args.configs), not args.no_fast)
        by = {r[0]: r[1] for r in rows}
        print(f"\n## {name} ({w}x{h}, {seconds} s, {n} frames)\n")
        print("| run | frames/s | peak RSS (MiB) | CPU ms / frame |")
        print("| --- | --- | --- | --- |")
        for run, rate, rss, cpu in rows:
            print(f"| {run} | {rate:.1f} | {rss:.0f} | {cpu:.0f} |")
        print()
        for run in (r for r in by if r.startswith("FaceOff workflow")):
            ours = by[run]
            line = f"{run}: ours/floor wall time {by['floor (ffmpeg re-encode)'] / ours:.2f}x"
            if "deface (defaults)" in by:
                line += f" · ours/deface speed {ours / by['deface (defaults)']:.2f}x"
            print(line)
    if args.memory_minutes > 0:
        memory_table(work, env, 0.5 if args.quick else args.memory_minutes)


if __name__ == "__main__":
    main()
