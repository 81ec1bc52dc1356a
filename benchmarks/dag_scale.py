"""Dry-run the workflow on a generated archive of N input videos: time to build the DAG and peak memory.

    .venv/bin/python benchmarks/dag_scale.py [--videos 10000] [--workdir /tmp/faceoff-dag]
                                             [--profile local|slurm] [--layout flat|sharded] [--keep]
                                             [-- --batch summary=1/10]

The archive is one tiny clip hard-linked N times (``or_00000.mp4`` ...) into 100 subfolders, and the
folder is then made read-only (inputs on read-only storage); the results folder is empty, so every job of
every video is planned. Snakemake runs ``-n`` (dry run) as a separate process, as a user would; the
benchmark prints the seconds until Snakemake starts building the DAG (workflow load, config validation,
input discovery), the seconds to build the DAG and plan the jobs (resource requests included), the total,
the peak resident memory of the Snakemake process, the number of jobs, and how many files each results
folder would hold (from the outputs, logs and benchmarks of one video, times N; with the sharded layout,
per shard folder). Snakemake arguments after ``--`` are passed on (e.g. ``--batch summary=1/10``: one
batch of a 100,000-video archive). Target at 10,000 videos: a dry run within 30 s, at most 1 GB.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

from faceoff.synth.clips import write_clip

ROOT = Path(__file__).resolve().parents[1]
PROFILES = {"local": ROOT / "workflow/profiles/local", "slurm": ROOT / "workflow/profiles/slurm"}


LINKS_PER_FILE = 50_000  # file systems cap the hard links to one file (ext4: 65,000)


def make_archive(folder: Path, n: int) -> Path:
    """``n`` hard links of one tiny clip in 100 subfolders; the tree is made read-only."""
    if folder.exists():
        for p in [folder, *folder.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    frames = np.full((4, 48, 64, 3), 90, np.uint8)
    for i in range(n):
        if i % LINKS_PER_FILE == 0:
            clip = write_clip(folder / f"template{i // LINKS_PER_FILE}.mp4", frames, fps=25)
        sub = folder / f"day{i % 100:03d}"
        sub.mkdir(exist_ok=True)
        os.link(clip, sub / f"or_{i:05d}.mp4")
    for template in folder.glob("template*.mp4"):
        template.unlink()
    for p in sorted(folder.rglob("*"), reverse=True) + [folder]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    return folder


# Runs snakemake's command line in a child process, timing Workflow._build_dag (DAG construction and the
# needrun analysis, resource requests included) from inside; the marks go to stderr as one JSON line.
SHIM = """
import atexit, json, sys, time
T0 = time.perf_counter()
import snakemake.api  # noqa: F401 (imports snakemake.workflow in the right order)
import snakemake.workflow as W
marks = {}
build = W.Workflow._build_dag
def timed(self, *a, **k):
    t = time.perf_counter()
    marks.setdefault("dag_start", t - T0)
    try:
        return build(self, *a, **k)
    finally:
        marks["dag_s"] = marks.get("dag_s", 0.0) + time.perf_counter() - t
W.Workflow._build_dag = timed
atexit.register(lambda: print("DAGSCALE " + json.dumps(marks), file=sys.stderr, flush=True))
from snakemake.cli import main
sys.argv = ["snakemake", *sys.argv[1:]]
main()
"""


def dry_run(workdir: Path, config: Path, profile: str | None, extra: list[str]) -> dict:
    """Run ``snakemake -n`` in a child process; phase times from inside it, peak RSS from wait4."""
    args = ["-s", str(ROOT / "Snakefile"), "-n", "--configfile", str(config), "--quiet", "all", *extra]
    args += ["--workflow-profile", str(PROFILES[profile])] if profile else ["--cores", "1"]
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", SHIM, *args],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout))
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    total = time.perf_counter() - start
    reader.join()
    text = "".join(out)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"snakemake failed:\n{text[-3000:]}")
    marks = json.loads(re.search(r"^DAGSCALE (.*)$", text, re.M).group(1))
    jobs = re.search(r"^total\s+(\d+)", text, re.M)
    return {
        "load_s": marks["dag_start"],
        "dag_s": marks["dag_s"],
        "total_s": total,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "jobs": int(jobs.group(1)) if jobs else -1,
    }


def files_per_folder(workdir: Path, config: Path, n: int) -> list[tuple[str, int]]:
    """Files each results folder would hold for ``n`` videos (one video's dry run, scaled)."""
    one = workdir / "one"
    one.mkdir(exist_ok=True)
    clip = one / "or_00000.mp4"
    if not clip.exists():
        write_clip(clip, np.full((4, 48, 64, 3), 90, np.uint8), fps=25)
    cfg = config.read_text().replace(str(workdir / "archive"), str(one))
    (one / "one.yaml").write_text(cfg)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-n", "--cores", "1"]
    cmd += ["--configfile", str(one / "one.yaml")]
    text = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, check=True).stdout
    per_video: Counter[str] = Counter()
    shared: Counter[str] = Counter()
    for line in text.splitlines():
        m = re.match(r"\s+(output|log|benchmark): (.*)", line)
        if not m:
            continue
        for path in m.group(2).split(", "):
            (per_video if "or_00000" in path else shared)[str(Path(path).parent)] += 1
    # sharded: each shard folder holds about 1/256 of the videos (faceoff/layout.py)
    counts = Counter(
        {
            folder: k * (math.ceil(n / 256) if re.search(r"/[0-9a-f]{2}$", folder) else n)
            for folder, k in per_video.items()
        }
    )
    counts.update(shared)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=10_000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/faceoff-dag"))
    ap.add_argument("--profile", choices=sorted(PROFILES), help="also pass this workflow profile")
    ap.add_argument("--layout", choices=("flat", "sharded"), default="flat", help="the results layout")
    ap.add_argument("--keep", action="store_true", help="reuse an existing archive of the same size")
    ap.add_argument("snakemake_args", nargs="*", help="more snakemake arguments (after --)")
    args = ap.parse_args()

    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    archive = work / "archive"
    t = time.perf_counter()
    have = sum(1 for _ in archive.rglob("*.mp4")) if args.keep and archive.is_dir() else -1
    if have != args.videos:
        make_archive(archive, args.videos)
    made = time.perf_counter() - t
    config = work / "dag.yaml"
    config.write_text(
        f"inputs: [{archive}]\nresults: {work / 'results'}\nannotations: null\nlayout: {args.layout}\n"
    )
    shutil.rmtree(work / ".snakemake", ignore_errors=True)

    r = dry_run(work, config, args.profile, args.snakemake_args)
    print(f"# DAG scale · {platform.machine()}, {os.cpu_count()} cores · Python {platform.python_version()}")
    print(
        f"videos: {args.videos} (archive made in {made:.1f} s, read-only, hard links), layout: {args.layout}"
    )
    if args.snakemake_args:
        print(f"snakemake arguments: {' '.join(args.snakemake_args)}")
    print(f"profile: {args.profile or '(none), --cores 1'}")
    print(f"jobs planned: {r['jobs']}")
    print(f"start snakemake, load workflow, resolve inputs: {r['load_s']:.1f} s")
    print(f"build the DAG (jobs, dependencies, needrun, resource requests): {r['dag_s']:.1f} s")
    print(f"dry run in all (the above + listing every planned job): {r['total_s']:.1f} s (target <= 30 s)")
    print(f"CPU time of snakemake (user + system; less disturbed by a shared CPU): {r['cpu_s']:.1f} s")
    print(f"peak memory (max RSS of snakemake): {r['peak_rss_mib']:.0f} MiB (target <= 1024 MiB)")
    print(f"load average (1, 5, 15 min) at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("files per results folder at this size:")
    for folder, count in files_per_folder(work, config, args.videos):
        print(f"  {count:>7}  {os.path.relpath(folder, work)}/")


if __name__ == "__main__":
    main()
