"""``faceoff status RESULTS``: per stage, how many videos are done, running, failed and not started.

Read from the results folder and Snakemake's working directory only, so it works while Snakemake runs
and after it was killed:

- **done**: the stage's output exists and Snakemake has no "incomplete" marker for it;
- **running**: Snakemake marked the output incomplete (``.snakemake/incomplete/``, set when a job starts,
  removed when it succeeds or fails) and a Snakemake process runs in that working directory;
- **interrupted**: such a marker, but no Snakemake process: the run was killed; ``--rerun-incomplete``
  redoes these jobs (a detect job resumes from its saved shards, counted in ``frames_saved``);
- **failed**: no output, no marker, and a log (``logs/<stage>/{id}.log``): the job ran and failed; the
  cause is the log's first ``error:`` line (else its last line);
- **not started**: none of these.

Both results layouts are read (``faceoff.layout``). Videos are those named by the config (``--config``)
or, without it, every id seen in the results folder.
"""

from __future__ import annotations

import base64
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceoff.layout import scan

# stage -> (output folder, suffix of the file that marks the stage done)
STAGE_OUTPUTS: dict[str, tuple[str, str]] = {
    "probe": ("probe", ".json"),
    "detect": ("detections", ".parquet"),
    "regularize": ("tracks", ".parquet"),
    "render": ("render", ".json"),
    "audit": ("audit", ".json"),
    "report": ("reports", ".json"),
}
STATES = ("done", "running", "interrupted", "failed", "not_started")
_ERROR = re.compile(r"\berror: ")
_SHARD_FILE = re.compile(r"^\d{10}-(\d{10})\.npz$")


@dataclass
class Status:
    """What ``faceoff status`` reports."""

    results: str
    videos: int
    snakemake_pids: list[int]
    stages: dict[str, Counter] = field(default_factory=dict)
    failed: list[dict[str, Any]] = field(default_factory=list)
    unfinished: list[dict[str, Any]] = field(default_factory=list)
    summary_done: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "results": self.results,
            "videos": self.videos,
            "snakemake": {"running": bool(self.snakemake_pids), "pids": self.snakemake_pids},
            "stages": {s: {k: c.get(k, 0) for k in STATES} for s, c in self.stages.items()},
            "failed": self.failed,
            "unfinished": self.unfinished,
            "summary": self.summary_done,
        }


def _files(folder: Path, suffix: str) -> dict[str, str]:
    """{id: path} of the visible files ending in ``suffix`` in ``folder`` (either layout)."""
    out = {}
    for e in scan(folder):
        if e.name.endswith(suffix) and not e.name.startswith("."):
            out[e.name[: -len(suffix)]] = e.path
    return out


def _hidden_parts(folder: Path, suffix: str) -> dict[str, str]:
    """{id: shard folder} of detect's resumable shard stores (``.{id}.parquet.parts``)."""
    out = {}
    for e in scan(folder):
        name = e.name
        if name.startswith(".") and name.endswith(f"{suffix}.parts"):
            out[name[1 : -len(f"{suffix}.parts")]] = e.path
    return out


def _frames_saved(parts: str) -> int:
    ends = [int(m.group(1)) for m in map(_SHARD_FILE.match, os.listdir(parts)) if m] if parts else []
    return max(ends, default=0)


def incomplete_outputs(workdir: str | os.PathLike) -> set[str]:
    """Absolute paths Snakemake has marked incomplete (``.snakemake/incomplete``, file persistence)."""
    root = Path(workdir) / ".snakemake" / "incomplete"
    found = set()
    for folder, _, names in os.walk(root):
        rel = Path(folder).relative_to(root).parts
        for name in names:
            if name == "migration_underway":
                continue
            encoded = "".join(p.removeprefix("@") for p in (*rel, name))
            try:
                path = base64.urlsafe_b64decode(encoded.encode()).decode()
            except (ValueError, UnicodeDecodeError):
                continue
            found.add(os.path.abspath(os.path.join(workdir, path)))
    return found


def snakemake_processes(workdir: str | os.PathLike) -> list[int]:
    """Pids of Snakemake processes of this machine working in ``workdir`` (the main process, not jobs)."""
    target = os.path.realpath(workdir)
    pids = []
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else []:
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
            # the main process; not the `snakemake --mode subprocess/remote` that runs a job or group
            if not any(b"snakemake" in a for a in argv[:3]) or b"--mode" in argv:
                continue
            if os.path.realpath(f"/proc/{entry.name}/cwd") == target:
                pids.append(int(entry.name))
        except OSError:
            continue
    return sorted(pids)


def failure_cause(log: str | os.PathLike, max_bytes: int = 65536) -> str:
    """The first line naming an error in a job's log (else its last line), at most 300 characters."""
    try:
        with open(log, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - max_bytes))
            lines = [ln.strip() for ln in fh.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError as err:
        return f"(log unreadable: {err})"
    if not lines:
        return "(empty log: killed before it wrote anything?)"
    line = next((ln for ln in lines if _ERROR.search(ln)), lines[-1])
    return line[:300]


def collect(
    results: str | os.PathLike, workdir: str | os.PathLike = ".", video_ids: list[str] | None = None
) -> Status:
    """The status of every video in ``results`` (or of ``video_ids``), markers read in ``workdir``."""
    results = Path(results)
    incomplete = incomplete_outputs(workdir)
    pids = snakemake_processes(workdir)
    outputs = {s: _files(results / folder, suffix) for s, (folder, suffix) in STAGE_OUTPUTS.items()}
    logs = {s: _files(results / "logs" / s, ".log") for s in STAGE_OUTPUTS}
    parts = _hidden_parts(results / "detections", ".parquet")
    if video_ids is None:
        seen = set().union(*outputs.values(), *logs.values(), parts)
        ids = sorted(i for i in seen if not i.endswith(".ffmpeg"))
    else:
        ids = list(video_ids)
    status = Status(str(results), len(ids), pids)
    status.summary_done = (results / "summary.html").is_file() and (
        os.path.abspath(results / "summary.html") not in incomplete
    )
    marked = _marked(incomplete, results)
    for stage in STAGE_OUTPUTS:
        counts: Counter = Counter()
        done, stage_logs = outputs[stage], logs[stage]
        for vid in ids:
            path = done.get(vid)
            if (stage, vid) in marked:
                state = "running" if pids else "interrupted"
                item: dict[str, Any] = {"id": vid, "stage": stage, "state": state}
                if stage == "detect" and vid in parts:
                    item["frames_saved"] = _frames_saved(parts[vid])
                status.unfinished.append(item)
            elif path is not None:
                state = "done"
            elif vid in stage_logs:
                state = "failed"
                log = stage_logs[vid]
                status.failed.append({"id": vid, "stage": stage, "cause": failure_cause(log), "log": log})
            else:
                state = "not_started"
            counts[state] += 1
        status.stages[stage] = counts
    return status


def _marked(incomplete: set[str], results: Path) -> set[tuple[str, str]]:
    """(stage, id) of each stage output among the incomplete paths (either layout)."""
    root = os.path.abspath(results)
    by_folder = {folder: (stage, suffix) for stage, (folder, suffix) in STAGE_OUTPUTS.items()}
    out = set()
    for path in incomplete:
        rel = os.path.relpath(path, root).split(os.sep)
        if len(rel) in (2, 3) and rel[0] in by_folder and rel[-1].endswith(by_folder[rel[0]][1]):
            stage, suffix = by_folder[rel[0]]
            out.add((stage, rel[-1][: -len(suffix)]))
    return out


def format_status(status: Status) -> str:
    """The human-readable report."""
    d = status.as_dict()
    if status.snakemake_pids:
        run = f"running (pid {', '.join(map(str, status.snakemake_pids))})"
    elif status.unfinished:
        run = (
            f"not running; a killed run left {len(status.unfinished)} unfinished job(s): rerun with "
            "--rerun-incomplete (after --unlock)"
        )
    else:
        run = "not running"
    lines = [f"{status.results}: {status.videos} video(s); snakemake: {run}", ""]
    head = ("stage", "done", "running", "interrupted", "failed", "not started")
    lines.append(f"{head[0]:<11}" + "".join(f"{h:>13}" for h in head[1:]))
    for stage, c in d["stages"].items():
        lines.append(f"{stage:<11}" + "".join(f"{c[k]:>13}" for k in STATES))
    lines.append(f"summary: {'done' if status.summary_done else 'not made yet'}")
    if status.unfinished:
        lines += ["", "unfinished:"]
        for u in status.unfinished:
            saved = f" ({u['frames_saved']} frames saved)" if "frames_saved" in u else ""
            lines.append(f"  {u['stage']:<11}{u['id']}: {u['state']}{saved}")
    if status.failed:
        lines += ["", "failed:"]
        lines += [f"  {f['stage']:<11}{f['id']}: {f['cause']}" for f in status.failed]
    return "\n".join(lines)
