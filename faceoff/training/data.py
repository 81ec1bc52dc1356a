"""Training frames from videos and their annotations (our Parquet box tables, COCO, CVAT, MOT).

Only annotated frames are sampled (frames holding at least one annotated box, ``ignore`` ones included),
evenly over each video: a frame without rows may simply not have been annotated (COCO and CVAT exports
often cover a subset), so it is never taken as a face-free example. Frames are decoded with
:func:`faceoff.decode.iter_frames` at the detection size (``width`` as ``detect.width``), only the chosen
ones are kept, and boxes are scaled to that size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from faceoff.annotations import detect_format, load_annotations
from faceoff.detectors.centerface_net import file_sha256
from faceoff.errors import FaceOffError

__all__ = [
    "ANNOTATION_SUFFIXES",
    "AnnotatedVideo",
    "Sample",
    "evenly",
    "find_annotations",
    "load_samples",
    "samples_table",
    "split_items",
]

ANNOTATION_SUFFIXES = (".parquet", ".json", ".xml", ".txt", ".csv")


@dataclass(frozen=True)
class AnnotatedVideo:
    """A video and its ground truth."""

    video: Path
    annotations: Path
    id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "video", Path(self.video))
        object.__setattr__(self, "annotations", Path(self.annotations))
        if not self.id:
            object.__setattr__(self, "id", self.video.stem)


@dataclass
class Sample:
    """One training frame: RGB at training size and its boxes in those pixels."""

    image: np.ndarray  # (H, W, 3) uint8
    boxes: np.ndarray  # (N, 4) float32 x1 y1 x2 y2
    ignore: np.ndarray  # (N,) bool: neither a face nor background (not scored, not trained on)
    masked: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # (N,) bool: already masked
    source: str = ""
    frame_index: int = -1

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.ignore = np.asarray(self.ignore, bool).reshape(-1)
        if len(self.masked) != len(self.boxes):
            self.masked = np.zeros(len(self.boxes), bool)


def find_annotations(videos: dict[str, str | Path], folder: str | Path) -> list[AnnotatedVideo]:
    """The videos (``{id: path}``) with an ``{id}.parquet|json|xml|txt|csv`` in ``folder``, in id order."""
    out = []
    for vid in sorted(videos):
        for suffix in ANNOTATION_SUFFIXES:
            ann = Path(folder) / f"{vid}{suffix}"
            if ann.is_file():
                out.append(AnnotatedVideo(Path(videos[vid]), ann, vid))
                break
    return out


def evenly(candidates: Sequence[int], k: int) -> list[int]:
    """``k`` of ``candidates`` spread evenly (all of them when there are at most ``k``), sorted."""
    values = sorted(int(c) for c in candidates)
    if len(values) <= k:
        return values
    picks = np.linspace(0, len(values) - 1, k).round().astype(int)
    return sorted({values[i] for i in picks})


def split_items(
    items: Sequence[AnnotatedVideo], share: float, seed: int
) -> tuple[list[AnnotatedVideo], list[AnnotatedVideo]]:
    """Hold out ``share`` of the videos (at least one) for validation; needs two videos or more."""
    if len(items) < 2:
        raise ValueError("splitting by video needs two videos or more")
    order = np.random.default_rng(seed).permutation(len(items))
    n_val = min(len(items) - 1, max(1, round(share * len(items))))
    val = {int(i) for i in order[:n_val]}
    return [it for i, it in enumerate(items) if i not in val], [it for i, it in enumerate(items) if i in val]


def _flag(df: pd.DataFrame, name: str) -> np.ndarray:
    if name not in df.columns:
        return np.zeros(len(df), bool)
    return df[name].astype("boolean").fillna(False).to_numpy(bool)


def load_samples(
    item: AnnotatedVideo,
    frames_per_video: int,
    width: int,
    *,
    frame_range: tuple[float, float] = (0.0, 1.0),
) -> tuple[list[Sample], dict[str, Any]]:
    """Decode up to ``frames_per_video`` annotated frames of ``item`` (evenly spread).

    ``frame_range``: the part of the video (fractions of its frames) to draw from, e.g. ``(0.8, 1.0)`` for
    a validation tail. Returns the samples and the data record for the model card (files, sha256, counts).
    """
    from faceoff.decode import detection_size, iter_frames
    from faceoff.probe import probe_video

    info = probe_video(item.video)
    try:
        gt = load_annotations(item.annotations, frame_count=info.frame_count, pts_time=info.pts_time)
    except ValueError as err:
        raise FaceOffError(str(err)) from None
    lo, hi = (round(f * info.frame_count) for f in frame_range)
    annotated = gt["frame_index"].unique()
    annotated = annotated[(annotated >= lo) & (annotated < hi)]
    chosen = set(evenly(annotated, frames_per_video))
    size = detection_size(info, width)
    sx, sy = (size[0] / info.width, size[1] / info.height) if size else (1.0, 1.0)
    by_frame = {int(f): g for f, g in gt[gt["frame_index"].isin(chosen)].groupby("frame_index")}
    samples: list[Sample] = []
    last = max(chosen) if chosen else -1
    if chosen:
        for indices, frames in iter_frames(item.video, info, batch_size=16, size=size):
            for index, frame in zip(indices, frames, strict=True):
                g = by_frame.get(int(index))
                if g is None:
                    continue
                boxes = g[["x1", "y1", "x2", "y2"]].to_numpy(np.float32) * np.float32([sx, sy, sx, sy])
                samples.append(
                    Sample(
                        image=frame.copy(),
                        boxes=boxes,
                        ignore=_flag(g, "ignore"),
                        masked=_flag(g, "masked"),
                        source=item.id,
                        frame_index=int(index),
                    )
                )
            if indices[-1] >= last:
                break  # the rest of the video holds no chosen frame
    n_faces = sum(int((~s.ignore).sum()) for s in samples)
    record = {
        "id": item.id,
        "video": str(item.video),
        "video_sha256": info.sha256,
        "annotations": str(item.annotations),
        "annotations_sha256": file_sha256(item.annotations),
        "annotations_format": detect_format(item.annotations),
        "frame_range": list(frame_range),
        "frames_annotated": int(len(annotated)),
        "frames_used": len(samples),
        "faces": n_faces,
        "ignored_boxes": sum(int(s.ignore.sum()) for s in samples),
        "size": list(size or (info.width, info.height)),
    }
    return samples, record


def samples_table(samples: Iterable[Sample]) -> pd.DataFrame:
    """Ground truth of ``samples`` as a box table, ``frame_index`` = sample number (for scoring)."""
    rows = []
    for i, s in enumerate(samples):
        for box, ign in zip(s.boxes, s.ignore, strict=True):
            rows.append((i, *map(float, box), bool(ign)))
    df = pd.DataFrame(rows, columns=["frame_index", "x1", "y1", "x2", "y2", "ignore"])
    return df.astype({"frame_index": np.int64, "ignore": bool})
