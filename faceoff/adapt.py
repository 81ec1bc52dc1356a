"""``faceoff adapt``: self-training of CenterFace on an archive's own videos, with a guard against drift.

No annotation is used. Each round:

1. **detect** every taken frame (``detect`` section: width, threshold, runtime) with the current weights;
2. **track** the detections exactly as the ``regularize`` stage's ``tracks`` method links them
   (:func:`faceoff.tracking.link_detections`, same parameters, same hysteresis: a track counts only with a
   detection of ``confident_score`` and ``min_detections`` detections);
3. **label** the frames with what the tracks know: every detection of a confident track is a face, also the
   weak ones (score below ``hard_score``: the hard examples the detector barely found), and so is every
   frame such a track bridges although the detector found nothing there (the track's ``interpolated``
   frames: the **pseudo-labels**): a gap of at most ``pseudo_max_gap`` frames whose two bounding detections
   both score ``pseudo_min_score`` or more, and no detection on that frame overlapping the box (IoU 0.3).
   A pseudo-label's box is the linear interpolation of the two detections (not the smoothed,
   motion-padded track box). Detections outside confident tracks and bridges that were not accepted are
   ignored regions (neither face nor background: a weakly seen face is never taught as background);
4. **fine-tune** CenterFace (small learning rate) on crops of the frames holding a pseudo-label or a hard
   example, mixed with frames holding only confident track detections (``replay_share``);
5. **re-detect** and check for drift on the held-out frames (blocks of 25 frames, ``holdout_share``, never
   trained on): recall on the round-0 confident detections (score >= ``confident_score``) must not fall by
   more than ``max_recall_drop``; otherwise the round is rolled back and adaptation stops. The recall on the
   held-out round-0 pseudo-labels (faces the starting detector missed there) is recorded too.

Writes a CenterFace checkpoint (``.pt`` + ``.onnx`` + model card with every round's numbers); detect with
it via ``detect.checkpoint``. Frames: up to ``max_frames`` per video in evenly spaced windows of ``window``
consecutive frames (tracks need consecutive frames).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from faceoff.config import AdaptConfig, DetectConfig, RegularizeConfig
from faceoff.errors import FaceOffError
from faceoff.metrics import evaluate, iou_matrix
from faceoff.tracking import TrackParams, link_detections

__all__ = [
    "BLOCK",
    "AdaptVideo",
    "TrackLabels",
    "adapt",
    "detect_frames",
    "holdout_blocks",
    "pseudo_labels",
    "window_frames",
]

BLOCK = 25  # hold-out granularity in frames (about a second): neighbouring frames are near-duplicates
OVERLAP_FOUND = 0.3  # a detection overlapping a bridged box this much means the face was found there


@dataclass
class AdaptVideo:
    """One archive video: its probe, detection size and the frames taken."""

    id: str
    path: Path
    info: Any  # ProbeInfo
    size: tuple[int, int] | None  # detection size (w, h), None = source size
    frames: np.ndarray  # sorted frame indices taken
    holdout: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # held-out frame indices

    @property
    def scale(self) -> tuple[float, float]:
        """Source pixels per detection pixel (x, y)."""
        if self.size is None:
            return 1.0, 1.0
        return self.info.width / self.size[0], self.info.height / self.size[1]


def window_frames(n_frames: int, max_frames: int, window: int) -> np.ndarray:
    """All frames when there are at most ``max_frames``; else evenly spaced windows of ``window`` frames."""
    if n_frames <= max_frames:
        return np.arange(n_frames, dtype=np.int64)
    window = min(window, max_frames)
    k = max(1, max_frames // window)
    starts = np.linspace(0, n_frames - window, k).round().astype(np.int64)
    return np.unique(np.concatenate([np.arange(s, s + window) for s in starts]))


def holdout_blocks(videos: Sequence[AdaptVideo], share: float, seed: int) -> None:
    """Pick held-out blocks of :data:`BLOCK` frames in every video (at least one block overall)."""
    rng = np.random.default_rng(seed)
    chosen_any = False
    blocks_of = []
    for v in videos:
        blocks = np.unique(v.frames // BLOCK)
        pick = blocks[rng.random(len(blocks)) < share]
        blocks_of.append(blocks)
        v.holdout = v.frames[np.isin(v.frames // BLOCK, pick)]
        chosen_any |= len(pick) > 0
    if not chosen_any and videos:
        i = int(rng.integers(len(videos)))
        block = int(rng.choice(blocks_of[i]))
        videos[i].holdout = videos[i].frames[videos[i].frames // BLOCK == block]


def detect_frames(detector, video: AdaptVideo, cfg: DetectConfig) -> pd.DataFrame:
    """Detections on ``video.frames`` (``frame_index x1 y1 x2 y2 score``, detection-size pixels)."""
    from faceoff.decode import iter_frames

    wanted = np.zeros(video.info.frame_count, bool)
    wanted[video.frames] = True
    last = int(video.frames[-1]) if len(video.frames) else -1
    rows = []
    for indices, frames in iter_frames(
        video.path, video.info, batch_size=cfg.batch_size, size=video.size, fields=True
    ):
        sel = wanted[indices]
        if sel.any():
            for index, dets in zip(indices[sel], detector.detect(frames[sel], cfg.threshold), strict=True):
                rows += [(int(index), *map(float, d)) for d in dets]
        if indices[-1] >= last:
            break
    df = pd.DataFrame(rows, columns=["frame_index", "x1", "y1", "x2", "y2", "score"])
    return df.astype({"frame_index": np.int64})


@dataclass
class TrackLabels:
    """What the confident tracks of one video say (tables ``frame_index x1 y1 x2 y2 score track``)."""

    tracked: pd.DataFrame  # detections that belong to a confident track: faces
    bridged: pd.DataFrame  # pseudo-labels: accepted bridged gaps (score = the weaker bounding detection's)
    rejected: pd.DataFrame  # bridged gaps not accepted (too long, too weak, outside the frames): ignored


_LABEL_COLUMNS = ["frame_index", "x1", "y1", "x2", "y2", "score", "track"]


def _table(rows: list) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=_LABEL_COLUMNS).astype({"frame_index": np.int64, "track": np.int64})


def pseudo_labels(
    detections: pd.DataFrame, frames: np.ndarray, params: TrackParams, cfg: AdaptConfig
) -> TrackLabels:
    """Labels from the confident tracks of ``detections`` (linked as the ``tracks`` regulariser links them).

    ``frames`` are the frames that were detected (a bridged gap must lie inside them).
    """
    taken = set(int(f) for f in frames)
    by_frame = {int(f): g[["x1", "y1", "x2", "y2"]].to_numpy() for f, g in detections.groupby("frame_index")}
    tracked, accepted, rejected = [], [], []
    max_gap = min(cfg.pseudo_max_gap, params.max_gap)
    tracks = link_detections(detections, params) if len(detections) else []  # it needs one row or more
    for tid, track in enumerate(tracks):
        if not params.confirmed(track.scores, width=track.width()):
            continue
        for f, b, sc in zip(track.frames, track.boxes, track.scores, strict=True):
            tracked.append((f, *map(float, b), float(sc), tid))
        for i in range(len(track.frames) - 1):
            f0, f1 = track.frames[i], track.frames[i + 1]
            if f1 - f0 < 2:
                continue
            score = min(track.scores[i], track.scores[i + 1])
            ok = f1 - f0 - 1 <= max_gap and score >= cfg.pseudo_min_score
            b0, b1 = np.asarray(track.boxes[i]), np.asarray(track.boxes[i + 1])
            for f in range(f0 + 1, f1):
                if f not in taken:
                    ok = False
                    continue
                box = b0 + (b1 - b0) * (f - f0) / (f1 - f0)
                if f in by_frame and (iou_matrix(box[None], by_frame[f]) >= OVERLAP_FOUND).any():
                    continue  # found there after all (by a detection the track did not take)
                (accepted if ok else rejected).append((f, *map(float, box), float(score), tid))
    return TrackLabels(_table(tracked), _table(accepted), _table(rejected))


def _recall(pred: pd.DataFrame, gt: pd.DataFrame, frames: np.ndarray) -> dict[str, Any]:
    res = evaluate(pred, gt, 0.5, frames=frames)
    return {"recall": res["recall"], "tp": res["tp"], "n": res["n_gt"]}


def _boxes(df: pd.DataFrame, frame: int) -> np.ndarray:
    return df.loc[df["frame_index"] == frame, ["x1", "y1", "x2", "y2"]].to_numpy(np.float32).reshape(-1, 4)


def _frame_labels(labels: TrackLabels, dets: pd.DataFrame, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """(boxes, ignore flags) of one frame: tracked and bridged faces; strays and rejected bridges ignored."""
    positives = np.concatenate([_boxes(labels.tracked, frame), _boxes(labels.bridged, frame)])
    ignored = np.concatenate([_boxes(dets, frame), _boxes(labels.rejected, frame)])
    if len(positives) and len(ignored):  # drop the ignored boxes that are labelled faces (the tracked ones)
        ignored = ignored[iou_matrix(ignored, positives).max(axis=1) < 0.5]
    boxes = np.concatenate([positives, ignored])
    return boxes, np.r_[np.zeros(len(positives), bool), np.ones(len(ignored), bool)]


def _samples_for_round(
    videos: Sequence[AdaptVideo],
    dets: dict[str, pd.DataFrame],
    labels: dict[str, TrackLabels],
    cfg: AdaptConfig,
) -> tuple[list, dict[str, int]]:
    """Choose training frames (hard + replay frames, never held out) and decode them."""
    from faceoff.decode import iter_frames
    from faceoff.training.data import Sample, evenly

    plans: list[tuple[AdaptVideo, list[int], list[int]]] = []
    n_hard_all = n_replay_all = 0
    for v in videos:
        lab = labels[v.id]
        held = set(int(f) for f in v.holdout)
        weak = lab.tracked.loc[lab.tracked["score"] < cfg.hard_score, "frame_index"]
        hard = sorted((set(int(f) for f in weak) | set(int(f) for f in lab.bridged["frame_index"])) - held)
        replay = sorted(set(int(f) for f in lab.tracked["frame_index"]) - held - set(hard))
        plans.append((v, hard, replay))
        n_hard_all += len(hard)
        n_replay_all += len(replay)
    budget_hard = min(n_hard_all, round(cfg.train_frames * (1 - cfg.replay_share)))
    budget_replay = min(n_replay_all, round(budget_hard * cfg.replay_share / (1 - cfg.replay_share)))
    samples = []
    counts = {"hard_frames": 0, "replay_frames": 0, "face_boxes": 0, "pseudo_boxes": 0, "ignored_boxes": 0}
    for v, hard, replay in plans:
        k_h = round(budget_hard * len(hard) / n_hard_all) if n_hard_all else 0
        k_r = round(budget_replay * len(replay) / n_replay_all) if n_replay_all else 0
        chosen_h, chosen_r = evenly(hard, k_h) if k_h else [], evenly(replay, k_r) if k_r else []
        chosen = set(chosen_h) | set(chosen_r)
        if not chosen:
            continue
        counts["hard_frames"] += len(chosen_h)
        counts["replay_frames"] += len(chosen_r)
        last = max(chosen)
        for indices, frames in iter_frames(v.path, v.info, batch_size=16, size=v.size, fields=True):
            for index, frame in zip(indices, frames, strict=True):
                f = int(index)
                if f not in chosen:
                    continue
                boxes, ignore = _frame_labels(labels[v.id], dets[v.id], f)
                samples.append(Sample(frame.copy(), boxes, ignore, source=v.id, frame_index=f))
                counts["face_boxes"] += int((~ignore).sum())
                counts["pseudo_boxes"] += len(_boxes(labels[v.id].bridged, f))
                counts["ignored_boxes"] += int(ignore.sum())
            if indices[-1] >= last:
                break
    return samples, counts


def adapt(
    videos: Sequence[tuple[str, str | Path]],
    out: str | Path,
    *,
    cfg: AdaptConfig | None = None,
    detect: DetectConfig | None = None,
    regularize: RegularizeConfig | None = None,
    probes: Sequence[str | Path] | None = None,
    threads: int | None = None,
    redact_paths: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Adapt CenterFace to ``videos`` (``(id, path)`` pairs); write checkpoint ``out`` (.pt); return its card.

    ``probes``: probe JSONs of the videos (same order), else they are probed here. ``redact_paths``: the
    card names the videos by id and sha256 only (for archives whose file names carry patient data).
    """
    from faceoff.decode import detection_size
    from faceoff.detectors.centerface import CenterFace
    from faceoff.detectors.checkpoint import detector_from_checkpoint
    from faceoff.probe import probe_video, read_probe
    from faceoff.training.augment import Augmenter
    from faceoff.training.card import environment, save_checkpoint, utc_now, write_centerface_onnx
    from faceoff.training.models import CenterFaceModel, resolve_device
    from faceoff.training.trainer import train_steps

    start = time.perf_counter()
    cfg, detect, regularize = cfg or AdaptConfig(), detect or DetectConfig(), regularize or RegularizeConfig()
    if not videos:
        raise FaceOffError("adapt: no videos")
    if detect.detector != "centerface":
        raise FaceOffError(f"adapt fine-tunes CenterFace; detect.detector is {detect.detector!r}")
    params = TrackParams.from_config(regularize)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    device = resolve_device(cfg.device)
    items: list[AdaptVideo] = []
    for i, (vid, path) in enumerate(videos):
        info = read_probe(probes[i]) if probes else probe_video(path)
        frames = window_frames(info.frame_count, cfg.max_frames, cfg.window)
        items.append(AdaptVideo(vid, Path(path), info, detection_size(info, detect.width), frames))
    holdout_blocks(items, cfg.holdout_share, cfg.seed)

    model = CenterFaceModel(device, init_checkpoint=cfg.base_checkpoint)
    options = {"runtime": detect.runtime, "device": detect.device, "threads": detect.threads or threads}

    def detect_all(det) -> dict[str, pd.DataFrame]:
        return {v.id: detect_frames(det, v, detect) for v in items}

    if cfg.base_checkpoint:
        base_detector = detector_from_checkpoint(cfg.base_checkpoint, detector="centerface", **options)
    else:
        base_detector = CenterFace(**options)
    t = time.perf_counter()
    dets = detect_all(base_detector)
    log(f"round 0: detected {sum(len(d) for d in dets.values())} boxes in {time.perf_counter() - t:.0f} s")

    def label_all(current: dict[str, pd.DataFrame]) -> dict[str, TrackLabels]:
        return {v.id: pseudo_labels(current[v.id], v.frames, params, cfg) for v in items}

    labels = label_all(dets)
    hold_conf = pd.concat(
        [
            _keyed(dets[v.id][dets[v.id]["score"] >= params.confident_score], k, v.holdout)
            for k, v in enumerate(items)
        ]
    )
    hold_missed = pd.concat([_keyed(labels[v.id].bridged, k, v.holdout) for k, v in enumerate(items)])
    hold_weak = pd.concat(
        [
            _keyed(labels[v.id].tracked[labels[v.id].tracked["score"] < cfg.hard_score], k, v.holdout)
            for k, v in enumerate(items)
        ]
    )
    hold_frames = np.concatenate([_key(k, v.holdout) for k, v in enumerate(items)])

    def check(current: dict[str, pd.DataFrame]) -> dict[str, Any]:
        pred = pd.concat([_keyed(current[v.id], k, v.holdout) for k, v in enumerate(items)])
        return {
            "holdout_confident": _recall(pred, hold_conf, hold_frames),
            "holdout_missed": _recall(pred, hold_missed, hold_frames),
            "holdout_hard_confident": _recall(pred[pred["score"] >= cfg.hard_score], hold_weak, hold_frames),
            "boxes": int(sum(len(d) for d in current.values())),
        }

    def label_counts(lab: dict[str, TrackLabels]) -> dict[str, int]:
        return {
            "tracked_boxes": int(sum(len(x.tracked) for x in lab.values())),
            "hard_boxes": int(sum(int((x.tracked["score"] < cfg.hard_score).sum()) for x in lab.values())),
            "pseudo_labels": int(sum(len(x.bridged) for x in lab.values())),
            "rejected_bridges": int(sum(len(x.rejected) for x in lab.values())),
        }

    base_check = check(dets)
    rounds: list[dict[str, Any]] = [{"round": 0, "accepted": True, **base_check, **label_counts(labels)}]
    log(f"round 0: {_summary(rounds[0])}")
    accepted_state = model.state_dict()
    floor = (base_check["holdout_confident"]["recall"] or 0.0) - cfg.max_recall_drop
    augmenter = Augmenter(crop=cfg.crop, mask_prob=cfg.mask_prob, cap_prob=cfg.cap_prob, light=0.5)
    stop_reason = f"completed {cfg.rounds} rounds"
    with tempfile.TemporaryDirectory(prefix="faceoff-adapt-") as tmp:
        for r in range(1, cfg.rounds + 1):
            t = time.perf_counter()
            samples, counts = _samples_for_round(items, dets, labels, cfg)
            if counts["hard_frames"] == 0:
                stop_reason = f"round {r}: no pseudo-label or hard example left to learn from"
                log(stop_reason)
                break
            optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
            loss_sum = train_steps(
                model,
                optimizer,
                augmenter,
                samples,
                rng,
                cfg.iterations,
                cfg.batch_size,
                lambda loss, r=r: f"adapt: loss {loss} in round {r}; lower adapt.lr",
            )
            train_seconds = time.perf_counter() - t
            onnx_path = write_centerface_onnx(model.state_dict(), Path(tmp) / f"round{r}.onnx")
            new_dets = detect_all(CenterFace(onnx_path, **options))
            new_labels = label_all(new_dets)
            result = check(new_dets)
            row = {
                "round": r,
                **counts,
                "loss": {k: round(v, 5) for k, v in loss_sum.items()},
                **result,
                **label_counts(new_labels),
                "seconds": round(time.perf_counter() - t, 1),
                "train_seconds": round(train_seconds, 1),
            }
            recall = result["holdout_confident"]["recall"]
            if recall is not None and recall < floor:
                row["accepted"] = False
                rounds.append(row)
                model.load_state_dict(accepted_state)
                stop_reason = (
                    f"round {r} rolled back: held-out confident recall {recall:.3f} fell below "
                    f"{floor:.3f} (round 0 minus max_recall_drop)"
                )
                log(f"round {r}: {_summary(row)}")
                log(stop_reason)
                break
            row["accepted"] = True
            rounds.append(row)
            log(f"round {r}: {_summary(row)}")
            accepted_state = model.state_dict()
            dets, labels = new_dets, new_labels

    accepted = [row for row in rounds if row["accepted"]]
    card = {
        "model_card_version": 1,
        "task": "face detection, one class; self-trained on the archive (no annotations)",
        "trained_by": "faceoff adapt",
        "detector": "centerface",
        "architecture": "centerface",
        "base_weights": model.base,
        "training_data": [
            {
                "id": v.id,
                "video": "(redacted)" if redact_paths else str(v.path),
                "video_sha256": v.info.sha256,
                "frames_taken": int(len(v.frames)),
                "frames_held_out": int(len(v.holdout)),
                "size": list(v.size or (v.info.width, v.info.height)),
            }
            for v in items
        ],
        "labels": "confident tracks' detections and bridged gaps (pseudo-labels); no annotations",
        "rounds": rounds,
        "rounds_accepted": accepted[-1]["round"],
        "stop_reason": stop_reason,
        "drift_guard": {
            "holdout": f"{cfg.holdout_share:.0%} of {BLOCK}-frame blocks, never trained on",
            "metric": "recall (IoU 0.5, detect.threshold) on round-0 detections scoring >= confident_score",
            "floor": round(floor, 4),
        },
        "config": {
            "adapt": cfg.model_dump(mode="json"),
            "detect": detect.model_dump(mode="json"),
            "regularize": regularize.model_dump(mode="json"),
        },
        "date": utc_now(),
        "seconds": round(time.perf_counter() - start, 1),
        "environment": environment(device),
    }
    card = save_checkpoint(
        out, detector="centerface", architecture="centerface", state_dict=accepted_state, card=card
    )
    log(f"kept round {accepted[-1]['round']} -> {out} ({stop_reason})")
    return card


def _key(k: int, frames: np.ndarray) -> np.ndarray:
    """Frame keys unique across videos (video number k)."""
    return np.asarray(frames, np.int64) + np.int64(k) * (1 << 40)


def _keyed(df: pd.DataFrame, k: int, frames: np.ndarray) -> pd.DataFrame:
    """Rows of ``df`` on ``frames``, with ``frame_index`` made unique across videos."""
    sel = df[df["frame_index"].isin(frames)].copy()
    sel["frame_index"] = _key(k, sel["frame_index"].to_numpy())
    return sel[["frame_index", "x1", "y1", "x2", "y2"] + (["score"] if "score" in sel else [])]


def _summary(row: dict[str, Any]) -> str:
    def pct(x: dict) -> str:
        return "-" if x["recall"] is None else f"{100 * x['recall']:.1f}% of {x['n']}"

    parts = [f"held-out confident recall {pct(row['holdout_confident'])}"]
    parts.append(f"held-out missed recall {pct(row['holdout_missed'])}")
    parts.append(f"{row['pseudo_labels']} pseudo-labels")
    parts.append(f"held-out hard examples now confident {pct(row['holdout_hard_confident'])}")
    if "hard_frames" in row:
        parts.append(f"trained on {row['hard_frames']} hard + {row['replay_frames']} replay frames")
    return ", ".join(parts)
