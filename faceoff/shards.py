"""Finished shards of a long detect job, kept in a work folder so a killed job resumes where it stopped.

Each shard holds the detection rows of a frame range ``[start, end)`` and the key it was made with
(parameters hash, source video hash, detector weights hash); shards whose key differs are ignored. The
folder is removed once the final table is written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from faceoff.atomic import atomic_output


class ShardStore:
    """Shards beside the output ``out``, in the hidden folder ``.{name}.parts``."""

    def __init__(self, out: str | Path, key: dict[str, str]):
        out = Path(out)
        self.folder = out.parent / f".{out.name}.parts"
        self.key = json.dumps(key, sort_keys=True)

    def save(self, start: int, end: int, rows: np.ndarray) -> None:
        """Store the (N,6) rows of frames ``[start, end)`` atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{start:010d}-{end:010d}.npz"
        with atomic_output(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, rows=rows, key=np.array(self.key), start=start, end=end)

    def resume(self) -> tuple[int, list[np.ndarray]]:
        """The first frame not yet covered by contiguous valid shards from frame 0, and their rows."""
        nxt, rows = 0, []
        if not self.folder.is_dir():
            return nxt, rows
        for path in sorted(self.folder.glob("*.npz")):
            try:
                with np.load(path) as z:
                    if str(z["key"]) != self.key or int(z["start"]) != nxt:
                        continue
                    rows.append(z["rows"])
                    nxt = int(z["end"])
            except (OSError, ValueError, KeyError):
                continue  # a damaged shard is simply redone
        return nxt, rows

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
