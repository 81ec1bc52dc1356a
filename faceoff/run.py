"""``faceoff run PATH...``: the whole workflow on some videos in one command, from any folder.

The inputs are checked before any work (:func:`plan_run`): a missing path, a folder without videos, a
results folder inside an input's tree, two videos with the same stem. Then the same Snakemake workflow
as ``snakemake --cores all`` (its files: :mod:`faceoff.workflow_files`) runs as a subprocess in the
current folder, with ``--keep-going`` and ``--rerun-incomplete``: Snakemake's bookkeeping
(``.snakemake/``) lies there, so the same command from the same folder resumes and redoes only what
changed. Its messages go to ``RESULTS/logs/snakemake/<time>.log``; the terminal shows one progress line
(jobs done, videos delivered, the frames of a running job from its log). At the end each delivered
video, the summary and each failed video (cause and log, :mod:`faceoff.status`) are named.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from faceoff.config import Config, read_config_file, validate_config
from faceoff.errors import FaceOffError
from faceoff.layout import is_sharded, video_path
from faceoff.progress import StepProgress
from faceoff.samples import workflow_samples
from faceoff.status import collect
from faceoff.workflow_files import profile_path, snakefile

POLL_S = 0.5
LISTED = 20  # delivered videos named one by one; beyond that, their folder
_JOB_START = re.compile(r"^(?:local)?rule (\w+):$")
_JOB_ERROR = re.compile(r"^Error in rule (\w+):$")
_FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)")
_STEPS = re.compile(r"^(\d+) of (\d+) steps \(")
_STAT_ROW = re.compile(r"^(\w+)\s+(\d+)$")
_FIELD = re.compile(r"^\s+(\w+): (.*)$")
_FRAMES = re.compile(r"^(\w+): (\d+)/(\d+) frames")


@dataclass(frozen=True)
class Plan:
    """A checked run: the validated config, its videos (id -> path) and the Snakemake command;
    ``quiet``: a dry run or an unlock, whose messages are Snakemake's own, shown as they come."""

    cfg: Config
    samples: dict[str, str]
    argv: list[str]
    quiet: bool


def plan_run(
    paths: list[str],
    results: str | None = None,
    config: str | None = None,
    cores: str | None = None,
    profile: str | None = None,
    dry_run: bool = False,
    unlock: bool = False,
) -> Plan:
    """Check the inputs and build the Snakemake command; raise :class:`FaceOffError` naming what is wrong.

    ``paths`` (files, folders, globs) replace the config's ``inputs`` (and ``samples``), ``results`` its
    ``results``; ``config`` is a YAML file merged over the defaults, as ``--configfile``. ``unlock``
    removes the lock a killed run left in this folder."""
    data = read_config_file(config) if config else {}
    overrides: dict[str, object] = {}
    if paths:
        overrides.update(inputs=[os.path.expanduser(p) for p in paths], samples=None)
    elif not data.get("inputs") and not data.get("samples"):
        raise FaceOffError("name the videos (files, folders or glob patterns), or a --config with `inputs`")
    if results is not None:
        overrides["results"] = os.path.expanduser(results)
    cfg = validate_config({**data, **overrides})
    samples = workflow_samples(cfg, each_input=bool(paths))
    argv = [sys.executable, "-m", "snakemake", "-s", str(snakefile()), "--keep-going", "--rerun-incomplete"]
    if profile:
        argv += ["--profile", profile_path(profile)]
    if cores or not profile:
        argv += ["--cores", cores or "all"]
    if config:
        argv += ["--configfile", config]
    if overrides:
        # Snakemake reads each value as YAML (JSON is YAML; an empty value is null)
        argv += ["--config", *(f"{k}={'' if v is None else json.dumps(v)}" for k, v in overrides.items())]
    argv += ["--dry-run"] * dry_run + ["--unlock"] * unlock
    return Plan(cfg, samples, argv, dry_run or unlock)


@dataclass
class _Job:
    rule: str
    video: str = ""
    log: str = ""


@dataclass
class JobWatch:
    """What Snakemake's messages say about a run, fed line by line: the job counts, the jobs running
    (rule, video id, log) and the audits finished (each delivers a video)."""

    steps_done: int = 0
    steps_total: int = 0
    planned: dict[str, int] = field(default_factory=dict)
    audits_done: int = 0
    planned_known: bool = False
    nothing_to_do: bool = False
    running: dict[str, _Job] = field(default_factory=dict)
    _job: _Job | None = None
    _block: str = ""
    _in_stats: bool = False

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        fld = _FIELD.match(line)
        if fld and self._block:
            self._field(*fld.groups())
            return
        self._block, self._job = "", None
        if line.startswith("Job stats:"):
            self._in_stats = self.planned_known = True
        elif line.startswith("Nothing to be done"):
            self.planned_known = self.nothing_to_do = True
        elif self._in_stats and (row := _STAT_ROW.match(line)):
            if row.group(1) == "total":
                self._in_stats = False
                self.steps_total = self.steps_total or int(row.group(2))
            else:
                self.planned[row.group(1)] = int(row.group(2))
        elif m := _JOB_START.match(line):
            self._block, self._job = "start", _Job(m.group(1))
        elif _JOB_ERROR.match(line):
            self._block = "error"
        elif m := _FINISHED.match(line):
            self.running.pop(m.group(1), None)
            self.audits_done += m.group(2) == "audit"
        elif m := _STEPS.match(line):
            self.steps_done, self.steps_total = int(m.group(1)), int(m.group(2))

    def _field(self, key: str, value: str) -> None:
        if key == "jobid" and self._block == "error":
            self.running.pop(value.strip(), None)
        elif self._job is not None:
            if key == "jobid":
                self.running[value.strip()] = self._job
            elif key == "log":
                self._job.log = value.split(",")[0].strip()
            elif key == "wildcards":
                pairs = (kv.split("=", 1) for kv in value.split(", ") if "=" in kv)
                self._job.video = dict(pairs).get("id", "")

    def text(self, videos: int) -> str:
        """``2/5 videos delivered, render a: 300/1800 frames (+1 job running)``."""
        if not self.planned_known:
            return f"{videos} video(s): planning the jobs"
        if self.nothing_to_do:
            return f"{videos} video(s): nothing to do, every output is up to date"
        delivered = videos - self.planned.get("audit", 0) + self.audits_done
        out = f"{max(delivered, 0)}/{videos} videos delivered"
        jobs = list(self.running.values())
        for job in jobs:
            frames = _last_frames(job.log)
            if frames:
                out += f", {job.rule} {job.video}: {frames} frames"
                if len(jobs) > 1:
                    out += f" (+{len(jobs) - 1} job{'s' if len(jobs) > 2 else ''} running)"
                return out
        if jobs:
            names = ", ".join(f"{j.rule} {j.video}".strip() for j in jobs[:3])
            out += f", running: {names}" + (" ..." if len(jobs) > 3 else "")
        return out


def _last_frames(log: str, tail: int = 4096) -> str:
    """``done/total`` from the last progress line of a job's log (:class:`faceoff.progress.Progress`)."""
    if not log:
        return ""
    try:
        with open(log, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - tail))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if m := _FRAMES.match(line.strip()):
            return f"{m.group(2)}/{m.group(3)}"
    return ""


def execute(plan: Plan, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """Run the plan's Snakemake command and report the outcome; the exit status (0: every video
    delivered and the summary made)."""
    out, err = out or sys.stdout, err or sys.stderr
    if plan.quiet:
        return subprocess.run(plan.argv, stdin=subprocess.DEVNULL).returncode
    name = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
    log = Path(plan.cfg.results) / "logs" / "snakemake" / name
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as fh:
        proc = subprocess.Popen(plan.argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    # `kill` of this command stops Snakemake (and so its jobs) too, and then reports what is done
    previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        rc = _follow(proc, log, len(plan.samples), err)
    except KeyboardInterrupt:
        _stop(proc)
        err.write(f"faceoff run: interrupted; the same command from this folder resumes. Log: {log}\n")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return report_outcome(plan, rc, log, out)


def _follow(proc: subprocess.Popen, log: Path, videos: int, err: IO[str]) -> int:
    """Show the run's progress from its log until Snakemake exits; its exit status."""
    watch, bar, rest = JobWatch(), StepProgress("faceoff run", stream=err), b""
    with open(log, "rb") as reader:
        while True:
            rc = proc.poll()
            rest += reader.read()
            *lines, rest = rest.split(b"\n")
            for line in lines:
                watch.feed(line.decode("utf-8", "replace"))
            bar.update(watch.steps_done, watch.steps_total, watch.text(videos))
            if rc is not None:
                bar.close()
                return rc
            time.sleep(POLL_S)


def _stop(proc: subprocess.Popen, grace_s: float = 30.0) -> int:
    """Let Snakemake stop its jobs after Ctrl-C (a terminal sends it the signal too); pass the signal on
    when it still runs after ``grace_s`` or at a second Ctrl-C."""
    try:
        return proc.wait(timeout=grace_s)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        proc.send_signal(signal.SIGINT)
        return proc.wait()


def report_outcome(plan: Plan, rc: int, log: Path, out: IO[str]) -> int:
    """Name the delivered videos, the summary and the failed videos (with cause and log); the exit
    status: 0 when Snakemake succeeded and every video was delivered."""
    cfg, ids = plan.cfg, list(plan.samples)
    status = collect(cfg.results, workdir=".", video_ids=ids)
    failed = {f["id"]: f for f in status.failed}
    sharded = is_sharded(cfg.layout, len(ids))
    delivered = [
        i
        for i in ids
        if i not in failed and video_path(cfg.results, "anonymized", i, ".mp4", sharded).is_file()
    ]
    lines = [f"faceoff run: {len(delivered)} of {len(ids)} video(s) delivered"]
    for i in delivered[:LISTED]:
        page = video_path(cfg.results, "reports", i, ".html", sharded)
        lines.append(f"  {i}: {video_path(cfg.results, 'anonymized', i, '.mp4', sharded)} (report: {page})")
    if len(delivered) > LISTED:
        lines.append(f"  ... and {len(delivered) - LISTED} more in {Path(cfg.results) / 'anonymized'}")
    summary = Path(cfg.results) / "summary.html"
    if status.summary_done:
        lines.append(f"summary: {summary} (table: {summary.with_suffix('.csv')})")
    else:
        lines.append("summary: not made (it needs every video's report)")
    for f in failed.values():
        lines.append(f"failed: {f['id']} at {f['stage']}: {f['cause']}\n  log: {f['log']}")
    missing = [i for i in ids if i not in failed and i not in delivered]
    if missing:
        lines.append(
            f"not finished: {', '.join(missing[:LISTED])}" + (" ..." if len(missing) > LISTED else "")
        )
    ok = rc == 0 and not failed and not missing and status.summary_done
    if rc != 0 and not failed:
        text = log.read_text(errors="replace")
        tail = [ln for ln in text.splitlines() if ln.strip()][-15:]
        lines += ["Snakemake stopped:", *(f"  {ln}" for ln in tail)]
        if "Directory cannot be locked" in text:
            lines.append(
                "(when no other run works in this folder: the same command with --unlock, then again)"
            )
    lines.append(f"Snakemake's messages: {log}")
    out.write("\n".join(lines) + "\n")
    out.flush()
    return 0 if ok else 1
