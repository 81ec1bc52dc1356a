"""Where each video's files lie under the results folder.

``flat`` (the default): ``{results}/{folder}/{id}{suffix}``, e.g. ``detections/or_12.parquet``.
``sharded``: ``{results}/{folder}/{shard}/{id}{suffix}``, where ``shard`` is the first two hex digits of
the SHA-256 of the id (256 shards), so a folder holds at most about 4,096 entries for archives of up
to about 500,000 videos (two files per video in ``render/``). ``auto`` shards archives of more than
:data:`AUTO_SHARD_ABOVE` videos. Folders that hold one file per run (``summary.html``) are not sharded.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

LAYOUTS = ("flat", "sharded", "auto")
# `auto` shards above this many videos: flat, render/ (two files per video) then stays under 4,096 entries.
AUTO_SHARD_ABOVE = 2000
SHARD_PATTERN = "[0-9a-f]{2}"
_SHARD_RE = re.compile(f"^{SHARD_PATTERN}$")


def shard(video_id: str) -> str:
    """The two-hex-digit shard of ``video_id`` (stable across runs, machines and Python versions)."""
    return hashlib.sha256(video_id.encode("utf-8")).hexdigest()[:2]


def is_sharded(layout: str, n_videos: int) -> bool:
    """Whether ``layout`` (one of :data:`LAYOUTS`) shards an archive of ``n_videos`` videos."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    return layout == "sharded" or (layout == "auto" and n_videos > AUTO_SHARD_ABOVE)


def pattern(results: str, folder: str, suffix: str, sharded: bool) -> str:
    """A Snakemake path pattern with the wildcards ``{id}`` (and ``{shard}`` when sharded)."""
    return f"{results}/{folder}/{{shard}}/{{id}}{suffix}" if sharded else f"{results}/{folder}/{{id}}{suffix}"


def video_path(results: str | os.PathLike, folder: str, video_id: str, suffix: str, sharded: bool) -> Path:
    """The path of one video's file."""
    base = Path(results) / folder
    return (base / shard(video_id) if sharded else base) / f"{video_id}{suffix}"


def scan(folder: str | os.PathLike) -> Iterator[os.DirEntry]:
    """The entries of ``folder`` and of its shard subfolders (either layout), without statting files.

    Shard folders themselves are not yielded; a missing folder yields nothing.
    """
    try:
        top = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in top:
        if _SHARD_RE.match(entry.name) and entry.is_dir(follow_symlinks=False):
            try:
                yield from os.scandir(entry.path)
            except OSError:
                continue
        else:
            yield entry
