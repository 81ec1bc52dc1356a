"""One GPU per job on a workstation with several GPUs: a GPU slot held by a lock, mapped to a device index.

Snakemake's local executor can limit how many GPU jobs run at once (``--resources gpu=N``) but does not
tell a job *which* GPU to use: every job would see all GPUs and use device 0. With ``--resources gpu=N``
on a local run, ``rules/resources.smk`` gives the GPU rules (detect, render) the ``shell_exec`` resource
``scripts/gpu-slot-shell``, which runs ``python -m faceoff.gpu_slots -c <the job's command>``:

1. the devices are ``FACEOFF_GPUS`` (e.g. ``0,1,3``), else ``CUDA_VISIBLE_DEVICES`` as given to the
   whole run, else every NVIDIA GPU of the machine (``/proc/driver/nvidia/gpus``, ``nvidia-smi -L``);
2. the job takes an exclusive ``flock`` on ``gpu-<device>.lock`` in the lock folder
   (``FACEOFF_GPU_LOCK_DIR``, default ``/tmp/faceoff-gpu-slots-<uid>``) of the first free device, waiting
   while all are taken;
3. it sets ``CUDA_VISIBLE_DEVICES=<device>`` and replaces itself with ``bash -c <command>``. The locked
   file descriptor is inherited by the command and its children, so the slot is held exactly as long as
   the job runs and is released by the kernel when it ends, however it ends (also SIGKILL): no stale
   slots after a crash, and two Snakemake runs on one machine share the GPUs without clashing.

With no GPU (or under SLURM, which assigns GPUs itself: ``SLURM_JOB_ID`` set and no ``FACEOFF_GPUS``) the
command runs unchanged. ``FACEOFF_GPU_SLOT_LOG`` names a file to which each claim appends a line
``<pid>\\t<device>\\t<unix time>`` (for checks and accounting).
"""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


def find_devices(env: Mapping[str, str] | None = None) -> list[str]:
    """The GPU device indices this machine's jobs may use, in order (empty: none)."""
    env = os.environ if env is None else env
    for name in ("FACEOFF_GPUS", "CUDA_VISIBLE_DEVICES"):
        value = env.get(name)
        if value is not None and (name == "FACEOFF_GPUS" or "SLURM_JOB_ID" not in env):
            return [d.strip() for d in value.split(",") if d.strip() and d.strip() != "-1"]
    if "SLURM_JOB_ID" in env:
        return []
    try:
        count = sum(1 for _ in Path("/proc/driver/nvidia/gpus").iterdir())
    except OSError:
        count = 0
    if not count:
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
            count = sum(1 for line in out.splitlines() if line.startswith("GPU "))
        except (OSError, subprocess.SubprocessError):
            count = 0
    return [str(i) for i in range(count)]


def lock_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("FACEOFF_GPU_LOCK_DIR") or f"/tmp/faceoff-gpu-slots-{os.getuid()}")


@dataclass
class Slot:
    """A claimed GPU: ``device`` is held while the open file descriptor ``fd`` (locked) exists."""

    device: str
    fd: int

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def try_claim(devices: list[str], folder: Path) -> Slot | None:
    """Lock the first free device of ``devices`` without waiting; None when all are held."""
    folder.mkdir(parents=True, exist_ok=True)
    for device in devices:
        fd = os.open(folder / f"gpu-{device}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                continue
            raise
        return Slot(device, fd)
    return None


def claim(devices: list[str], folder: Path, timeout: float | None = None, poll: float = 0.2) -> Slot:
    """Lock a free device of ``devices``, waiting while all are held (TimeoutError after ``timeout`` s)."""
    if not devices:
        raise ValueError("no GPU devices to claim")
    start = time.monotonic()
    while True:
        slot = try_claim(devices, folder)
        if slot is not None:
            return slot
        if timeout is not None and time.monotonic() - start > timeout:
            raise TimeoutError(f"all GPU slots {devices} in {folder} stayed busy for {timeout} s")
        time.sleep(poll)


def exec_with_gpu(command: str, env: Mapping[str, str] | None = None) -> None:
    """Claim a GPU (when there are any), then replace this process with ``bash -c command``."""
    env = dict(os.environ if env is None else env)
    devices = find_devices(env)
    if devices:
        slot = claim(devices, lock_dir(env))
        os.set_inheritable(slot.fd, True)  # the job and its children hold the lock until they exit
        env["CUDA_VISIBLE_DEVICES"] = slot.device
        env["FACEOFF_GPU_SLOT"] = slot.device
        if env.get("FACEOFF_GPU_SLOT_LOG"):
            with open(env["FACEOFF_GPU_SLOT_LOG"], "a", encoding="utf-8") as fh:
                fh.write(f"{os.getpid()}\t{slot.device}\t{time.time():.3f}\n")
        print(f"gpu-slot: CUDA_VISIBLE_DEVICES={slot.device} (of {','.join(devices)})", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe("bash", ["bash", "-euo", "pipefail", "-c", command], env)


def main(argv: list[str] | None = None) -> int:
    """``python -m faceoff.gpu_slots -c COMMAND`` (how a shell is called) runs COMMAND on a free GPU."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] != "-c":
        print("usage: python -m faceoff.gpu_slots -c COMMAND", file=sys.stderr)
        return 2
    exec_with_gpu(argv[1])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
