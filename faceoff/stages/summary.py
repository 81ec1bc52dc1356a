"""The summary stage: every video's report -> ``summary.html`` and ``summary.csv``. The page is built by
:mod:`faceoff.summary`."""

from __future__ import annotations

from pathlib import Path

from faceoff.summary import write_summary


def run_summary(
    reports: list[str | Path],
    detections: list[str | Path],
    tracks: list[str | Path],
    out_html: str | Path,
    out_csv: str | Path,
) -> None:
    """Write the summary of the videos whose reports, detections and tracks are given (aligned lists)."""
    write_summary(reports, detections, tracks, out_html, out_csv)
