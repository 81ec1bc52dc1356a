"""The summary stage: the report JSONs -> ``summary.html`` (index) and ``summary.csv``. The page is built
by :mod:`faceoff.summary`; videos that failed come from :mod:`faceoff.status`."""

from __future__ import annotations

import os
from pathlib import Path

from faceoff.status import collect
from faceoff.summary import find_reports, write_summary


def run_summary(
    out_html: str | Path,
    out_csv: str | Path,
    *,
    results: str | os.PathLike | None = None,
    reports: list[str | Path] | None = None,
    workdir: str | os.PathLike = ".",
    redact_causes: bool = False,
) -> int:
    """Summarise every report in ``results`` (listing its failed videos first; Snakemake's markers in
    ``workdir``), or the given ``reports``; returns the number of reports. ``redact_causes`` leaves out
    the failures' causes (log lines name input files: with pseudonyms the page must not)."""
    failures = None
    if results is not None:
        reports = find_reports(results)
        failed = collect(results, workdir=workdir).failed
        failures = {
            f["id"]: (f["stage"], "see its log" if redact_causes else f["cause"], f["log"]) for f in failed
        }
    reports = list(reports or [])
    write_summary(reports, out_html, out_csv, failures=failures)
    return len(reports)
