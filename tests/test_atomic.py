"""faceoff.atomic: outputs appear whole or not at all; temp files of dead writers are cleaned up."""

import os
import subprocess
from pathlib import Path

import pytest

from faceoff.atomic import atomic_output, partial_path, remove_stale_partials, write_bytes, write_text

PACKAGE = Path(__file__).resolve().parents[1] / "faceoff"


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()  # its pid no longer runs
    return proc.pid


def test_write_text_creates_folder_and_leaves_no_temp_file(tmp_path):
    out = tmp_path / "a" / "b" / "report.json"
    write_text(out, "{}\n")
    assert out.read_text() == "{}\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    out = tmp_path / "table.parquet"
    write_bytes(out, b"old")
    with pytest.raises(RuntimeError), atomic_output(out) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.parquet"]


def test_a_failed_first_write_creates_nothing(tmp_path):
    out = tmp_path / "sheet.png"
    with pytest.raises(OSError), atomic_output(out) as tmp:
        tmp.write_bytes(b"x")
        raise OSError("no space left on device")
    assert list(tmp_path.iterdir()) == []


def test_temp_name_is_hidden_beside_the_target_and_keeps_a_suffix(tmp_path):
    tmp = partial_path(tmp_path / "out.mp4", suffix=".mp4")
    assert tmp.parent == tmp_path and tmp.name == f".out.mp4.partial-{os.getpid()}.mp4"


def test_stale_temp_files_of_dead_writers_are_removed_only_for_that_target(tmp_path):
    dead = _dead_pid()
    out = tmp_path / "probe.json"
    stale = tmp_path / f".probe.json.partial-{dead}"
    stale_mp4 = tmp_path / f".probe.json.partial-{dead}.mp4"
    live = tmp_path / f".probe.json.partial-{os.getppid()}"  # a running process's file
    other = tmp_path / f".other.json.partial-{dead}"  # another output's file
    odd = tmp_path / ".probe.json.partial-abc"  # not ours: no pid
    for f in (stale, stale_mp4, live, other, odd):
        f.write_bytes(b"half")
    assert sorted(remove_stale_partials(out)) == sorted([stale, stale_mp4])
    assert live.exists() and other.exists() and odd.exists()
    write_text(out, "{}")  # every atomic write cleans up after the dead writers of its target
    write_text(tmp_path / "other.json", "{}")
    assert not other.exists() and live.exists()


def test_no_module_renames_files_into_place_by_itself():
    """One writer for every output: only faceoff/atomic.py renames a temp file into place."""
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.name != "atomic.py" and ("os.replace(" in p.read_text() or "os.rename(" in p.read_text())
    ]
    assert offenders == []
