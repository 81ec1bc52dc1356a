"""GPU slots on a multi-GPU workstation: each GPU job gets a device of its own (faceoff/gpu_slots.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from faceoff import gpu_slots
from faceoff.synth.clips import write_clip

ROOT = Path(__file__).resolve().parents[1]
SHELL = ROOT / "scripts" / "gpu-slot-shell"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "FACEOFF_GPUS")}
    env.pop("SLURM_JOB_ID", None)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["FACEOFF_GPU_LOCK_DIR"] = str(tmp_path / "locks")
    env.update(extra)
    return env


@pytest.mark.parametrize(
    ("env", "devices"),
    [
        ({"FACEOFF_GPUS": "0,2"}, ["0", "2"]),
        ({"FACEOFF_GPUS": " 1 , 3 ", "CUDA_VISIBLE_DEVICES": "0"}, ["1", "3"]),  # FACEOFF_GPUS wins
        ({"CUDA_VISIBLE_DEVICES": "1,3"}, ["1", "3"]),  # the devices the run was limited to
        ({"CUDA_VISIBLE_DEVICES": ""}, []),
        ({"CUDA_VISIBLE_DEVICES": "-1"}, []),
        ({"FACEOFF_GPUS": ""}, []),
        ({"SLURM_JOB_ID": "7", "CUDA_VISIBLE_DEVICES": "0"}, []),  # SLURM assigned the GPU itself
        ({"SLURM_JOB_ID": "7", "FACEOFF_GPUS": "0,1"}, ["0", "1"]),
    ],
)
def test_find_devices(env, devices):
    assert gpu_slots.find_devices(env) == devices


def test_claims_are_exclusive_and_released(tmp_path):
    folder = tmp_path / "locks"
    a = gpu_slots.claim(["0", "1"], folder)
    b = gpu_slots.claim(["0", "1"], folder)
    assert {a.device, b.device} == {"0", "1"}
    assert gpu_slots.try_claim(["0", "1"], folder) is None
    with pytest.raises(TimeoutError):
        gpu_slots.claim(["0", "1"], folder, timeout=0.3, poll=0.05)
    a.release()
    c = gpu_slots.claim(["0", "1"], folder, timeout=1)
    assert c.device == a.device
    b.release()
    c.release()


def _start(tmp_path: Path, name: str, hold: bool = False, **env: str) -> subprocess.Popen:
    """A job through the GPU-slot shell, as Snakemake starts it: ``gpu-slot-shell -c COMMAND``. It writes
    its device to ``{name}.out`` and ``start``/``end`` lines to the shared ``order.log``; with ``hold`` it
    keeps its GPU until the test creates ``{name}.release`` (an event, not a sleep)."""
    out, log, release = tmp_path / f"{name}.out", tmp_path / "order.log", tmp_path / f"{name}.release"
    wait = f"until [ -e {release} ]; do sleep 0.02; done; " if hold else ""
    command = (
        f'echo "$CUDA_VISIBLE_DEVICES" > {out}; echo "{name} start" >> {log}; '
        f'{wait}echo "{name} end" >> {log}'
    )
    return subprocess.Popen([str(SHELL), "-c", command], env=_env(tmp_path, **env), start_new_session=True)


def _device(tmp_path: Path, name: str, timeout: float = 20) -> str:
    out = tmp_path / f"{name}.out"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.exists() and out.read_text().strip():
            return out.read_text().split()[0]
        time.sleep(0.05)
    raise AssertionError(f"{name} did not start")


def test_concurrent_jobs_get_distinct_devices_and_a_third_waits(tmp_path):
    a = _start(tmp_path, "a", hold=True, FACEOFF_GPUS="0,1")
    b = _start(tmp_path, "b", hold=True, FACEOFF_GPUS="0,1")
    assert {_device(tmp_path, "a"), _device(tmp_path, "b")} == {"0", "1"}
    c = _start(tmp_path, "c", FACEOFF_GPUS="0,1")
    (tmp_path / "a.release").touch()  # a ends; only then may c get a GPU
    assert a.wait(timeout=30) == 0
    assert _device(tmp_path, "c") == _device(tmp_path, "a")  # it took the device a released
    assert c.wait(timeout=30) == 0
    (tmp_path / "b.release").touch()
    assert b.wait(timeout=30) == 0
    order = (tmp_path / "order.log").read_text().split("\n")
    assert order.index("c start") > order.index("a end"), "a third job ran while both GPUs were taken"
    assert order.index("c start") < order.index("b end")


def test_a_killed_job_releases_its_gpu(tmp_path):
    a = _start(tmp_path, "a", hold=True, FACEOFF_GPUS="5")
    assert _device(tmp_path, "a") == "5"
    assert gpu_slots.try_claim(["5"], tmp_path / "locks") is None
    os.killpg(a.pid, signal.SIGKILL)
    a.wait()
    slot = gpu_slots.claim(["5"], tmp_path / "locks", timeout=5)
    assert slot.device == "5"
    slot.release()


def test_shell_semantics_and_no_gpu(tmp_path):
    env = _env(tmp_path, FACEOFF_GPUS="0")
    assert subprocess.run([str(SHELL), "-c", "exit 3"], env=env).returncode == 3
    # like Snakemake's bash: -e, -u and pipefail
    assert subprocess.run([str(SHELL), "-c", "false | true; echo reached"], env=env).returncode != 0
    # no GPU at all: the command runs as it is, CUDA_VISIBLE_DEVICES untouched
    proc = subprocess.run(
        [str(SHELL), "-c", 'echo "[${CUDA_VISIBLE_DEVICES-unset}]"'],
        env=_env(tmp_path, CUDA_VISIBLE_DEVICES=""),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "[]"


def _snakemake(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--configfile", "my.yaml", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture
def two_videos(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for i in range(2):
        write_clip(videos / f"v{i}.mp4", np.full((6, 48, 64, 3), 60 + 40 * i, np.uint8), fps=25)
    cfg = {"inputs": [str(videos)], "results": "results", "annotations": None, "detect": {"width": 0}}
    (tmp_path / "my.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path


def test_workflow_uses_the_slot_shell_only_for_local_gpu_runs(two_videos):
    shell = f"shell_exec={SHELL}"
    plain = _snakemake(two_videos, "-n", "--cores", "2")
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert "gpu=1" in plain.stdout and shell not in plain.stdout
    gpus = _snakemake(two_videos, "-n", "--cores", "2", "--resources", "gpu=2")
    assert gpus.returncode == 0, gpus.stderr[-2000:]
    blocks = re.split(r"^\[.*\]$", gpus.stdout, flags=re.M)  # one block per job
    for rule in ("detect", "render"):  # render re-detects every frame it writes (the audit's check)
        assert all(shell in b for b in blocks if f"rule {rule}:" in b), rule
    for rule in ("probe", "regularize", "audit", "report", "summary"):
        assert not any(shell in b for b in blocks if f"rule {rule}:" in b), rule
    cpu_only = ["--resources", "gpu=2", "--config", "detect={'device': 'cpu'}"]
    cpu = _snakemake(two_videos, "-n", "--cores", "2", *cpu_only)
    assert cpu.returncode == 0 and shell not in cpu.stdout and "gpu=1" not in cpu.stdout


@pytest.mark.slow
def test_workflow_gpu_jobs_run_through_the_slots(two_videos):
    """Real jobs: every detect job claims one of two GPUs (FACEOFF_GPUS; the machine needs none)."""
    log = two_videos / "slots.log"
    env = {**_env(two_videos, FACEOFF_GPUS="0,1", FACEOFF_GPU_SLOT_LOG=str(log)), "MALLOC_ARENA_MAX": "2"}
    args = ["--cores", "2", "--resources", "gpu=2", "--set-threads", "detect=1", "--until", "detect"]
    proc = _snakemake(two_videos, *args, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    claims = [line.split("\t") for line in log.read_text().splitlines()]
    assert len(claims) == 2 and {device for _, device, _ in claims} <= {"0", "1"}
    assert "gpu-slot: CUDA_VISIBLE_DEVICES=" in proc.stderr
    assert (two_videos / "results" / "detections" / "v1.parquet").is_file()
