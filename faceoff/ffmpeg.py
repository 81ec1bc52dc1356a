"""Locate and run the ffmpeg binary.

The binary is, in order: ``$FACEOFF_FFMPEG``, the one bundled with ``imageio-ffmpeg``, ``ffmpeg`` on PATH.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from faceoff.errors import FaceOffError, VideoError

ENV_VAR = "FACEOFF_FFMPEG"


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary; raises FaceOffError when none can be found."""
    env = os.environ.get(ENV_VAR)
    if env:
        if not Path(env).is_file():
            raise FaceOffError(f"${ENV_VAR}={env!r} is not a file")
        return env
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # any failure means "not bundled": fall back to PATH
        pass
    found = shutil.which("ffmpeg")
    if found is None:
        raise FaceOffError(f"no ffmpeg binary found (install imageio-ffmpeg or set ${ENV_VAR})")
    return found


@functools.cache
def ffmpeg_version() -> str:
    """First line of ``ffmpeg -version``."""
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-version"], capture_output=True, text=True, check=False
    )
    return out.stdout.splitlines()[0] if out.stdout else "unknown"


def tail(text: str | bytes, lines: int = 15) -> str:
    """The last ``lines`` non-empty lines of a log, for error messages."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def run_ffmpeg(args: Sequence[str], path: str | Path, *, timeout: float | None = None) -> None:
    """Run ``ffmpeg -hide_banner -nostdin -y <args>``; raise VideoError(path, stderr tail) on failure."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *map(str, args)]
    try:
        res = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VideoError(path, f"ffmpeg failed to run: {exc}") from exc
    if res.returncode != 0:
        raise VideoError(path, f"ffmpeg exited with status {res.returncode}: {tail(res.stderr)}")
