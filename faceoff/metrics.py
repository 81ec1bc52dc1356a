"""Detection metrics against ground-truth annotations: IoU, per-frame one-to-one matching, recall.

Matching is done independently per frame. Ground-truth rows flagged ``ignore`` are neither
counted as misses nor do predictions matched to them count as false positives.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from faceoff.boxes import boxes_array

EVAL_FLAGS = ("masked", "occluded")


def areas(boxes: np.ndarray) -> np.ndarray:
    """Areas of ``x1 y1 x2 y2`` boxes (N, 4) -> (N,) float64; degenerate boxes have area 0."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def intersection_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection areas of ``x1 y1 x2 y2`` boxes: (N, 4) x (M, 4) -> (N, M) float64."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(iw, 0, None) * np.clip(ih, 0, None)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``x1 y1 x2 y2`` boxes: (N, 4) x (M, 4) -> (N, M) float64.

    Degenerate boxes (zero or negative width/height) have zero area and IoU 0 with everything.
    """
    inter = intersection_matrix(a, b)
    union = areas(a)[:, None] + areas(b)[None, :] - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def match_boxes(pred: np.ndarray, gt: np.ndarray, iou: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of ``pred`` to ``gt`` boxes with IoU >= ``iou``.

    Uses ``linear_sum_assignment`` maximising IoU over the pairs at or above the threshold
    (pairs below it are rejected, and the number of matches is maximised first so a greedy
    high-IoU pair cannot cost another match). Returns matched (pred indices, gt indices).
    """
    m = iou_matrix(pred, gt)
    if m.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    valid = m >= iou
    if not valid.any():
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    bonus = float(min(m.shape) + 1)  # one extra match outweighs any difference in summed IoU
    weight = np.where(valid, m + bonus, 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    keep = valid[rows, cols]
    return rows[keep].astype(np.int64), cols[keep].astype(np.int64)


def _flag(df: pd.DataFrame, name: str) -> np.ndarray:
    """Boolean flag column as an array; missing column or null values read as False."""
    if name not in df.columns:
        return np.zeros(len(df), dtype=bool)
    return df[name].astype("boolean").fillna(False).to_numpy(dtype=bool)


def _frames_boxes(df: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    if df is None or len(df) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 4), dtype=np.float32)
    return df["frame_index"].to_numpy(dtype=np.int64), boxes_array(df)


def _ratio(num: int, den: int) -> float | None:
    return float(num) / float(den) if den else None


def evaluate(
    pred_df: pd.DataFrame, gt_df: pd.DataFrame, iou: float = 0.5, frames: Iterable[int] | None = None
) -> dict[str, Any]:
    """Compare predicted boxes with ground truth, frame by frame.

    Predictions are first matched one-to-one to non-ignored GT; the remaining predictions are
    then matched one-to-one to ``ignore`` GT and dropped (neither TP nor FP). ``frames``
    restricts the evaluation to those frame indices (e.g. the annotated frames); by default every
    frame present in either table counts. ``recall``/``precision`` are None when undefined.
    ``per_flag`` holds recall on the non-ignored GT subset with ``masked``/``occluded`` True,
    for each flag column present in ``gt_df``.
    """
    pf, pb = _frames_boxes(pred_df)
    gf, gb = _frames_boxes(gt_df)
    n_gt_rows = len(gf)
    ignore = _flag(gt_df, "ignore") if n_gt_rows else np.zeros(0, dtype=bool)
    flag_names = [f for f in EVAL_FLAGS if gt_df is not None and f in gt_df.columns]
    flags = {f: _flag(gt_df, f) for f in flag_names}

    if frames is not None:
        frame_set = np.unique(np.fromiter((int(f) for f in frames), dtype=np.int64))
        pkeep, gkeep = np.isin(pf, frame_set), np.isin(gf, frame_set)
        pf, pb = pf[pkeep], pb[pkeep]
        gf, gb, ignore = gf[gkeep], gb[gkeep], ignore[gkeep]
        flags = {f: v[gkeep] for f, v in flags.items()}
        frames_evaluated = len(frame_set)
    else:
        frames_evaluated = len(np.union1d(pf, gf))

    pred_tp = np.zeros(len(pf), dtype=bool)
    pred_ign = np.zeros(len(pf), dtype=bool)
    gt_hit = np.zeros(len(gf), dtype=bool)

    porder, gorder = np.argsort(pf, kind="stable"), np.argsort(gf, kind="stable")
    pf_sorted, gf_sorted = pf[porder], gf[gorder]
    for f in np.intersect1d(pf, gf):
        p = porder[np.searchsorted(pf_sorted, f, "left") : np.searchsorted(pf_sorted, f, "right")]
        g = gorder[np.searchsorted(gf_sorted, f, "left") : np.searchsorted(gf_sorted, f, "right")]
        g_valid, g_ign = g[~ignore[g]], g[ignore[g]]
        if len(g_valid):
            rows, cols = match_boxes(pb[p], gb[g_valid], iou)
            pred_tp[p[rows]] = True
            gt_hit[g_valid[cols]] = True
        rest = p[~pred_tp[p]]
        if len(g_ign) and len(rest):
            rows, _ = match_boxes(pb[rest], gb[g_ign], iou)
            pred_ign[rest[rows]] = True

    valid = ~ignore
    tp = int(gt_hit[valid].sum())
    n_gt = int(valid.sum())
    n_ignored_pred = int(pred_ign.sum())
    fp = int(len(pf) - tp - n_ignored_pred)
    fn = n_gt - tp
    per_flag = {}
    for name, flag in flags.items():
        subset = flag & valid
        n, hit = int(subset.sum()), int((gt_hit & subset).sum())
        per_flag[name] = {"n_gt": n, "tp": hit, "recall": _ratio(hit, n)}
    return {
        "iou": float(iou),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "recall": _ratio(tp, n_gt),
        "precision": _ratio(tp, tp + fp),
        "n_gt": n_gt,
        "n_pred": int(len(pf)),
        "n_gt_ignored": int(ignore.sum()),
        "n_pred_ignored": n_ignored_pred,
        "frames_evaluated": int(frames_evaluated),
        "per_flag": per_flag,
    }
