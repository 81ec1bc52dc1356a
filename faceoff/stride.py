"""Which frames the detector looks at under ``detect.stride``, and the record of them in the table.

With stride *k* the first pass detects frames 0, k, 2k, ... and the last frame (:func:`strided`).
Because the work is offline, a second pass can go back (``detect.stride_revisit``):
:func:`revisit` picks the skipped frames between two detected frames ``a`` and ``b`` when a face there
may start, end or be weakly seen:

- a box on ``a`` with no counterpart on ``b``, or on ``b`` with none on ``a`` (a track's last or first
  detected frame, either side of a gap; fast motion looks the same and is revisited too);
- a weak (score below ``weak_score``) or small (narrower than ``small_face``) box on ``a`` or ``b``.

A counterpart is a box on the other frame overlapping it (IoU >= :data:`LINK_IOU`) or whose centre lies
within :data:`LINK_REACH` box widths of its centre. Every skipped frame lies between two detected frames
(frame 0 and the last frame are always detected), so this leaves no frame next to a face unexamined
that the rules name.

The detections table records the frames that were detected (:func:`detected_record`, read back by
:func:`detected_frames`), so that regularize never takes "not looked at" for "no face".
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np

from faceoff.config import DetectConfig, params_from
from faceoff.metrics import iou_matrix

LINK_IOU = 0.1  # boxes on neighbouring detected frames overlapping this much are one face
LINK_REACH = 1.0  # ... or with centres within this many box widths (of the wider box)


@dataclass(frozen=True)
class RevisitParams:
    """What makes a box worth detecting its skipped neighbours: the ``detect.stride_*`` keys (defaults
    and meaning there, :class:`faceoff.config.DetectConfig`)."""

    weak_score: float
    small_face: float  # detection pixels

    @classmethod
    def from_config(cls, cfg: DetectConfig) -> RevisitParams:
        """From the ``detect`` section."""
        return params_from(cls, cfg, prefix="stride_")


def strided(n_frames: int, stride: int) -> np.ndarray:
    """(n_frames,) bool: the frames the first pass detects, every ``stride``-th and the last."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    look = np.arange(n_frames) % stride == 0
    if n_frames:
        look[-1] = True
    return look


def _unmatched(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a),) bool: boxes of ``a`` (N,4+) with no counterpart among ``b`` (M,4+)."""
    if not len(b):
        return np.ones(len(a), dtype=bool)
    near = iou_matrix(a[:, :4], b[:, :4]) >= LINK_IOU
    ca = (a[:, None, :2] + a[:, None, 2:4]) / 2
    cb = (b[None, :, :2] + b[None, :, 2:4]) / 2
    width = np.maximum(a[:, None, 2] - a[:, None, 0], b[None, :, 2] - b[None, :, 0])
    near |= np.linalg.norm(ca - cb, axis=2) <= LINK_REACH * np.maximum(width, 1.0)
    return ~near.any(axis=1)


def revisit(rows: np.ndarray, looked: np.ndarray, params: RevisitParams, scale: float = 1.0) -> np.ndarray:
    """(n_frames,) bool: the skipped frames to detect after all (module docstring).

    ``rows``: (N,6) detections of the looked-at frames, ``frame_index x1 y1 x2 y2 score``;
    ``looked``: (n_frames,) bool, the frames detected so far; ``scale``: box pixels per detection pixel.
    """
    out = np.zeros(len(looked), dtype=bool)
    frames = np.flatnonzero(looked)
    if len(frames) < 2:
        return out
    rows = rows[np.argsort(rows[:, 0], kind="stable")]
    bounds = np.searchsorted(rows[:, 0], np.r_[frames, frames[-1] + 1])
    boxes = [rows[s:e, 1:6] for s, e in zip(bounds[:-1], bounds[1:], strict=True)]
    small = params.small_face * scale
    notable = [(b[:, 4] < params.weak_score) | (b[:, 2] - b[:, 0] < small) for b in boxes]
    for i in np.flatnonzero(np.diff(frames) > 1):
        a, b = boxes[i], boxes[i + 1]
        if not (len(a) or len(b)):
            continue
        if notable[i].any() or notable[i + 1].any() or _unmatched(a, b).any() or _unmatched(b, a).any():
            out[frames[i] + 1 : frames[i + 1]] = True
    return out


def detected_record(detected: np.ndarray) -> dict[str, Any]:
    """The table-metadata record of which frames were detected: a bitmap, packed and base64-encoded."""
    return {"n": int(len(detected)), "bits": base64.b64encode(np.packbits(detected)).decode("ascii")}


def detected_frames(meta: dict[str, Any], n_frames: int) -> np.ndarray | None:
    """(n_frames,) bool from a detections table's metadata: the frames the detector looked at; None when
    the table records none (it was detected on every frame). A record for another frame count is an error."""
    record = meta.get("detected_frames")
    if record is None:
        return None
    if int(record["n"]) != n_frames:
        raise ValueError(f"detected-frames record for {record['n']} frames, the video has {n_frames}")
    bits = np.frombuffer(base64.b64decode(record["bits"]), dtype=np.uint8)
    return np.unpackbits(bits, count=n_frames).astype(bool)


def longest_skip(detected: np.ndarray) -> int:
    """The most consecutive frames that were not detected."""
    edges = np.flatnonzero(np.diff(np.r_[True, detected, True].astype(np.int8)))
    return int(np.max(edges[1::2] - edges[::2], initial=0))
