"""The workflow through snakemake-executor-plugin-slurm on a real (single-node) SLURM cluster.

The real test (marker `slurm`) needs a running cluster and the `slurm` extra; it is skipped unless
FACEOFF_SLURM_TEST=1. One command installs
and starts the cluster on this machine and runs this test (docs/hpc.md):

    bash scripts/slurm_cluster.sh test

The same 3 tiny videos are processed once locally and once with the SLURM profile
(workflow/profiles/slurm: probes in one group job, each video's later stages in a "video" group job with
a GPU, the summary alone); the outputs must be the same (compare_results: videos and images byte for
byte, tables and JSON by value, timing fields aside), and SLURM's accounting must show the jobs, the video
group job with its GPU.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from test_resume_workflow import compare_results, face_clips, read_only_view, snapshot, write_config

from faceoff.probe import probe_video, write_probe
from faceoff.resources import VideoFacts, estimate, read_facts, video_facts

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
real_slurm = [
    pytest.mark.slurm,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("FACEOFF_SLURM_TEST") != "1",
        reason="real SLURM test: run `bash scripts/slurm_cluster.sh test` (sets FACEOFF_SLURM_TEST=1)",
    ),
]
ACCOUNT = os.environ.get("FACEOFF_SLURM_ACCOUNT", "faceoff")
PARTITION = os.environ.get("FACEOFF_SLURM_PARTITION", "debug")
CPUS = min(2, os.cpu_count() or 1)
# The single test node has 2 CPUs: the profile's 4 threads per job would never be scheduled there.
NODE_FIT = [
    "--cores",
    str(CPUS),
    "--set-threads",
    *(f"{rule}={n}" for rule, n in [("probe", 1), ("detect", CPUS), ("regularize", 1), ("render", CPUS)]),
    *(f"{rule}={n}" for rule, n in [("audit", 1), ("report", 1), ("summary", 1)]),
    "--set-resources",
    f"detect:cpus_per_gpu={CPUS}",
    f"render:cpus_per_gpu={CPUS}",
]


def _run(cmd: list[str], cwd: Path, timeout: float = 1200) -> subprocess.CompletedProcess:
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def cluster():
    """A running SLURM cluster (fails, naming the command that starts one, when there is none)."""
    if not shutil.which("sbatch") or not shutil.which("sacct"):
        pytest.fail("SLURM commands missing: run `bash scripts/slurm_cluster.sh install`")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        pytest.fail("snakemake-executor-plugin-slurm missing: pip install -e '.[slurm]'")
    state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if state.returncode != 0 or not {"idle", "mixed", "allocated"} & set(state.stdout.split()):
        pytest.fail(f"no SLURM node up ({state.stdout}{state.stderr}): bash scripts/slurm_cluster.sh start")


def _sacct(since: str) -> list[dict[str, str]]:
    fields = ["JobIDRaw", "JobName", "State", "AllocTRES", "Comment", "Elapsed"]
    out = subprocess.run(
        ["sacct", "-X", "--parsable2", "--noheader", "--starttime", since, "--format", ",".join(fields)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines() if line]


@real_slurm[0]
@real_slurm[1]
@real_slurm[2]
def test_slurm_profile_runs_and_matches_a_local_run(cluster, tmp_path):
    face_clips(tmp_path / "archive" / "videos")
    videos, undo = read_only_view(tmp_path / "archive" / "videos", tmp_path / "archive" / "read-only")
    before = snapshot(videos)
    try:
        local = write_config(tmp_path / "local", videos)
        t0 = time.monotonic()
        proc = _run([*SNAKEMAKE, "--configfile", "my.yaml", "--cores", str(CPUS)], local)
        local_s = time.monotonic() - t0
        assert proc.returncode == 0, proc.stderr[-3000:]

        remote = write_config(tmp_path / "slurm", videos)
        since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 5))
        cmd = [
            *SNAKEMAKE,
            "--configfile",
            "my.yaml",
            "--workflow-profile",
            str(ROOT / "workflow" / "profiles" / "slurm"),
            "--default-resources",
            f"slurm_account={ACCOUNT}",
            f"slurm_partition={PARTITION}",
            *NODE_FIT,
            "--slurm-init-seconds-before-status-checks",
            "2",
            "--seconds-between-status-checks",
            "2",
            "--latency-wait",
            "5",
        ]
        t0 = time.monotonic()
        proc = _run(cmd, remote)
        slurm_s = time.monotonic() - t0
        log = proc.stdout + proc.stderr
        assert proc.returncode == 0, log[-5000:]
        assert snapshot(videos) == before, "the input folder changed"
    finally:
        undo()
    assert "SLURM jobid" in log or "SLURM run ID" in log, log[-3000:]

    files = compare_results(local / "results", remote / "results")
    assert len(files) == 3 * 9 + 2  # 9 per video (render/{id}.mp4 is temp()) + summary.html/.csv

    jobs = [j for j in _sacct(since) if j["State"] == "COMPLETED"]
    comments = {j["Comment"] for j in jobs}
    assert {"rule_probe_probe", "rule_summary"} <= comments, jobs
    video_jobs = [j for j in jobs if j["Comment"].startswith("rule_video_")]
    assert video_jobs and all("gres/gpu=1" in j["AllocTRES"] for j in video_jobs), jobs
    # 3 videos x 6 stages + summary in 3 SLURM jobs (groups), not 19
    assert len(jobs) == 3, jobs
    print(f"\nlocal run {local_s:.0f} s, SLURM run {slurm_s:.0f} s; SLURM jobs: {jobs}")


# What SLURM is asked for: functions of the probed video (faceoff/resources.py). These run everywhere.


def test_requests_grow_with_frames_size_and_attempt():
    small = VideoFacts(frames=250, width=640, height=360, duration=10, size_bytes=2_000_000)
    long = VideoFacts(frames=108_000, width=1920, height=1080, duration=3600, size_bytes=2_000_000_000)
    uhd = VideoFacts(frames=250, width=3840, height=2160, duration=10, size_bytes=20_000_000)
    for stage in ("probe", "detect", "regularize", "render", "audit", "report"):
        a, b = estimate(stage, small, threads=4), estimate(stage, long, threads=4)
        assert b.runtime >= a.runtime and b.mem_mb >= a.mem_mb, stage
        twice = estimate(stage, long, threads=4, attempt=2)
        assert (twice.mem_mb, twice.runtime) >= (2 * b.mem_mb - 100, 2 * b.runtime), stage
    assert estimate("render", uhd, threads=4).mem_mb > estimate("render", small, threads=4).mem_mb
    # following keeps follow_frames + 1 grey frames: 61 at 4K are about 506 MB
    plain, follow = estimate("regularize", uhd), estimate("regularize", uhd, follow_frames=60)
    assert follow.mem_mb - plain.mem_mb >= 61 * 3840 * 2160 / 1e6 - 100  # requests round to 100 MB
    # an hour of 1080p: the detector on a GPU needs less time than on 4 CPU threads; hours, not days
    gpu, cpu = estimate("detect", long, threads=4, gpu=True), estimate("detect", long, threads=4)
    assert 30 <= gpu.runtime < cpu.runtime <= 48 * 60
    assert estimate("detect", long, threads=4, detect_width=640).runtime < cpu.runtime
    assert estimate("summary", None, n_videos=10_000).mem_mb > estimate("summary", None, n_videos=10).mem_mb


def test_facts_from_the_probe_or_guessed_from_the_file(tmp_path, make_clip):
    clip = make_clip("a.mp4", n=12, width=64, height=48)
    write_probe(probe_video(clip), tmp_path / "a.json")
    facts = read_facts(tmp_path / "a.json")
    assert (facts.frames, facts.width, facts.height, facts.guessed) == (12, 64, 48, False)
    assert read_facts(tmp_path / "missing.json") is None
    (tmp_path / "broken.json").write_text("{")
    assert read_facts(tmp_path / "broken.json") is None
    guessed = video_facts(tmp_path / "missing.json", clip)
    assert guessed.guessed and guessed.frames >= facts.frames and guessed.megapixels > facts.megapixels
    assert video_facts(None, tmp_path / "gone.mp4").size_bytes == 1 << 30


def test_facts_of_a_long_video_read_from_the_edges_of_its_probe(tmp_path, make_clip):
    """A 3-hour probe holds megabytes of per-frame lists; the facts are the same as a full parse."""
    import dataclasses
    import json

    info = dataclasses.replace(
        probe_video(make_clip("b.mp4", n=4)),
        path='/in/"width": 1,b.mp4',
        frame_count=270_000,
        duration=10_800.0,
    )
    info.pts, info.pts_time = list(range(270_000)), [i / 25 for i in range(270_000)]
    write_probe(info, tmp_path / "b.json")
    assert (tmp_path / "b.json").stat().st_size > 4_000_000
    d = json.loads((tmp_path / "b.json").read_text())
    facts = read_facts(tmp_path / "b.json")
    assert (facts.frames, facts.width, facts.height, facts.duration, facts.size_bytes) == (
        d["frame_count"], d["width"], d["height"], d["duration"], d["size_bytes"]
    )  # fmt: skip


def test_jobs_ask_for_what_their_probe_says(tmp_path):
    """A dry run reads the probe JSON when it exists: a long 4K video asks for more than a short clip."""
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("short", "long4k"):
        (videos / f"{name}.mp4").write_bytes(b"not read in a dry run")
    probe = tmp_path / "results" / "probe"
    probe.mkdir(parents=True)
    for name, (frames, w, h) in {"short": (50, 320, 240), "long4k": (200_000, 3840, 2160)}.items():
        facts = {"frame_count": frames, "width": w, "height": h, "duration": frames / 25, "size_bytes": 10**6}
        (probe / f"{name}.json").write_text(json.dumps(facts))
    cfg = {"inputs": [str(videos)], "results": "results", "annotations": None}
    (tmp_path / "my.yaml").write_text(yaml.safe_dump(cfg))
    proc = _run([*SNAKEMAKE, "--configfile", "my.yaml", "--cores", "4", "-n"], tmp_path)
    text = proc.stdout + proc.stderr
    jobs = {}
    for block in re.split(r"^\[.*\]$", text, flags=re.M):
        rule = re.search(r"^\s*rule (\w+):", block, re.M)
        ids = re.search(r"wildcards: id=(\w+)", block)
        res = re.search(r"resources: (.*)", block)
        if rule and ids and res:
            jobs[rule.group(1), ids.group(1)] = dict(kv.split("=", 1) for kv in res.group(1).split(", "))
    assert ("detect", "long4k") in jobs, text[-3000:]
    for rule in ("detect", "render", "audit"):
        big, small = jobs[rule, "long4k"], jobs[rule, "short"]
        assert int(big["runtime"]) > int(small["runtime"]) and int(big["mem_mb"]) > int(small["mem_mb"]), rule
    assert jobs["detect", "short"]["gpu"] == "1" and jobs["render", "short"]["gpu"] == "1"  # re-detects
    assert "gpu" not in jobs["audit", "short"]


def test_slurm_profile_groups_jobs(tmp_path):
    """The SLURM profile loads and groups each video's jobs (needs the plugin: the `slurm` extra)."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    videos = tmp_path / "videos"
    videos.mkdir()
    for i in range(3):
        (videos / f"v{i}.mp4").write_bytes(b"not read in a dry run")
    (tmp_path / "my.yaml").write_text(yaml.safe_dump({"inputs": [str(videos)], "results": "results"}))
    profile = str(ROOT / "workflow" / "profiles" / "slurm")
    proc = _run([*SNAKEMAKE, "--configfile", "my.yaml", "--workflow-profile", profile, "-n"], tmp_path)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-3000:]
    assert "Group job probe" in text and "Group job video" in text
    assert "shell_exec" not in text  # GPUs are SLURM's to assign
