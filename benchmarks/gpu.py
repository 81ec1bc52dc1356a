"""GPU benchmark: CenterFace detection frames/s by width, batch and precision, and end-to-end on 1080p.

    bash benchmarks/gpu.sh            # on a machine with an NVIDIA GPU (installs FaceOff first)
    .venv/bin/python benchmarks/gpu.py --device cpu --quick   # checks the script itself on a CPU

Detection is the network alone on frames already on the device (as the detect stage feeds it), timed
with CUDA synchronisation after warm-up, for widths 640 and 1280 (16:9), batches 1, 16 and 64, fp16 and
fp32, channels_last. End to end: ``snakemake --cores all --scheduler greedy`` on a generated 20 s
1920x1080 30 fps clip, against the floor (``ffmpeg -i in -c:v libx264 -preset <ours> out``, the same
binary). End to end is skipped, naming what is missing, where its packages are not installed (the first
of gpu.sh's two offline calls); ``--end-to-end-only`` leaves detection out (the second).
Prints Markdown tables with the device name (copy them into docs/performance.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

from faceoff.detectors.centerface import padded_size
from faceoff.detectors.centerface_net import centerface_net

ROOT = Path(__file__).resolve().parents[1]
# Modules the end-to-end run needs beyond detection's (pulp is not needed: the greedy scheduler runs).
END_TO_END_MODULES = ("snakemake", "av", "decord", "ffmpeg", "pydantic", "scipy", "skimage")


def detection_fps(device: torch.device, width: int, batch: int, dtype: torch.dtype, seconds: float) -> float:
    net = centerface_net().to(device=device, dtype=dtype, memory_format=torch.channels_last)
    hp, wp = padded_size(width * 9 // 16, width)
    x = (
        torch.rand((batch, 3, hp, wp), device=device)
        .mul(255)
        .to(dtype)
        .contiguous(memory_format=torch.channels_last)
    )
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with torch.inference_mode():
        for _ in range(3):
            net(x)
        sync()
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            net(x)
            n += batch
        sync()
    return n / (time.perf_counter() - start)


def end_to_end(seconds: float, work: Path) -> tuple[float, float]:
    """(workflow frames/s, floor frames/s) on a generated 1080p clip of ``seconds`` at 30 fps."""
    from benchmarks.throughput import scaled_demo, timed
    from faceoff.config import RenderConfig
    from faceoff.ffmpeg import ffmpeg_exe
    from faceoff.synth.clips import write_clip

    n = int(30 * seconds)
    clip = write_clip(work / "clip1080.mp4", scaled_demo(1920, 1080, n), fps=30)
    (work / "cfg.yaml").write_text(
        yaml.safe_dump({"inputs": [str(clip)], "results": "results", "annotations": None})
    )
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
    preset = RenderConfig().preset
    reencode = [ffmpeg_exe(), "-y", "-v", "error", "-i", str(clip), "-c:v", "libx264", "-preset", preset]
    floor_seconds, _ = timed([*reencode, str(work / "floor.mp4")], work, env)
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        "--cores",
        "all",
        "--scheduler",
        "greedy",
        "--configfile",
        "cfg.yaml",
        "--quiet",
    ]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=work, check=True, env=env)
    return n / (time.perf_counter() - start), n / floor_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny run to check the script")
    parser.add_argument("--end-to-end-only", action="store_true", help="leave the detection table out")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"# {time.strftime('%Y-%m-%d')} · {name} · torch {torch.__version__}")
    if not args.end_to_end_only:
        detection_table(device, args.quick)
    missing = [m for m in END_TO_END_MODULES if importlib.util.find_spec(m) is None]
    if not missing:
        from faceoff.errors import FaceOffError
        from faceoff.ffmpeg import ffmpeg_exe

        try:
            ffmpeg_exe()
        except FaceOffError:
            missing.append("an ffmpeg binary")
    if missing:
        print(f"\nEnd to end: skipped, not installed: {', '.join(missing)}")
        return
    seconds = 1 if args.quick else 20
    with tempfile.TemporaryDirectory() as tmp:
        rate, floor = end_to_end(seconds, Path(tmp))
    print(f"\n| 1920x1080, {30 * seconds} frames | frames/s | wall time / floor |\n| --- | --- | --- |")
    print(f"| floor (ffmpeg re-encode) | {floor:.1f} | 1 |")
    print(f"| FaceOff workflow (all stages) | {rate:.1f} | {floor / rate:.1f} |")


def detection_table(device: torch.device, quick: bool) -> None:
    print("\n| width | batch | fp16 frames/s | fp32 frames/s |\n| --- | --- | --- | --- |")
    widths, batches = ((160,), (1, 4)) if quick else ((640, 1280), (1, 16, 64))
    for width in widths:
        for batch in batches:
            rates = []
            for dtype in (torch.float16, torch.float32):
                if device.type == "cpu" and dtype == torch.float16:
                    rates.append("n/a")
                    continue
                rates.append(f"{detection_fps(device, width, batch, dtype, 0.5 if quick else 5):.0f}")
            print(f"| {width} | {batch} | {rates[0]} | {rates[1]} |", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
