"""Writing files atomically: every output FaceOff writes goes through here.

A file is written under a temporary name beside its target (``.{name}.partial-{pid}{suffix}``: same
folder, so same file system), flushed to disk (fsync) and renamed into place only when complete, so an
output path never holds a partial file. A process killed mid-write cannot remove its temporary file; the
next writer of the same target removes the ones whose process no longer runs on this machine
(:func:`remove_stale_partials`).
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "atomic_output",
    "commit",
    "partial_path",
    "remove_stale_partials",
    "write_bytes",
    "write_text",
]

_MARK = ".partial-"


def partial_path(target: str | Path, suffix: str = "") -> Path:
    """This process's temporary name for ``target``; ``suffix`` keeps a file type (``.mp4`` for ffmpeg)."""
    target = Path(target)
    return target.with_name(f".{target.name}{_MARK}{os.getpid()}{suffix}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def remove_stale_partials(target: str | Path) -> list[Path]:
    """Delete temporary files of ``target`` left by processes that no longer run; returns those removed.

    A file of a live process on this machine is left alone.
    """
    target = Path(target)
    prefix = f".{target.name}{_MARK}"
    removed = []
    for tmp in target.parent.glob(f"{glob.escape(prefix)}*"):
        digits = tmp.name[len(prefix) :]
        pid = digits[: len(digits) - len(digits.lstrip("0123456789"))]
        if not pid or _alive(int(pid)):
            continue
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def commit(tmp: str | Path, target: str | Path) -> None:
    """Flush the finished ``tmp`` to disk and rename it to ``target`` (then flush the folder entry)."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    with contextlib.suppress(OSError):  # not every file system lets a folder be fsynced
        fd = os.open(Path(target).parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_output(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write ``target``'s content to; it becomes ``target`` when the block
    ends without an exception, and is removed otherwise. Creates the folder; removes stale partials."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(target)
    tmp = partial_path(target, suffix)
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        commit(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(target: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically."""
    with atomic_output(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``target`` atomically."""
    return write_bytes(target, text.encode("utf-8"))
