"""What every stage records about how its output was made: version, parameters, source, timing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faceoff import __version__

if TYPE_CHECKING:
    from faceoff.probe import ProbeInfo


def timing(seconds: float, frames: int) -> dict[str, float]:
    """Wall time of a stage and its frames per second."""
    return {
        "seconds": round(seconds, 4),
        "frames_per_second": round(frames / seconds, 3) if seconds > 0 else 0.0,
    }


def stage_metadata(stage: str, info: ProbeInfo, params_hash: str) -> dict:
    """The metadata a box table carries: who made it, with which parameters, for which video."""
    return {
        "faceoff_version": __version__,
        "stage": stage,
        "params_hash": params_hash,
        "source_sha256": info.sha256,
        "width": info.width,
        "height": info.height,
        "frame_count": info.frame_count,
    }
