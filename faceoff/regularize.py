"""Temporal regularisation of detections (the paper's temporal kernel).

A detection at frame ``t`` also covers frames ``t-k .. t+k``: offline and bidirectional, so a face
missed for up to ``2k`` frames between two detections, or ``k`` frames at either end of a run, is still
covered. On each frame, boxes overlapping at ``merge_iou`` or more are one face: it takes the box of the
detection nearest in time (a frame's own detection wins; equally near ones are united), so a moving face
keeps a tight box instead of the smear of every box within the window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from faceoff.boxes import TRACK_SCHEMA, empty_frame
from faceoff.metrics import iou_matrix


def _merge_frame(boxes: np.ndarray, merge_iou: float) -> np.ndarray:
    """Cluster label per box: connected components of the IoU >= merge_iou graph."""
    if len(boxes) == 1:
        return np.zeros(1, dtype=np.int64)
    iou = iou_matrix(boxes, boxes)
    adjacency = (iou > 0) & (iou >= merge_iou)  # boxes that do not overlap never merge
    _, labels = connected_components(csr_matrix(adjacency), directed=False)
    return labels.astype(np.int64)


def kernel_regularize(
    detections: pd.DataFrame, pts_time: np.ndarray, kernel_radius: int, merge_iou: float
) -> pd.DataFrame:
    """Spread each detection over ``±kernel_radius`` frames and merge overlaps per frame.

    ``pts_time`` holds the timestamp of every frame (its length is the frame count). Each output row
    is the union of the boxes merged into it, with the highest contributing ``score``; ``source`` is
    ``detected`` when a detection of that very frame contributed, else ``propagated``; ``track_id`` is
    the row number (in the input) of the highest-scoring contributing detection.
    """
    n_frames = len(pts_time)
    if detections.empty or n_frames == 0:
        return empty_frame(TRACK_SCHEMA)
    det = detections.reset_index(drop=True)
    offsets = np.arange(-kernel_radius, kernel_radius + 1)
    det_id = np.repeat(np.arange(len(det)), len(offsets))
    frames = det["frame_index"].to_numpy()[det_id] + np.tile(offsets, len(det))
    keep = (frames >= 0) & (frames < n_frames)
    det_id, frames = det_id[keep], frames[keep]
    coords = det[["x1", "y1", "x2", "y2"]].to_numpy(np.float64)[det_id]
    scores = det["score"].to_numpy(np.float64)[det_id]
    dist = np.abs(frames - det["frame_index"].to_numpy()[det_id])

    order = np.lexsort((-scores, dist, frames))  # per frame: nearest in time first, then best score
    det_id, frames, coords, scores, dist = (
        det_id[order],
        frames[order],
        coords[order],
        scores[order],
        dist[order],
    )
    starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]])
    ends = np.r_[starts[1:], len(frames)]

    out = []
    for s, e in zip(starts, ends, strict=True):
        labels = _merge_frame(coords[s:e], merge_iou)
        for lab in np.unique(labels):
            idx = s + np.flatnonzero(labels == lab)
            idx = idx[dist[idx] == dist[idx[0]]]  # the nearest detections in time
            box = coords[idx]
            best = idx[0]
            out.append(
                (
                    frames[s],
                    box[:, 0].min(),
                    box[:, 1].min(),
                    box[:, 2].max(),
                    box[:, 3].max(),
                    scores[best],
                    det_id[best],
                    "detected" if dist[best] == 0 else "propagated",
                )
            )
    tracks = pd.DataFrame(out, columns=["frame_index", "x1", "y1", "x2", "y2", "score", "track_id", "source"])
    tracks["pad"] = 0.0
    tracks["pts_time"] = np.asarray(pts_time, dtype=np.float64)[tracks["frame_index"].to_numpy()]
    return tracks
