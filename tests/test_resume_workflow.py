"""Kill the whole snakemake process group (SIGKILL) at several points of a multi-video run, resume with the
documented command, and get exactly what an uninterrupted run makes; no output path ever holds a partial
file, and nothing is written next to the (read-only) inputs.

Documented resume (docs/hpc.md): ``snakemake --unlock <same options>`` (the killed run left its lock),
then ``snakemake <same options> --rerun-incomplete``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import skimage.data
import yaml

from faceoff.boxes import read_boxes, read_metadata
from faceoff.probe import probe_video
from faceoff.synth.clips import write_clip

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
pytestmark = pytest.mark.slow

# Timing fields: the only things allowed to differ between two runs of the same inputs and config.
TIMING_KEYS = {"seconds", "frames_per_second", "total_seconds", "resumed_at_frame"}
TIMING_COLUMNS = re.compile(r"^(fps_|seconds_)")
PNG_END = b"IEND\xaeB`\x82"


def face_clips(folder: Path, lengths=(12, 16, 20)) -> dict[str, int]:
    """Tiny clips with a real face (astronaut, public domain) moving right; {id: frame count}."""
    face = skimage.data.astronaut()[30:190, 150:290][::2, ::2]
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, n in enumerate(lengths):
        frames = np.full((n, 192, 256, 3), 80 + 10 * i, np.uint8)
        for t in range(n):
            x = 10 + 4 * t + 3 * i
            frames[t, 40 : 40 + face.shape[0], x : x + face.shape[1]] = face
        write_clip(folder / f"clip{i}.mp4", frames, fps=25)
        out[f"clip{i}"] = n
    return out


def make_read_only(folder: Path) -> Callable[[], None]:
    """chmod the folder tree read-only (as root this is advisory; the tests also snapshot it)."""
    paths = sorted(folder.rglob("*"), reverse=True) + [folder]
    for p in paths:
        p.chmod(0o555 if p.is_dir() else 0o444)

    def undo() -> None:
        for p in paths:
            p.chmod(0o755 if p.is_dir() else 0o644)

    return undo


def read_only_view(folder: Path, mountpoint: Path) -> tuple[Path, Callable[[], None]]:
    """``folder`` on read-only storage: a read-only bind mount at ``mountpoint`` where this process may
    mount (root), else ``folder`` itself made read-only with chmod. Returns the path to use and an undo."""
    undo_chmod = make_read_only(folder)
    if os.geteuid() == 0 and shutil.which("mount"):
        mountpoint.mkdir(parents=True, exist_ok=True)
        bind = subprocess.run(["mount", "--bind", str(folder), str(mountpoint)], capture_output=True)
        if bind.returncode == 0:
            ro = subprocess.run(["mount", "-o", "remount,bind,ro", str(mountpoint)], capture_output=True)
            if ro.returncode == 0:

                def undo() -> None:
                    subprocess.run(["umount", str(mountpoint)], check=True)
                    undo_chmod()

                return mountpoint, undo
            subprocess.run(["umount", str(mountpoint)], check=False)
    return folder, undo_chmod


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def write_config(workdir: Path, inputs: Path, **extra) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = {
        "inputs": [str(inputs)],
        "results": "results",
        "annotations": None,
        # shards every 4 frames: a detect job killed midway resumes from its last shard
        "detect": {"width": 0, "batch_size": 4, "shard_frames": 4},
        **extra,
    }
    (workdir / "my.yaml").write_text(yaml.safe_dump(cfg))
    return workdir


def snakemake(workdir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
    cmd = [*SNAKEMAKE, "--cores", "2", "--configfile", "my.yaml", *args]
    return subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)


def result_files(results: Path) -> list[str]:
    """Every file of a results folder except logs, Snakemake's benchmarks and hidden (temporary) files."""
    return sorted(
        str(rel)
        for rel in (p.relative_to(results) for p in results.rglob("*") if p.is_file())
        if rel.parts[0] not in ("logs", "benchmarks") and not any(part.startswith(".") for part in rel.parts)
    )


TEMP_NAME = re.compile(r"^\..+\.(partial|tmp)-\d+(\.\w+)?$")


def leftovers(results: Path) -> list[str]:
    """Hidden files left in a results folder (temporary files of jobs that were killed)."""
    return sorted(
        str(p.relative_to(results)) for p in results.rglob(".*") if p.relative_to(results).parts[0] != "logs"
    )


def check_complete(path: Path, frames: dict[str, int]) -> None:
    """Raise AssertionError unless ``path`` holds a whole, valid file of its kind."""
    data = path.read_bytes()
    assert data, f"{path}: empty"
    suffix = path.suffix
    if suffix == ".json":
        json.loads(data)
    elif suffix == ".parquet":
        assert data[:4] == b"PAR1" and data[-4:] == b"PAR1", f"{path}: not a whole Parquet file"
        pq.read_table(path)
    elif suffix == ".png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and data.endswith(PNG_END), f"{path}: not a whole PNG"
    elif suffix == ".mp4":
        info = probe_video(path)
        assert info.frame_count == frames[path.stem], f"{path}: {info.frame_count} frames"
    elif suffix == ".csv":
        assert len(pd.read_csv(path)) == len(frames), f"{path}: rows missing"
    elif suffix == ".html":
        assert data.rstrip().endswith(b"</html>"), f"{path}: not a whole page"


def _drop_timing(obj):
    if isinstance(obj, dict):
        return {k: _drop_timing(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [_drop_timing(v) for v in obj]
    return obj


def compare_results(ref: Path, out: Path) -> list[str]:
    """Assert two results folders hold the same outputs (timing fields aside); return the files compared.

    Videos and PNGs byte for byte; box tables by rows and footer metadata; JSON by value; the summary CSV
    by value and the HTML page with its decimal numbers masked (they include timings).
    """
    files = result_files(ref)
    assert result_files(out) == files
    for name in files:
        a, b = ref / name, out / name
        if a.suffix in (".mp4", ".png"):
            assert a.read_bytes() == b.read_bytes(), f"{name} differs"
        elif a.suffix == ".parquet":
            pd.testing.assert_frame_equal(read_boxes(a), read_boxes(b), obj=name)
            assert _drop_timing(read_metadata(a)) == _drop_timing(read_metadata(b)), name
        elif a.suffix == ".json":
            assert _drop_timing(json.loads(a.read_text())) == _drop_timing(json.loads(b.read_text())), name
        elif a.suffix == ".csv":
            da, db = pd.read_csv(a), pd.read_csv(b)
            keep = [c for c in da.columns if not TIMING_COLUMNS.match(c)]
            pd.testing.assert_frame_equal(da[keep], db[keep], obj=name)
        elif a.suffix == ".html":
            mask = re.compile(rb"\d+\.\d+")
            assert mask.sub(b"#", a.read_bytes()) == mask.sub(b"#", b.read_bytes()), f"{name} differs"
        else:
            assert a.read_bytes() == b.read_bytes(), f"{name} differs"
    return files


class PartialWatcher(threading.Thread):
    """Checks every output path, whenever its file changes, while a run goes on; records what was bad."""

    def __init__(self, results: Path, outputs: list[str], frames: dict[str, int]):
        super().__init__(daemon=True)
        self.paths = [results / name for name in outputs]
        self.frames = frames
        self.seen: dict[Path, tuple] = {}
        self.bad: list[str] = []
        self.checked = 0
        self.halt = threading.Event()

    def scan(self) -> None:
        for path in self.paths:
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            key = (st.st_ino, st.st_size, st.st_mtime_ns)
            if self.seen.get(path) == key:
                continue
            self.seen[path] = key
            try:
                check_complete(path, self.frames)
                self.checked += 1
            except FileNotFoundError:
                self.seen.pop(path, None)  # replaced while reading: look again
            except Exception as err:  # noqa: BLE001 - any failure to read it whole is a partial file
                if not path.exists():  # a temp() file removed by Snakemake while being read
                    self.seen.pop(path, None)
                    continue
                self.bad.append(f"{path}: {type(err).__name__}: {err}")

    def run(self) -> None:
        while not self.halt.is_set():
            self.scan()
            time.sleep(0.02)
        self.scan()


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running (zombies do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def run_and_kill(workdir: Path, trigger: Callable[[Path], str | None], timeout: float = 300) -> str:
    """Start snakemake in its own process group; SIGKILL the group as soon as ``trigger`` names an event.

    Returns the event. Fails if the run ended before the trigger fired.
    """
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
    cmd = [*SNAKEMAKE, "--cores", "2", "--configfile", "my.yaml", "--rerun-incomplete"]
    with open(workdir / "killed-runs.log", "a") as log:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                event = trigger(workdir / "results")
                if event:
                    os.killpg(proc.pid, signal.SIGKILL)
                    return event
                if proc.poll() is not None:
                    pytest.fail(f"the run ended (rc {proc.returncode}) before the kill point; see {log.name}")
                time.sleep(0.01)
            pytest.fail("kill point not reached in time")
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            for _ in range(500):
                if not _group_alive(proc.pid):
                    break
                time.sleep(0.01)
            assert not _group_alive(proc.pid), "a job survived the SIGKILL of its process group"


def _first(folder: Path, pattern: str) -> str | None:
    hits = sorted(folder.glob(pattern)) if folder.is_dir() else []
    return str(hits[0]) if hits else None


# Kill points, in the order a run reaches them; each resumed run goes further before it is killed.
KILL_POINTS = {
    # a detect job saved a shard of its frames and is detecting the next ones
    "detect mid-video": lambda r: _first(r / "detections", ".*.parts/*.npz"),
    # ffmpeg is writing a rendered video to its temporary file (or the job just moved it into place)
    "render encoding": lambda r: _first(r / "render", ".*.partial-*") or _first(r / "render", "*.mp4"),
    # one video was delivered, the audits and reports of the others are running
    "after a delivery": lambda r: _first(r / "anonymized", "*.mp4"),
    # every video is done, the summary job has started
    "summary": lambda r: _first(r / "logs", "summary.log"),
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    frames = face_clips(root / "videos")
    folder, undo = read_only_view(root / "videos", root / "read-only")
    if folder != root / "videos":  # a real read-only file system: writing there fails
        with pytest.raises(OSError):
            (folder / "probe.json").write_text("{}")
    yield folder, frames, snapshot(folder)
    undo()


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory):
    folder, frames, _ = inputs
    workdir = write_config(tmp_path_factory.mktemp("uninterrupted"), folder)
    proc = snakemake(workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return workdir / "results"


def test_killed_runs_resume_to_identical_outputs(inputs, reference, tmp_path):
    folder, frames, before = inputs
    outputs = result_files(reference)
    assert len(outputs) == 3 * 11 + 2, outputs  # 11 files per video + summary.html/.csv
    assert not any(name.startswith("render/") and name.endswith(".mp4") for name in outputs)  # temp()
    workdir = write_config(tmp_path / "resumed", folder)
    # the temporary rendered videos are watched too while they exist
    watched = outputs + [f"render/{vid}.mp4" for vid in sorted(frames)]
    watcher = PartialWatcher(workdir / "results", watched, frames)
    watcher.start()
    try:
        events = []
        for name, trigger in KILL_POINTS.items():
            event = run_and_kill(workdir, trigger)
            events.append(f"{name}: {event}")
            watcher.scan()
            # right after the kill, whatever sits at an output path must be whole
            for rel in outputs:
                if (workdir / "results" / rel).exists():
                    check_complete(workdir / "results" / rel, frames)
            unlock = snakemake(workdir, "--unlock")
            assert unlock.returncode == 0, unlock.stderr[-2000:]
        final = snakemake(workdir, "--rerun-incomplete")
        assert final.returncode == 0, final.stderr[-3000:]
    finally:
        watcher.halt.set()
        watcher.join()
    assert not watcher.bad, watcher.bad
    assert watcher.checked >= len(outputs)
    compare_results(reference, workdir / "results")
    # SIGKILLed jobs cannot remove their temporary files; they never sit at an output path
    left = leftovers(workdir / "results")
    assert all(TEMP_NAME.match(Path(p).name) for p in left), left
    if left:
        warnings.warn(f"temporary files of killed jobs left in results: {left}", stacklevel=1)
    assert snapshot(folder) == before, "the input folder changed"
    resumed = {
        p.stem: read_metadata(p).get("resumed_at_frame")
        for p in sorted((workdir / "results" / "detections").glob("*.parquet"))
    }
    print(f"kills: {events}; detect resumed at frame: {resumed}")
    # a second run finds nothing to do
    again = snakemake(workdir, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr, events
