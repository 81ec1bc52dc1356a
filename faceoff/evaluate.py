"""Privacy evaluation against annotated faces: coverage by the rendered region, plus recall/precision.

Recall at IoU 0.5 (:func:`faceoff.metrics.evaluate`) is the paper's metric, but a box can match at
IoU 0.5 and still leave an eye or the mouth visible, and a box that misses the IoU threshold can
still hide the whole face. Privacy is about pixels, so :func:`coverage` measures, for every
annotated face, the share of its box that lies inside the region the render stage actually hides
(:func:`faceoff.anonymize.covered_mask`: the hidden boxes scaled by ``box_scale`` about their centre,
as an ellipse or a rectangle, clipped to the frame).

Pixel convention: a ground-truth box covers the pixels whose centres lie inside it, i.e. columns
``ceil(x1 - 0.5) .. ceil(x2 - 0.5) - 1`` (for integer boxes exactly ``x1 .. x2 - 1``), clipped to the
frame. A box too thin to contain a pixel centre counts as the single pixel holding its centre; a box
wholly outside the frame shows nothing and counts as fully covered (fraction 1.0).

GT rows flagged ``ignore`` are excluded everywhere except in :func:`collateral`, where every annotated
face (``ignore`` ones too) counts as face: hiding it is no collateral damage.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from faceoff.anonymize import Region, covered_mask, hidden_regions, region_mask
from faceoff.boxes import boxes_array, hidden_boxes
from faceoff.config import RenderConfig
from faceoff.metrics import EVAL_FLAGS, evaluate, iou_matrix

# A GT face counts as covered when at least 90 % of its box area is hidden. Not 100 %: a face box
# is a rectangle around a roughly elliptical face, so its corners are mostly hair and background
# (an ellipse inscribed in the box is only pi/4 = 78.5 % of it), and annotators' boxes jitter by a
# few pixels. With the render ellipse at box_scale 1.3 a box placed exactly on the face
# hides 98.6 % of it, and still over 90 % when shifted by 10 % of the box size along both axes; a
# half-hidden face or a missed one falls far below. Not much lower either: a fifth of a face box left
# visible can show an eye or the mouth.
COVERED_AT = 0.9


def _regions(boxes: np.ndarray, render: RenderConfig, width: int, height: int) -> list[Region]:
    """The non-empty hidden regions exactly as the renderer computes them."""
    return [r for r in hidden_regions(boxes, render, width, height) if not r.empty]


def _gt_windows(gt: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel windows ``x0 y0 x1 y1`` (N,4) of GT boxes (pixel-centre rule) and a mask of boxes in view."""
    g = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    lo = np.ceil(g[:, :2] - 0.5)
    hi = np.ceil(g[:, 2:] - 0.5)
    # too thin for any pixel centre: the pixel holding the box centre
    centre = np.floor((g[:, :2] + g[:, 2:]) / 2)
    thin = hi <= lo
    lo = np.where(thin, centre, lo)
    hi = np.where(thin, centre + 1, hi)
    size = np.array([width, height], dtype=np.float64)
    lo, hi = np.clip(lo, 0, size), np.clip(hi, 0, size)
    win = np.concatenate([lo, hi], axis=1).astype(np.int64)
    visible = (win[:, 2] > win[:, 0]) & (win[:, 3] > win[:, 1]) & np.isfinite(g).all(axis=1)
    return win, visible


def _paint(win: np.ndarray, wx0: int, wy0: int, reg: Region, shape: str) -> None:
    """OR the hidden pixels of one region into ``win`` (a window whose top-left pixel is (wx0, wy0))."""
    h, w = win.shape
    ix0, iy0 = max(reg.x1, wx0), max(reg.y1, wy0)
    ix1, iy1 = min(reg.x2, wx0 + w), min(reg.y2, wy0 + h)
    if ix1 > ix0 and iy1 > iy0:
        win[iy0 - wy0 : iy1 - wy0, ix0 - wx0 : ix1 - wx0] |= region_mask(reg, ix0, iy0, ix1, iy1, shape)


def _fractions(regions: list[Region], win: np.ndarray, visible: np.ndarray, shape: str) -> np.ndarray:
    """Covered fraction of each GT window by the union of the hidden ``regions``."""
    out = np.ones(len(win), dtype=np.float64)
    if not len(win):
        return out
    if not regions:
        out[visible] = 0.0
        return out
    regs = np.array([(r.x1, r.y1, r.x2, r.y2) for r in regions], dtype=np.int64)
    # which regions overlap which windows (N, K)
    ox = (np.minimum(win[:, None, 2], regs[None, :, 2]) > np.maximum(win[:, None, 0], regs[None, :, 0])) & (
        np.minimum(win[:, None, 3], regs[None, :, 3]) > np.maximum(win[:, None, 1], regs[None, :, 1])
    )
    ox &= visible[:, None]
    out[visible & ~ox.any(axis=1)] = 0.0
    if shape == "rectangle":
        inside = (
            (regs[None, :, 0] <= win[:, None, 0])
            & (regs[None, :, 1] <= win[:, None, 1])
            & (regs[None, :, 2] >= win[:, None, 2])
            & (regs[None, :, 3] >= win[:, None, 3])
        )
        full = (ox & inside).any(axis=1)
    else:
        full = np.zeros(len(win), dtype=bool)
    for n in np.flatnonzero(ox.any(axis=1) & ~full):
        x0, y0, x1, y1 = (int(v) for v in win[n])
        mask = np.zeros((y1 - y0, x1 - x0), dtype=bool)
        for k in np.flatnonzero(ox[n]):
            _paint(mask, x0, y0, regions[k], shape)
        out[n] = np.count_nonzero(mask) / mask.size
    return out


def covered_fraction(
    boxes: np.ndarray, gt: np.ndarray, render: RenderConfig, width: int, height: int
) -> np.ndarray:
    """Share (N,) of each GT box ``gt`` (N,4) hidden when ``boxes`` (M,4) of one frame are rendered.

    Exact pixel count that agrees with :func:`faceoff.anonymize.covered_mask`, rasterised only
    inside each GT box's window (see the module docstring for the pixel convention).
    """
    regs = _regions(boxes, render, width, height)
    win, visible = _gt_windows(gt, width, height)
    return _fractions(regs, win, visible, render.shape)


def _flag(df: pd.DataFrame, name: str) -> np.ndarray:
    if name not in df.columns:
        return np.zeros(len(df), dtype=bool)
    return df[name].astype("boolean").fillna(False).to_numpy(dtype=bool)


def face_fractions(
    hidden: pd.DataFrame | None, gt: pd.DataFrame, render: RenderConfig, width: int, height: int
) -> np.ndarray:
    """Covered fraction of every row of ``gt``, each against the hidden boxes of its own frame."""
    out = np.ones(len(gt), dtype=np.float64)
    if not len(gt):
        return out
    gf = gt["frame_index"].to_numpy(dtype=np.int64)
    win, visible = _gt_windows(boxes_array(gt), width, height)
    if hidden is None or not len(hidden):
        out[visible] = 0.0
        return out
    hf = hidden["frame_index"].to_numpy(dtype=np.int64)
    hb = hidden_boxes(hidden)
    horder, gorder = np.argsort(hf, kind="stable"), np.argsort(gf, kind="stable")
    hf_sorted, gf_sorted = hf[horder], gf[gorder]
    # GT in frames with nothing hidden
    no_hidden = ~np.isin(gf, hf)
    out[no_hidden & visible] = 0.0
    for f in np.intersect1d(hf, gf):
        h = horder[np.searchsorted(hf_sorted, f, "left") : np.searchsorted(hf_sorted, f, "right")]
        g = gorder[np.searchsorted(gf_sorted, f, "left") : np.searchsorted(gf_sorted, f, "right")]
        regs = _regions(hb[h], render, width, height)
        out[g] = _fractions(regs, win[g], visible[g], render.shape)
    return out


def _runs(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, lengths) of the runs of consecutive integers in sorted unique ``frames``."""
    if not len(frames):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    breaks = np.flatnonzero(np.diff(frames) != 1)
    first = np.concatenate([[0], breaks + 1])
    last = np.concatenate([breaks, [len(frames) - 1]])
    return frames[first], last - first + 1


def longest_run(frames: Any) -> int:
    """Length of the longest run of consecutive frame indices in ``frames`` (any order, repeats allowed)."""
    f = np.unique(np.asarray(frames, dtype=np.int64))
    _, lengths = _runs(f)
    return int(lengths.max(initial=0))


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def coverage(
    hidden: pd.DataFrame | None,
    gt: pd.DataFrame,
    render: RenderConfig,
    width: int,
    height: int,
    n_frames: int | None,
    threshold: float = COVERED_AT,
) -> dict[str, Any]:
    """How well the region hidden for ``hidden`` covers the non-ignored annotated faces of ``gt``.

    A GT face is covered when at least ``threshold`` of its box is hidden. GT rows outside the
    video (frame index < 0 or >= ``n_frames``; ``None`` = no bound) are left out and counted in
    ``n_gt_outside_video``. Returns ``threshold``, ``n_gt``, ``covered``, ``coverage`` (None when
    ``n_gt`` is 0), ``mean_covered_fraction``, ``frames_with_gt``, ``uncovered_frames`` (sorted frame
    indices holding at least one uncovered face), ``longest_uncovered_run`` (the longest run of
    consecutive such frame indices; with sparse annotation, unannotated frames break a run),
    ``longest_uncovered_run_per_face`` ({track_id: frames}, only when ``gt`` has ``track_id``; ids < 0
    are unknown and left out) and ``per_flag`` ({flag: {n_gt, covered, coverage}} for each of
    ``masked``/``occluded`` present in ``gt``).
    """
    if gt is None:
        gt = pd.DataFrame({"frame_index": np.zeros(0, dtype=np.int64)})
    keep = ~_flag(gt, "ignore")
    frames = gt["frame_index"].to_numpy(dtype=np.int64) if len(gt) else np.zeros(0, dtype=np.int64)
    inside = frames >= 0
    if n_frames is not None:
        inside &= frames < int(n_frames)
    n_outside = int((keep & ~inside).sum())
    keep &= inside
    g = gt.loc[keep]
    frac = face_fractions(hidden, g, render, width, height) if len(g) else np.zeros(0)
    ok = frac >= threshold
    gf = frames[keep]
    uncovered = np.unique(gf[~ok])
    n_gt, n_cov = len(g), int(ok.sum())
    out: dict[str, Any] = {
        "threshold": float(threshold),
        "n_gt": n_gt,
        "covered": n_cov,
        "coverage": _share(n_cov, n_gt),
        "mean_covered_fraction": float(frac.mean()) if n_gt else None,
        "n_gt_outside_video": n_outside,
        "frames_with_gt": int(len(np.unique(gf))),
        "longest_uncovered_run": longest_run(uncovered),
        "uncovered_frames": [int(f) for f in uncovered],
    }
    if "track_id" in gt.columns:
        tid = g["track_id"].to_numpy(dtype=np.int64) if n_gt else np.zeros(0, dtype=np.int64)
        per_face: dict[str, int] = {}
        for t in np.unique(tid[tid >= 0]):
            per_face[str(int(t))] = longest_run(gf[(tid == t) & ~ok])
        out["longest_uncovered_run_per_face"] = per_face
    per_flag = {}
    for name in EVAL_FLAGS:
        if name in gt.columns:
            sel = _flag(g, name)
            n, c = int(sel.sum()), int((sel & ok).sum())
            per_flag[name] = {"n_gt": n, "covered": c, "coverage": _share(c, n)}
    out["per_flag"] = per_flag
    return out


def _face_mask(gt: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boolean (H,W) mask of the pixels of the GT boxes ``gt`` (N,4) (pixel-centre rule)."""
    mask = np.zeros((height, width), dtype=bool)
    win, visible = _gt_windows(gt, width, height)
    for x0, y0, x1, y1 in win[visible]:
        mask[y0:y1, x0:x1] = True
    return mask


def collateral(
    hidden: pd.DataFrame | None,
    gt: pd.DataFrame,
    render: RenderConfig,
    width: int,
    height: int,
    n_frames: int,
) -> dict[str, Any]:
    """What the render hides that is not a face: the share of the pixels outside every annotated face
    box (``ignore`` faces included) over the ``n_frames`` frames that the region hidden for ``hidden``
    covers. Returns ``hidden_px`` (hidden pixels outside faces, summed over frames), ``background_px``
    (pixels outside faces, summed over frames), ``collateral`` (their ratio; None without background)
    and ``worst_frame`` (the largest share on one frame; 0.0 when nothing is hidden).
    """
    gf = gt["frame_index"].to_numpy(dtype=np.int64) if len(gt) else np.zeros(0, dtype=np.int64)
    gb = boxes_array(gt) if len(gt) else np.zeros((0, 4))
    in_video = (gf >= 0) & (gf < n_frames)
    gf, gb = gf[in_video], gb[in_video]
    face_px = {int(f): _face_mask(gb[gf == f], width, height) for f in np.unique(gf)}
    background = n_frames * width * height - sum(int(m.sum()) for m in face_px.values())
    hidden_px, worst = 0, 0.0
    if hidden is not None and len(hidden):
        hf = hidden["frame_index"].to_numpy(dtype=np.int64)
        hb = hidden_boxes(hidden)
        for f in np.unique(hf[(hf >= 0) & (hf < n_frames)]):
            mask = covered_mask(hb[hf == f], render, width, height)
            face = face_px.get(int(f))
            if face is not None:
                mask &= ~face
            n = int(mask.sum())
            hidden_px += n
            worst = max(worst, n / max(1, width * height - (int(face.sum()) if face is not None else 0)))
    return {
        "hidden_px": hidden_px,
        "background_px": int(background),
        "collateral": _share(hidden_px, background),
        "worst_frame": worst,
    }


def on_face(hidden: pd.DataFrame, gt: pd.DataFrame, match_iou: float = 0.2) -> np.ndarray:
    """(N,) bool per row of ``hidden``: does its box lie on an annotated face of its frame (``ignore``
    faces included)? On a face: IoU >= ``match_iou`` with one, or the face's centre inside the box.
    Loose on purpose: a box that is off its face but still on it is a face's box, not a false one."""
    out = np.zeros(len(hidden), dtype=bool)
    if not len(hidden) or not len(gt):
        return out
    hf, hb = hidden["frame_index"].to_numpy(dtype=np.int64), boxes_array(hidden)
    gf, gb = gt["frame_index"].to_numpy(dtype=np.int64), boxes_array(gt)
    for f in np.intersect1d(hf, gf):
        rows, faces = np.flatnonzero(hf == f), gb[gf == f]
        centre = (faces[:, :2] + faces[:, 2:]) / 2
        box = hb[rows]
        inside = (
            (centre[None, :, 0] >= box[:, None, 0])
            & (centre[None, :, 0] <= box[:, None, 2])
            & (centre[None, :, 1] >= box[:, None, 1])
            & (centre[None, :, 1] <= box[:, None, 3])
        )
        out[rows] = (iou_matrix(box, faces) >= match_iou).any(axis=1) | inside.any(axis=1)
    return out


def collateral_parts(
    hidden: pd.DataFrame,
    gt: pd.DataFrame,
    render: RenderConfig,
    width: int,
    height: int,
    n_frames: int,
    match_iou: float = 0.2,
) -> dict[str, int]:
    """Where :func:`collateral`'s hidden pixels outside faces come from, in pixels summed over frames:
    ``face boxes`` (the render's geometry, ``box_scale``, ``min_margin`` and shape, around the boxes
    that lie on a face, :func:`on_face`), ``face pads`` (what those boxes' ``pad`` adds) and
    ``false <source>`` (what the boxes on no face add, by their ``source`` column: detected,
    interpolated, extended, followed; ``false`` without one). Counted in that order, each part only
    where the earlier ones hid nothing: the parts sum to :func:`collateral`'s ``hidden_px``."""
    parts: dict[str, int] = {"face boxes": 0, "face pads": 0}
    if hidden is None or not len(hidden):
        return parts
    face_row = on_face(hidden, gt, match_iou)
    sources = hidden["source"].to_numpy() if "source" in hidden else np.full(len(hidden), "", dtype=object)
    labels = np.array([f"false {s}".strip() for s in sources], dtype=object)
    for name in sorted(set(labels[~face_row])):
        parts[name] = 0
    hf, tight, padded = (
        hidden["frame_index"].to_numpy(dtype=np.int64),
        boxes_array(hidden),
        hidden_boxes(hidden),
    )
    gf, gb = gt["frame_index"].to_numpy(dtype=np.int64), boxes_array(gt) if len(gt) else np.zeros((0, 4))
    for f in np.unique(hf[(hf >= 0) & (hf < n_frames)]):
        rows = hf == f
        done = _face_mask(gb[gf == f], width, height)  # faces are no collateral
        steps = [("face boxes", tight[rows & face_row]), ("face pads", padded[rows & face_row])]
        steps += [
            (name, padded[rows & ~face_row & (labels == name)]) for name in parts if name.startswith("false")
        ]
        for name, boxes in steps:
            if not len(boxes):
                continue
            new = covered_mask(boxes, render, width, height) & ~done
            parts[name] += int(new.sum())
            done |= new
    return parts


def evaluate_video(
    detections: pd.DataFrame,
    tracks: pd.DataFrame,
    gt: pd.DataFrame,
    render: RenderConfig,
    width: int,
    height: int,
    n_frames: int | None,
    iou: float = 0.5,
) -> dict[str, Any]:
    """Before / after temporal smoothing: recall, precision and coverage of detections and tracks.

    ``detections`` are scored as if they had been rendered directly (same ``render`` settings);
    ``tracks`` are what the render stage hides. Returns ``{"detections": evaluate(...), "tracks":
    evaluate(...), "coverage": {"detections": coverage(...), "tracks": coverage(...)}}``.
    """
    return {
        "detections": evaluate(detections, gt, iou),
        "tracks": evaluate(tracks, gt, iou),
        "coverage": {
            "detections": coverage(detections, gt, render, width, height, n_frames),
            "tracks": coverage(tracks, gt, render, width, height, n_frames),
        },
    }
