"""The probe stage: index a video's frames (count, timestamps, size, rotation, streams) -> probe JSON."""

from __future__ import annotations

from pathlib import Path

from faceoff.probe import ProbeInfo, probe_video, write_probe


def run_probe(video: str | Path, out: str | Path, redact_path: bool = False) -> ProbeInfo:
    """Probe ``video`` and write its probe JSON to ``out``; ``redact_path`` records no input path
    (pseudonymised archives)."""
    info = probe_video(video)
    if redact_path:
        info.path = "(redacted)"
    write_probe(info, out)
    return info
