"""Progress of a stage's frame loop, on stderr: frames done, frames/s and time left.

On a terminal a tqdm bar; otherwise (a Snakemake job log, a pipe) a plain line about every ``interval``
seconds and one when the loop ends, with no escape codes or carriage returns, e.g.::

    render: 300/1800 frames (16.7%), 25.1 frames/s, 00:59 left
    render: 1800/1800 frames in 01:12, 25.0 frames/s
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, Any

from tqdm import tqdm

LOG_INTERVAL_S = 30.0


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """Count frames of a loop of ``total`` frames (a context manager; :meth:`update` per batch)."""

    def __init__(
        self,
        total: int,
        desc: str,
        *,
        stream: IO[str] | None = None,
        interval: float = LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.total, self.desc, self.interval, self.clock = int(total), desc, float(interval), clock
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self._start = self._last = clock()
        self._bar: tqdm | None = None
        if _is_terminal(self.stream):
            self._bar = tqdm(
                total=self.total, desc=desc, unit="frame", file=self.stream, dynamic_ncols=True, leave=True
            )

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close(finished=exc_type is None)

    def update(self, n: int) -> None:
        """``n`` more frames are done."""
        self.done += int(n)
        if self._bar is not None:
            self._bar.update(n)
            return
        now = self.clock()
        if now - self._last >= self.interval:
            self._last = now
            self._line(self._status(now))

    def close(self, finished: bool = True) -> None:
        """End the bar, or write the last plain line (``finished``: the loop ran to its end)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif finished:
            now = self.clock()
            elapsed = now - self._start
            rate = self.done / elapsed if elapsed > 0 else 0.0
            self._line(
                f"{self.desc}: {self.done}/{self.total} frames in {tqdm.format_interval(elapsed)},"
                f" {rate:.1f} frames/s"
            )

    def _status(self, now: float) -> str:
        elapsed = now - self._start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        share = 100.0 * self.done / self.total if self.total else 100.0
        left = tqdm.format_interval((self.total - self.done) / rate) if rate > 0 else "?"
        return (
            f"{self.desc}: {self.done}/{self.total} frames ({share:.1f}%), {rate:.1f} frames/s, {left} left"
        )

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
