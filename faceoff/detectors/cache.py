"""The detectors' file cache: models made here once (the int8 CenterFace, OpenVINO's compiled models) and
read by every later process.

Entries are written atomically (:mod:`faceoff.atomic`), so a concurrent job never reads a partial file;
where the cache is not writable, the caller keeps what it made in memory.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from faceoff.atomic import write_bytes

__all__ = ["cache_dir", "cached", "load", "store"]


def cache_dir() -> Path:
    """``$FACEOFF_CACHE``, else ``$XDG_CACHE_HOME/faceoff``, else ``~/.cache/faceoff``."""
    if os.environ.get("FACEOFF_CACHE"):
        return Path(os.environ["FACEOFF_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "faceoff"


def store(name: str, data: bytes) -> None:
    """Write ``data`` as cache entry ``name`` (atomically); a read-only cache is left as it is."""
    with contextlib.suppress(OSError):  # a read-only cache: the caller keeps its in-memory copy
        write_bytes(cache_dir() / name, data)


def load(name: str) -> bytes | None:
    """Cache entry ``name``, or None when there is none (or it cannot be read)."""
    try:
        return (cache_dir() / name).read_bytes()
    except OSError:
        return None


def cached(name: str, make: Callable[[], bytes]) -> bytes:
    """Cache entry ``name``: read, else made by ``make()`` and stored."""
    data = load(name)
    if data is None:
        data = make()
        store(name, data)
    return data
