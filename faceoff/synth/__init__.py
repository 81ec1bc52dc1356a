"""Synthetic test/demo media: tiny clips with known content, timestamps, rotation and extra streams."""

from faceoff.synth.clips import (
    pattern_frames,
    pattern_index,
    write_audio,
    write_clip,
    write_truncated,
)

__all__ = ["pattern_frames", "pattern_index", "write_audio", "write_clip", "write_truncated"]
