"""CenterNet-style training targets and losses for CenterFace (output stride 4).

Targets match how :func:`faceoff.detectors.centerface.decode` reads the outputs: a face with centre
(cx, cy) and size (w, h) in input pixels has its peak in cell ``(row, col) = (floor(cy / 4), floor(cx / 4))``,
``scale = (log(h / 4), log(w / 4))`` and ``offset = (cy / 4 - 0.5 - row, cx / 4 - 0.5 - col)`` (in
[-0.5, 0.5): the shipped network predicts offsets around 0, measured), since decoding gives
``centre = (cell + offset + 0.5) * 4`` and ``size = exp(scale) * 4``.

* heatmap: a Gaussian around each peak, radius from CenterNet's ``gaussian_radius`` (min overlap 0.7),
  sigma = (2 r + 1) / 6; overlapping faces take the maximum;
* ignore: cells inside ``ignore`` boxes (and faces under ``MIN_SIZE`` px) that are not part of a face's
  Gaussian are left out of the heatmap loss;
* loss: CenterNet's penalty-reduced focal loss (alpha 2, beta 4) on the heatmap, normalised by the number
  of faces; L1 on scale and offset at the peaks (weights ``SCALE_WEIGHT``, ``OFFSET_WEIGHT``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from faceoff.detectors.centerface_net import STRIDE

__all__ = ["MIN_SIZE", "centernet_loss", "centernet_targets", "gaussian_radius"]

MIN_SIZE = 4.0  # faces smaller than this (input pixels) are ignored, not trained on
SCALE_WEIGHT = 1.0
OFFSET_WEIGHT = 1.0
_EPS = 1e-4


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """CenterNet's radius: the largest corner shift keeping IoU >= ``min_overlap`` (output cells)."""
    a1, b1 = 1.0, height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1**2 - 4 * a1 * c1)) / 2
    a2, b2 = 4.0, 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2**2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def centernet_targets(
    boxes: np.ndarray, ignore: np.ndarray, height: int, width: int, stride: int = STRIDE
) -> dict[str, np.ndarray]:
    """Targets for one image of ``height`` x ``width`` input pixels (multiples of ``stride``).

    Returns ``heatmap`` (1,h,w), ``ignore`` (1,h,w) float 0/1, ``scale`` and ``offset`` (2,h,w) and ``mask``
    (h,w) float 0/1 marking the peak cells, with h, w = height / stride, width / stride.
    """
    h, w = height // stride, width // stride
    heat = np.zeros((h, w), np.float32)
    ign = np.zeros((h, w), np.float32)
    scale = np.zeros((2, h, w), np.float32)
    offset = np.zeros((2, h, w), np.float32)
    mask = np.zeros((h, w), np.float32)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    ignore = np.asarray(ignore, bool).reshape(-1)
    for box, ig in zip(boxes, ignore, strict=True):
        x1, y1, x2, y2 = (float(v) for v in box)
        bw, bh = x2 - x1, y2 - y1
        if bw <= 0 or bh <= 0:
            continue
        if ig or min(bw, bh) < MIN_SIZE:
            c0, r0 = max(0, int(x1 // stride)), max(0, int(y1 // stride))
            c1, r1 = min(w, int(math.ceil(x2 / stride))), min(h, int(math.ceil(y2 / stride)))
            ign[r0:r1, c0:c1] = 1.0
            continue
        cx, cy = (x1 + x2) / 2 / stride, (y1 + y2) / 2 / stride
        col, row = min(w - 1, max(0, int(cx))), min(h - 1, max(0, int(cy)))
        radius = max(0, int(gaussian_radius(bh / stride, bw / stride)))
        sigma = (2 * radius + 1) / 6
        ys = np.arange(max(0, row - radius), min(h, row + radius + 1))
        xs = np.arange(max(0, col - radius), min(w, col + radius + 1))
        g = np.exp(-((ys[:, None] - row) ** 2 + (xs[None, :] - col) ** 2) / (2 * sigma * sigma))
        region = heat[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1]
        np.maximum(region, g.astype(np.float32), out=region)
        heat[row, col] = 1.0
        scale[:, row, col] = (math.log(bh / stride), math.log(bw / stride))
        offset[:, row, col] = (cy - 0.5 - row, cx - 0.5 - col)
        mask[row, col] = 1.0
    ign[heat > 0] = 0.0  # a face's Gaussian is always trained
    return {"heatmap": heat[None], "ignore": ign[None], "scale": scale, "offset": offset, "mask": mask}


def centernet_loss(
    heatmap: torch.Tensor,
    scale: torch.Tensor,
    offset: torch.Tensor,
    targets: dict[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """Focal loss on ``heatmap`` (B,1,h,w, after sigmoid) and L1 on ``scale``/``offset`` (B,2,h,w) at peaks.

    ``targets`` holds the batched arrays of :func:`centernet_targets` as tensors. Returns the three
    weighted terms (``heatmap``, ``scale``, ``offset``); their sum is the loss.
    """
    pred = heatmap.float().clamp(_EPS, 1 - _EPS)
    gt = targets["heatmap"]
    keep = 1.0 - targets["ignore"]
    pos = gt.eq(1).float()
    neg = (1.0 - pos) * keep
    pos_loss = torch.log(pred) * (1 - pred) ** 2 * pos
    neg_loss = torch.log(1 - pred) * pred**2 * (1 - gt) ** 4 * neg
    n_pos = pos.sum().clamp(min=1.0)
    heat = -(pos_loss.sum() + neg_loss.sum()) / n_pos
    mask = targets["mask"][:, None]
    size_l1 = (torch.abs(scale.float() - targets["scale"]) * mask).sum() / (2 * n_pos)
    off_l1 = (torch.abs(offset.float() - targets["offset"]) * mask).sum() / (2 * n_pos)
    return {"heatmap": heat, "scale": SCALE_WEIGHT * size_l1, "offset": OFFSET_WEIGHT * off_l1}
