"""``faceoff train``: fine-tune CenterFace or train Faster R-CNN from annotated videos.

Data: annotated frames sampled from each video (:mod:`faceoff.training.data`); with two videos or more,
``validation_share`` of the videos are held out, with one video the last ``validation_share`` of its
frames. Every batch is ``batch_size`` augmented crops (:class:`~faceoff.training.augment.Augmenter`:
masks and caps on faces, scale 0.6-1.5x, crop mostly around a face, flip, light). AdamW with a linear
warm-up and a cosine decay. After each epoch (and once before the first, "epoch 0": the starting
weights) the model detects on the full validation frames and recall/precision at IoU 0.5 (score >=
``threshold``, ``ignore`` faces excluded) and the average precision are recorded. The epoch kept
(``keep``: best validation AP, ties to the later one, epoch 0 included; or the last) is written as a
checkpoint with its model card (:mod:`faceoff.training.card`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from faceoff.config import TrainConfig
from faceoff.errors import FaceOffError
from faceoff.metrics import evaluate, iou_matrix
from faceoff.training.augment import Augmenter
from faceoff.training.card import environment, save_checkpoint, utc_now
from faceoff.training.data import AnnotatedVideo, Sample, load_samples, samples_table, split_items
from faceoff.training.models import build_model, resolve_device

__all__ = ["default_lr", "train_detector", "validate"]

VAL_BATCH = 4


def default_lr(detector: str) -> float:
    """AdamW learning rate when ``train.lr`` is null."""
    return 1e-4 if detector == "centerface" else 1e-3


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def validate(model, samples: Sequence[Sample], threshold: float) -> dict[str, Any]:
    """AP, and recall and precision at ``threshold`` and at 0.5 (IoU 0.5), of ``model`` on ``samples``.

    AP counts detections down to score 0.05 (or ``threshold`` when lower).
    """
    if not samples:
        return {"ap": None, "recall": None, "precision": None, "n_gt": 0}
    low = min(threshold, 0.05)
    rows = []
    i = 0
    while i < len(samples):  # batches of frames of one size
        j = i + 1
        while j < len(samples) and j - i < VAL_BATCH and samples[j].image.shape == samples[i].image.shape:
            j += 1
        frames = np.stack([s.image for s in samples[i:j]])
        for k, dets in enumerate(model.detect(frames, low)):
            rows += [(i + k, *map(float, d)) for d in dets]
        i = j
    pred = pd.DataFrame(rows, columns=["frame_index", "x1", "y1", "x2", "y2", "score"])
    pred["frame_index"] = pred["frame_index"].astype(np.int64)
    gt = samples_table(samples)
    frames = range(len(samples))
    at = evaluate(pred[pred["score"] >= threshold], gt, 0.5, frames=frames)
    at_half = evaluate(pred[pred["score"] >= 0.5], gt, 0.5, frames=frames)
    return {
        "ap": average_precision(pred, gt),
        "recall": at["recall"],
        "precision": at["precision"],
        "tp": at["tp"],
        "fp": at["fp"],
        "n_gt": at["n_gt"],
        "threshold": threshold,
        "recall_at_0.5": at_half["recall"],
        "precision_at_0.5": at_half["precision"],
    }


def average_precision(pred: pd.DataFrame, gt: pd.DataFrame, iou: float = 0.5) -> float | None:
    """VOC-style average precision (all points) at IoU ``iou``; boxes on ``ignore`` faces are dropped."""
    ignore = gt["ignore"].to_numpy(bool) if "ignore" in gt.columns else np.zeros(len(gt), bool)
    n_gt = int((~ignore).sum())
    if n_gt == 0:
        return None
    by_frame = {int(f): idx for f, idx in gt.groupby("frame_index").indices.items()}
    gt_boxes = gt[["x1", "y1", "x2", "y2"]].to_numpy(np.float64)
    taken = np.zeros(len(gt), bool)
    pred = pred.sort_values("score", ascending=False, kind="stable")
    hits = []
    for f, box in zip(pred["frame_index"].to_numpy(), pred[["x1", "y1", "x2", "y2"]].to_numpy(), strict=True):
        idx = by_frame.get(int(f))
        if idx is None:
            hits.append(False)
            continue
        overlap = iou_matrix(box[None], gt_boxes[idx])[0]
        free = overlap * (~taken[idx] & ~ignore[idx])
        if free.size and free.max() >= iou:
            taken[idx[int(np.argmax(free))]] = True
            hits.append(True)
        elif (overlap[ignore[idx]] >= iou).any():
            continue  # a face that does not count either way
        else:
            hits.append(False)
    if not hits:
        return 0.0
    tp = np.cumsum(hits)
    recall = tp / n_gt
    precision = tp / np.arange(1, len(hits) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.diff(np.concatenate([[0.0], recall]))
    return float((steps * envelope).sum())


def train_steps(
    model,
    optimizer: torch.optim.Optimizer,
    augmenter: Augmenter,
    samples: Sequence[Sample],
    rng: np.random.Generator,
    iterations: int,
    batch_size: int,
    diverged: Callable[[float], str],
    after_step: Callable[[], Any] | None = None,
) -> dict[str, float]:
    """``iterations`` optimiser steps on batches of augmented crops of random ``samples`` (gradients
    clipped at norm 10); the mean of each loss part. A non-finite loss raises
    ``FaceOffError(diverged(loss))``. ``after_step`` runs after each step (e.g. a learning-rate scheduler)."""
    model.train()
    sums: dict[str, float] = {}
    for _ in range(iterations):
        crops = [augmenter(samples[int(i)], rng) for i in rng.integers(len(samples), size=batch_size)]
        parts = model.losses(crops)
        loss = sum(parts.values())
        if not torch.isfinite(loss):
            raise FaceOffError(diverged(float(loss)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        if after_step is not None:
            after_step()
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach()) / iterations
    return sums


def _schedule(total: int) -> Callable[[int], float]:
    warmup = max(1, min(100, total // 10))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _load(
    items: Sequence[AnnotatedVideo], frames: int, width: int, frame_range: tuple[float, float]
) -> tuple[list[Sample], list[dict]]:
    samples, records = [], []
    for item in items:
        s, rec = load_samples(item, frames, width, frame_range=frame_range)
        samples += s
        records.append(rec)
    return samples, records


def train_detector(
    items: Sequence[AnnotatedVideo],
    cfg: TrainConfig,
    out: str | Path,
    *,
    validation: Sequence[AnnotatedVideo] | None = None,
    redact_paths: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train ``cfg.detector`` on ``items`` and write ``out`` (.pt) with its model card; returns the card.

    ``validation``: videos to validate on instead of splitting ``items``. ``redact_paths``: the card names
    the videos by id and sha256 only (for archives whose file names carry patient data).
    """
    start = time.perf_counter()
    if not items:
        raise FaceOffError("no annotated videos to train on")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    device = resolve_device(cfg.device)
    n_val_frames = max(4, cfg.frames_per_video // 4)
    if validation is not None:
        train_items, val_items, ranges = list(items), list(validation), ((0.0, 1.0), (0.0, 1.0))
        split = "given validation videos"
    elif len(items) >= 2:
        train_items, val_items = split_items(items, cfg.validation_share, cfg.seed)
        ranges = ((0.0, 1.0), (0.0, 1.0))
        split = f"by video: {len(val_items)} of {len(items)} held out"
    else:
        train_items, val_items = list(items), list(items)
        cut = 1.0 - cfg.validation_share
        ranges = ((0.0, cut), (cut, 1.0))
        split = f"by time: the last {cfg.validation_share:.0%} of the frames held out"
    train, train_records = _load(train_items, cfg.frames_per_video, cfg.width, ranges[0])
    val, val_records = _load(val_items, n_val_frames, cfg.width, ranges[1])
    if redact_paths:
        for rec in train_records + val_records:
            rec["video"] = rec["annotations"] = "(redacted)"
    if not any((~s.ignore).any() for s in train):
        raise FaceOffError("the training frames hold no (non-ignored) annotated face")
    log(f"train: {len(train)} frames from {len(train_items)} videos, validation: {len(val)} frames ({split})")

    model = build_model(
        cfg.detector,
        cfg.architecture,
        device,
        fpn_channels=cfg.fpn_channels,
        init_checkpoint=cfg.init_checkpoint,
        freeze_backbone_blocks=cfg.freeze_backbone_blocks,
    )
    lr = cfg.lr or default_lr(cfg.detector)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    total = cfg.epochs * cfg.iterations
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(total))
    augmenter = Augmenter(crop=cfg.crop, mask_prob=cfg.mask_prob, cap_prob=cfg.cap_prob)

    def record(epoch: int, losses: dict[str, float], seconds: float) -> dict[str, Any]:
        metrics = validate(model, val, cfg.threshold)
        row = {"epoch": epoch, "loss": losses, "validation": metrics, "seconds": round(seconds, 2)}
        loss_text = " ".join(f"{k} {v:.4f}" for k, v in losses.items())
        log(
            f"epoch {epoch}: {loss_text or '(starting weights)'} | validation AP {_fmt(metrics['ap'])}, "
            f"recall {_fmt(metrics['recall'])}, precision {_fmt(metrics['precision'])} "
            f"at score {cfg.threshold}"
        )
        return row

    per_epoch = [record(0, {}, 0.0)]
    kept_epoch, kept_state = 0, model.state_dict()
    best = per_epoch[0]["validation"]["ap"] or 0.0
    for epoch in range(1, cfg.epochs + 1):
        t = time.perf_counter()
        sums = train_steps(
            model,
            optimizer,
            augmenter,
            train,
            rng,
            cfg.iterations,
            cfg.batch_size,
            lambda loss, epoch=epoch: f"training diverged: loss {loss} at epoch {epoch}; lower train.lr",
            scheduler.step,
        )
        row = record(epoch, {k: round(v, 5) for k, v in sums.items()}, time.perf_counter() - t)
        per_epoch.append(row)
        ap = row["validation"]["ap"] or 0.0
        if cfg.keep == "last" or ap >= best:
            best = max(best, ap)
            kept_epoch, kept_state = epoch, model.state_dict()

    card = {
        "model_card_version": 1,
        "task": "face detection, one class (faces also behind surgical masks and caps)",
        "trained_by": "faceoff train",
        "detector": model.detector,
        "architecture": model.architecture,
        "base_weights": model.base,
        "training_data": train_records,
        "validation_data": val_records,
        "validation_split": split,
        "augmentation": {
            "masks_and_caps": {"mask_prob": cfg.mask_prob, "cap_prob": cfg.cap_prob},
            "crop": cfg.crop,
            "scale": list(augmenter.scale_range),
            "face_centred": augmenter.face_centred,
            "flip": augmenter.flip,
            "photometric": "gamma, contrast, brightness, white balance, noise, defocus",
        },
        "optimizer": {
            "name": "AdamW",
            "lr": lr,
            "weight_decay": cfg.weight_decay,
            "schedule": "warm-up, cosine",
        },
        "epochs": cfg.epochs,
        "iterations_per_epoch": cfg.iterations,
        "batch_size": cfg.batch_size,
        "trainable_parameters": sum(p.numel() for p in model.parameters()),
        "per_epoch": per_epoch,
        "kept_epoch": kept_epoch,
        "keep": cfg.keep,
        "kept_by": "validation AP (IoU 0.5)" if cfg.keep == "best" else "last epoch",
        "validation_metrics": per_epoch[kept_epoch]["validation"],
        "config": cfg.model_dump(mode="json"),
        "date": utc_now(),
        "seconds": round(time.perf_counter() - start, 1),
        "environment": environment(device),
    }
    card = save_checkpoint(
        out,
        detector=model.detector,
        architecture=model.architecture,
        state_dict=kept_state,
        card=card,
        options=model.options,
    )
    log(f"kept epoch {kept_epoch} -> {out} (sha256 {card['checkpoint']['sha256'][:12]})")
    return card
