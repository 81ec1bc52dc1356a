"""What finding shot cuts costs, per frame, where it could run: in the probe stage or inside detect.

    .venv/bin/python benchmarks/cuts.py [--seconds 10] [--workdir /tmp/faceoff-cuts] [VIDEO ...]

On the throughput benchmark's 720p clip (the demo scene with camera-like grain; or the given videos),
in ms per frame: the probe's packet index alone (``probe_video``); its cut pass as the probe stage runs
it (``find_cuts``: one more decode, 256 px wide, and PySceneDetect's detector), split into the decode
and the detector; the alternative inside detect, which already holds every frame at full size (resize
to 256 px and the detector, no decode); and FFmpeg's own scene score (``select='gt(scene,0.3)'`` on
frames scaled to 256 px) for comparison. Also prints the cuts found.
"""

from __future__ import annotations

import argparse
import platform
import resource
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.throughput import scaled_demo
from faceoff.config import ShotsConfig
from faceoff.decode import detection_size, iter_frames
from faceoff.ffmpeg import ffmpeg_exe
from faceoff.probe import probe_video
from faceoff.shots import WIDTH, ShotParams, find_cuts, scene_detector
from faceoff.synth.clips import write_clip
from faceoff.synth.demo import FPS


class Clock:
    """Wall and CPU seconds (this process's threads and its finished children) since the last lap."""

    def __init__(self) -> None:
        self.t = self._now()

    @staticmethod
    def _now() -> tuple[float, float]:
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.perf_counter(), time.process_time() + child.ru_utime + child.ru_stime

    def lap(self) -> tuple[float, float]:
        now = self._now()
        wall, cpu = now[0] - self.t[0], now[1] - self.t[1]
        self.t = now
        return wall, cpu


def bench(video: Path) -> list[tuple[str, float, float]]:
    """(step, wall ms per frame, CPU ms per frame) of each way to find the cuts of ``video``."""
    from scenedetect import FrameTimecode

    params = ShotParams.from_config(ShotsConfig())
    clock = Clock()
    info = probe_video(video)
    rows = [("probe: packet index, hash, first frame (today)", *clock.lap())]
    n = info.frame_count
    cuts = find_cuts(video, info, params)
    rows.append(("probe: cut pass (decode at 256 px + adaptive detector)", *clock.lap()))
    size = detection_size(info, WIDTH)
    small = [f.copy() for _, b in iter_frames(video, info, batch_size=32, size=size) for f in b]
    rows.append(("  of which decode at 256 px (RGB)", *clock.lap()))
    detector = scene_detector(params)
    for i, rgb in enumerate(small):
        detector.process_frame(FrameTimecode(i, info.avg_fps), np.ascontiguousarray(rgb[..., ::-1]))
    rows.append(("  of which the detector", *clock.lap()))
    m = min(n, 100)
    full = np.concatenate([b.copy() for _, b in iter_frames(video, info, batch_size=m)][:1])
    detector = scene_detector(params)
    w, h = size if size else (info.width, info.height)
    clock.lap()
    for i, rgb in enumerate(full):
        bgr = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)[..., ::-1]
        detector.process_frame(FrameTimecode(i, info.avg_fps), np.ascontiguousarray(bgr))
    wall, cpu = clock.lap()
    rows.append(("in detect: resize a decoded full frame + detector", wall * n / m, cpu * n / m))
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(video), "-vf", f"scale={WIDTH}:-2,select='gt(scene,0.3)'"]
        + ["-f", "null", "-"],
        check=True,
    )
    rows.append(("ffmpeg scene score at 256 px (decode included)", *clock.lap()))
    print(f"\n{video.name}: {n} frames {info.width}x{info.height}, cuts {cuts}")
    return [(name, 1000 * wall / n, 1000 * cpu / n) for name, wall, cpu in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workdir", default="/tmp/faceoff-cuts")
    args = parser.parse_args()
    videos = args.videos
    if not videos:
        work = Path(args.workdir)
        work.mkdir(parents=True, exist_ok=True)
        clip = work / "grain720.mp4"
        if not clip.exists():
            write_clip(clip, np.stack(list(scaled_demo(1280, 720, int(args.seconds * FPS)))), fps=FPS)
        videos = [clip]
    print(f"{platform.machine()}, {platform.processor() or '?'}, cv2 threads {cv2.getNumThreads()}")
    for video in videos:
        rows = bench(video)
        print("| step | wall ms / frame | CPU ms / frame |\n| --- | --- | --- |")
        for name, wall, cpu in rows:
            print(f"| {name} | {wall:.2f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
