"""Delivery: a rendered video reaches ``anonymized/`` only through :func:`deliver` (called by the audit
stage, :mod:`faceoff.stages.audit`, once the audit lets it)."""

from __future__ import annotations

import fcntl
import shutil
from pathlib import Path

from faceoff.atomic import atomic_output
from faceoff.errors import FaceOffError

FICLONE = 0x40049409  # Linux ioctl: share the source's blocks copy-on-write (btrfs, XFS, ...)


def _clone_or_copy(src: Path, dst: Path) -> None:
    """Write ``src``'s bytes to the new file ``dst``: a reflink clone where possible, else a copy."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        try:
            fcntl.ioctl(fout.fileno(), FICLONE, fin.fileno())
            return
        except OSError:
            pass
    shutil.copyfile(src, dst)


def deliver(rendered: str | Path, delivered: str | Path) -> None:
    """Place a copy of ``rendered`` at ``delivered`` atomically (:mod:`faceoff.atomic`).

    Never a hard link: Snakemake touches a finished job's outputs, and touching a hard link would also touch
    the job's input (the rendered file), which then looks newer than the job's other outputs and fails the
    job. The workflow marks the rendered file ``temp()``, so only the delivered copy stays on disk.
    """
    rendered, delivered = Path(rendered), Path(delivered)
    with atomic_output(delivered) as tmp:
        _clone_or_copy(rendered, tmp)
        if tmp.stat().st_size != rendered.stat().st_size:
            raise FaceOffError(f"{delivered}: copy of {rendered} is incomplete")
