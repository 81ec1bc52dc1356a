"""The box table: one Parquet row per face box, shared by detections, tracks and annotations.

Columns: ``frame_index`` int64 (0-based, presentation order), ``pts_time`` float64 seconds,
``x1 y1 x2 y2`` float32 pixels in the displayed frame at source resolution, ``score`` float32.
Tracks add ``track_id`` int64, ``source`` string (:data:`SOURCES`; ``unconfirmed``: a detection that no
confirmed track holds, hidden on its own frame, ``regularize.keep_score``; ``manual``: a reviewer's box,
:mod:`faceoff.corrections`) and ``pad`` float32: pixels the render stage adds on
every side of the box before scaling it (the motion margin of a moving face; 0 if the column is absent),
so ``x1 y1 x2 y2`` stay the estimate of the face itself. Annotations may add bool flags
(``ignore``, ``masked``, ``occluded``). File-level metadata is stored as string key/values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from faceoff.atomic import atomic_output
from faceoff.errors import FaceOffError

if TYPE_CHECKING:
    from faceoff.probe import ProbeInfo

BASE_FIELDS = [
    pa.field("frame_index", pa.int64()),
    pa.field("pts_time", pa.float64()),
    pa.field("x1", pa.float32()),
    pa.field("y1", pa.float32()),
    pa.field("x2", pa.float32()),
    pa.field("y2", pa.float32()),
    pa.field("score", pa.float32()),
]
TRACK_FIELDS = [
    pa.field("track_id", pa.int64()),
    pa.field("source", pa.string()),
    pa.field("pad", pa.float32()),
]
DETECTION_SCHEMA = pa.schema(BASE_FIELDS)
TRACK_SCHEMA = pa.schema(BASE_FIELDS + TRACK_FIELDS)
XYXY = ["x1", "y1", "x2", "y2"]  # the box columns of every box table
SOURCES = ("detected", "propagated", "interpolated", "extended", "followed", "unconfirmed", "manual")
FLAG_COLUMNS = ("ignore", "masked", "occluded")
META_KEY = b"faceoff"


def empty_frame(schema: pa.Schema = DETECTION_SCHEMA) -> pd.DataFrame:
    """An empty DataFrame with the columns and dtypes of ``schema``."""
    return schema.empty_table().to_pandas()


def to_table(df: pd.DataFrame, schema: pa.Schema, metadata: dict[str, Any]) -> pa.Table:
    """Cast ``df`` to ``schema`` (sorted by frame, then x1) and attach FaceOff metadata."""
    if "pad" in schema.names:
        df = df.assign(pad=pads(df))  # absent or missing: 0, as readers take it
    extra = [f for f in df.columns if f not in schema.names and f in FLAG_COLUMNS]
    fields = list(schema) + [pa.field(f, pa.bool_()) for f in extra]
    full = pa.schema(fields)
    df = df.sort_values(["frame_index", "x1"], kind="stable").reset_index(drop=True)
    table = pa.Table.from_pandas(df[[f.name for f in fields]], schema=full, preserve_index=False)
    meta = {META_KEY: json.dumps(metadata, sort_keys=True, default=str).encode()}
    return table.replace_schema_metadata(meta)


def write_boxes(
    df: pd.DataFrame, path: str | Path, metadata: dict[str, Any], schema: pa.Schema = DETECTION_SCHEMA
) -> None:
    """Write a box table atomically (:mod:`faceoff.atomic`)."""
    with atomic_output(path) as tmp:
        pq.write_table(to_table(df, schema, metadata), tmp)


def read_boxes(path: str | Path) -> pd.DataFrame:
    """Read a box table written by :func:`write_boxes` (or an annotation file in the same schema)."""
    df = pq.read_table(path).to_pandas()
    missing = [f.name for f in BASE_FIELDS if f.name not in df.columns and f.name != "score"]
    if missing:
        raise ValueError(f"{path}: not a box table, missing columns {missing}")
    if "score" not in df.columns:
        df["score"] = np.float32(1.0)
    return df


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The FaceOff metadata stored in a box table's Parquet footer (empty if none)."""
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(META_KEY)
    return json.loads(raw) if raw else {}


def check_made_for(path: str | Path, info: ProbeInfo) -> None:
    """Raise FaceOffError unless the box table at ``path`` was made for ``info``'s frame count and size
    (where its metadata records them): boxes must never be applied to another video's frames."""
    meta = read_metadata(path)
    for key, have in (("frame_count", info.frame_count), ("width", info.width), ("height", info.height)):
        if meta.get(key) not in (None, have):
            raise FaceOffError(f"{path}: made for {key} {meta[key]}, the video has {have}")


def boxes_array(df: pd.DataFrame) -> np.ndarray:
    """The ``x1 y1 x2 y2`` columns as an (N, 4) float32 array."""
    return df[XYXY].to_numpy(dtype=np.float32)


def pads(df: pd.DataFrame) -> np.ndarray:
    """Each row's ``pad`` (N,) float32; 0 where the column or a value is missing."""
    if "pad" not in df.columns:
        return np.zeros(len(df), dtype=np.float32)
    return df["pad"].fillna(0.0).to_numpy(dtype=np.float32)


def hidden_boxes(df: pd.DataFrame) -> np.ndarray:
    """The boxes the render stage hides (before ``box_scale``): ``x1 y1 x2 y2`` widened by ``pad``."""
    pad = pads(df)[:, None]
    return boxes_array(df) + np.concatenate([-pad, -pad, pad, pad], axis=1)


def clip_to_frame(df: pd.DataFrame, width: int, height: int) -> pd.DataFrame:
    """``df`` with its boxes clipped to a ``width`` x ``height`` frame; boxes left with no area dropped."""
    df = df.copy()
    df[["x1", "x2"]] = df[["x1", "x2"]].clip(0, width)
    df[["y1", "y2"]] = df[["y1", "y2"]].clip(0, height)
    return df[(df.x2 > df.x1) & (df.y2 > df.y1)]


def boxes_by_frame(df: pd.DataFrame, hidden: bool = False) -> dict[int, np.ndarray]:
    """``{frame_index: (N,4) boxes}`` for the frames that have boxes; ``hidden``: as the render hides
    them (:func:`hidden_boxes`)."""
    if df.empty:
        return {}
    coords = hidden_boxes(df) if hidden else boxes_array(df)
    frames = df["frame_index"].to_numpy()
    order = np.argsort(frames, kind="stable")
    uniq, starts = np.unique(frames[order], return_index=True)
    return {int(f): coords[idx] for f, idx in zip(uniq, np.split(order, starts[1:]), strict=True)}
