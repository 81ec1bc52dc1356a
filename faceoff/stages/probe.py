"""The probe stage: index a video's frames (count, timestamps, size, rotation, streams) and find its shot
cuts -> probe JSON."""

from __future__ import annotations

import time
from pathlib import Path

from faceoff.config import ShotsConfig
from faceoff.probe import ProbeInfo, probe_video, write_probe
from faceoff.shots import ShotParams, find_cuts


def run_probe(video: str | Path, out: str | Path, cfg: ShotsConfig, redact_path: bool = False) -> ProbeInfo:
    """Probe ``video``, find its shot cuts (``cfg``) and write its probe JSON to ``out``; ``redact_path``
    records no input path (pseudonymised archives). ``seconds`` counts both passes."""
    start = time.perf_counter()
    info = probe_video(video)
    info.cuts = find_cuts(video, info, ShotParams.from_config(cfg))
    info.seconds = time.perf_counter() - start
    if redact_path:
        info.path = "(redacted)"
    write_probe(info, out)
    return info
