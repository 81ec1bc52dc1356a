"""Progress: a tqdm bar on a terminal, plain timed lines in a log file (a Snakemake job log)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import termios
from collections.abc import Callable
from typing import IO

from faceoff.progress import Progress, StepProgress


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_log_file_gets_plain_lines_every_interval(tmp_path):
    clock = FakeClock()
    log = tmp_path / "job.log"
    with open(log, "w") as stream, Progress(100, "render", stream=stream, interval=30, clock=clock) as p:
        for _ in range(10):
            clock.now += 10  # 10 frames every 10 s: 1 frame/s
            p.update(10)
    text = log.read_text()
    assert "\x1b" not in text and "\r" not in text  # no escape codes, no carriage returns
    lines = text.splitlines()
    # a line at 30, 60 and 90 s (not at every update), and the last one when the loop ends
    assert lines[:3] == [
        "render: 30/100 frames (30.0%), 1.0 frames/s, 01:10 left",
        "render: 60/100 frames (60.0%), 1.0 frames/s, 00:40 left",
        "render: 90/100 frames (90.0%), 1.0 frames/s, 00:10 left",
    ]
    assert lines[3:] == ["render: 100/100 frames in 01:40, 1.0 frames/s"]


def test_failed_loop_writes_no_final_line(tmp_path):
    log = tmp_path / "job.log"
    try:
        with (
            open(log, "w") as stream,
            Progress(50, "detect", stream=stream, interval=30, clock=FakeClock()) as p,
        ):
            p.update(5)
            raise RuntimeError("decoder failed")
    except RuntimeError:
        pass
    assert log.read_text() == ""


def _on_terminal(write: Callable[[IO[str]], None]) -> str:
    """What ``write(stream)`` shows on a 100-column terminal (a pseudo-terminal)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    end = "<end of output>"
    try:
        with open(follower, "w", closefd=False) as stream:
            assert stream.isatty()
            write(stream)
            stream.write(end)
        # one read may return only the first chunk the terminal passed on: read up to the end mark
        out = b""
        while end.encode() not in out:
            out += os.read(leader, 65536)
        return out.decode()[: -len(end)]
    finally:
        os.close(leader)
        os.close(follower)


def test_terminal_gets_a_bar():
    def loop(stream: IO[str]) -> None:
        with Progress(40, "detect", stream=stream) as p:
            for _ in range(4):
                p.update(10)

    out = _on_terminal(loop)
    assert "\rdetect: " in out  # the bar redraws itself in place (carriage returns)
    assert re.search(r"detect: 100%\|[^|]*\| 40/40", out), out  # tqdm's bar: frames done of total
    assert "frame/s" in out or "s/frame" in out


def test_run_steps_on_a_terminal_are_one_bar_with_the_status_text():
    def run(stream: IO[str]) -> None:
        bar = StepProgress("faceoff run", stream=stream)
        for done in range(4):
            bar.update(done, 3, f"{done}/3 videos delivered")
        bar.close()

    out = _on_terminal(run)
    assert "\rfaceoff run: " in out
    assert re.search(r"faceoff run: 3/3 jobs \|█+\| 00:00, 3/3 videos delivered", out), out
    assert "\n" not in out.rstrip("\r\n")  # redrawn in place: one line
