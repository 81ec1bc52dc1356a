"""Progress on stderr: of a stage's frame loop (:class:`Progress`: frames done, frames/s and time left),
and of a whole run (:class:`StepProgress`: Snakemake jobs done, with a line of what is going on).

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


class StepProgress:
    """Steps of a run (``done`` of ``total``) and a status text: a tqdm bar on a terminal, otherwise a plain
    line when the steps changed, at most every ``interval`` seconds, and the last state on :meth:`close`."""

    def __init__(
        self,
        desc: str,
        *,
        stream: IO[str] | None = None,
        interval: float = LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.desc, self.interval, self.clock = desc, float(interval), clock
        self.stream = stream if stream is not None else sys.stderr
        self.done, self.total, self.text = 0, 0, ""
        self._last: float | None = None
        self._shown: tuple[int, int, str] | None = None
        self._bar: tqdm | None = None
        if _is_terminal(self.stream):
            self._bar = tqdm(
                total=0,
                desc=desc,
                file=self.stream,
                dynamic_ncols=True,
                bar_format="{desc}: {n}/{total} jobs |{bar}| {elapsed}{postfix}",
            )

    def update(self, done: int, total: int, text: str) -> None:
        """``done`` of ``total`` steps are done; ``text`` says what is going on."""
        self.done, self.total, self.text = int(done), int(total), text
        if self._bar is not None:
            if self._bar.total != self.total:
                self._bar.total = self.total
            self._bar.n = self.done
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.refresh()
            return
        now = self.clock()
        changed = self._shown is None or self._shown[:2] != (self.done, self.total)
        if changed and (self._last is None or now - self._last >= self.interval):
            self._write(now)

    def close(self) -> None:
        """End the bar, or write the last state unless it is the last line written."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._shown != (self.done, self.total, self.text):
            self._write(self.clock())

    def _write(self, now: float) -> None:
        self._last, self._shown = now, (self.done, self.total, self.text)
        share = f" ({100.0 * self.done / self.total:.0f}%)" if self.total else ""
        text = f", {self.text}" if self.text else ""
        self.stream.write(f"{self.desc}: {self.done}/{self.total} jobs{share}{text}\n")
        self.stream.flush()
