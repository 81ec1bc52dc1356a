"""Detector recall on held-out clips of the synthetic OR benchmark: CenterFace as shipped, Faster R-CNN
trained by ``faceoff train``, and CenterFace after ``faceoff adapt``.

    .venv/bin/python benchmarks/detectors.py            # GPU when available, else the reduced CPU run
    .venv/bin/python benchmarks/detectors.py --cpu      # the reduced CPU run
    .venv/bin/python benchmarks/detectors.py --json out.json --workdir /tmp/faceoff-detectors

Clips (:func:`faceoff.synth.orscene.benchmark_suite`, written once into ``WORKDIR/clips``):

* **training**: the suite's clips (``quick`` on CPU: one 50-frame clip per scenario; ``default`` on GPU) with
  their annotations: what ``faceoff train`` learns from (20 % of them held out for its validation);
* **held-out**: the same scenarios with other seeds (other rooms, people, paths; ``--heldout-offset``),
  never trained on. These stand in for a new OR's archive: ``faceoff adapt`` adapts CenterFace to them
  *without their annotations* (self-training on the archive itself), then they are detected again.

Systems, all scored on the held-out clips against their ground truth (non-``ignore`` faces, IoU 0.5):

* ``centerface``: the shipped weights; ``centerface@0.1``: the same at detect threshold 0.1 instead of 0.2
  (the cheap way to more recall, at some precision, that a trained or adapted model has to beat);
* ``fasterrcnn``: ``fasterrcnn_centerface_fpn`` trained by :func:`faceoff.training.train_detector`;
* ``centerface-adapted``: the checkpoint :func:`faceoff.adapt.adapt` wrote;
* ``centerface-trained`` (``--with-centerface-train``): CenterFace fine-tuned on the training clips.

Reported per system: recall / precision of the detections (detect threshold 0.2) and of the tracks
(``regularize`` defaults), and recall on the faces the shipped CenterFace missed (its detections matched
no box at IoU 0.5), for detections and tracks. Detection runs at ``detect.width`` (1280, never upscaling),
exactly as the detect stage does.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from faceoff.adapt import adapt
from faceoff.boxes import read_boxes, read_metadata
from faceoff.config import AdaptConfig, DetectConfig, RegularizeConfig, RenderConfig, TrainConfig
from faceoff.decode import detection_size, iter_frames
from faceoff.detectors import build_detector, detector_from_checkpoint
from faceoff.evaluate import evaluate_video
from faceoff.metrics import match_boxes
from faceoff.probe import probe_video
from faceoff.synth.orscene import SceneConfig, benchmark_suite, write_scene
from faceoff.tracking import TrackParams, track_regularize
from faceoff.training import AnnotatedVideo, train_detector

# Reduced CPU run (2 cores, minutes) and the GPU run. Everything else: config defaults.
PLANS = {
    "cpu": {
        "suite": "quick",
        "heldout_frames": 50,
        "train": TrainConfig(
            frames_per_video=50, epochs=4, iterations=40, batch_size=4, crop=256, freeze_backbone_blocks=7
        ),
        "centerface_train": TrainConfig(
            detector="centerface", frames_per_video=50, epochs=2, iterations=30, batch_size=4, crop=256
        ),
        "adapt": AdaptConfig(rounds=2, iterations=40, batch_size=4, crop=256, train_frames=160),
    },
    "gpu": {
        "suite": "default",
        "heldout_frames": 150,
        "train": TrainConfig(frames_per_video=150, epochs=12, iterations=300, batch_size=8, crop=512),
        "centerface_train": TrainConfig(
            detector="centerface", frames_per_video=150, epochs=6, iterations=300, batch_size=8, crop=512
        ),
        "adapt": AdaptConfig(rounds=2, iterations=200, batch_size=8, crop=384),
    },
}


def ensure_clip(root: Path, clip_id: str, cfg: SceneConfig, seed: int) -> tuple[Path, Path]:
    """The clip's video and annotations, generated unless an identical one is already there."""
    video, ann = root / "videos" / f"{clip_id}.mp4", root / "annotations" / f"{clip_id}.parquet"
    if video.exists() and ann.exists() and read_metadata(ann).get("scene_hash") == cfg.scene_hash(seed):
        return video, ann
    return write_scene(root, clip_id, cfg, seed)


def detect_video(detector, video: Path, info, cfg: DetectConfig) -> pd.DataFrame:
    """Detections on every frame in source pixels, as the detect stage computes them."""
    size = detection_size(info, cfg.width)
    sx, sy = (info.width / size[0], info.height / size[1]) if size else (1.0, 1.0)
    rows = []
    for indices, frames in iter_frames(video, info, batch_size=cfg.batch_size, size=size):
        for index, dets in zip(indices, detector.detect(frames, cfg.threshold), strict=True):
            rows += [(int(index), d[0] * sx, d[1] * sy, d[2] * sx, d[3] * sy, float(d[4])) for d in dets]
    df = pd.DataFrame(rows, columns=["frame_index", "x1", "y1", "x2", "y2", "score"])
    df["frame_index"] = df["frame_index"].astype(np.int64)
    df[["x1", "x2"]] = df[["x1", "x2"]].clip(0, info.width)
    df[["y1", "y2"]] = df[["y1", "y2"]].clip(0, info.height)
    df["pts_time"] = np.asarray(info.pts_time)[df["frame_index"].to_numpy()]
    return df


def hit_mask(pred: pd.DataFrame, gt: pd.DataFrame, iou: float = 0.5) -> np.ndarray:
    """Per GT row: matched by ``pred`` (one-to-one per frame, IoU >= ``iou``)."""
    hit = np.zeros(len(gt), bool)
    pb = {int(f): g for f, g in pred.groupby("frame_index")}
    for f, idx in gt.groupby("frame_index").indices.items():
        p = pb.get(int(f))
        if p is None:
            continue
        _, cols = match_boxes(
            p[["x1", "y1", "x2", "y2"]].to_numpy(), gt.iloc[idx][["x1", "y1", "x2", "y2"]], iou
        )
        hit[idx[cols]] = True
    return hit


def ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="the reduced CPU run even when CUDA is present")
    parser.add_argument("--workdir", default="/tmp/faceoff-detectors")
    parser.add_argument("--heldout-offset", type=int, default=50000, help="seed offset of the held-out clips")
    parser.add_argument("--with-centerface-train", action="store_true", help="also fine-tune CenterFace")
    parser.add_argument(
        "--retrain", action="store_true", help="train and adapt again even if checkpoints exist"
    )
    parser.add_argument("--json", help="write all numbers to this JSON file")
    args = parser.parse_args()
    mode = "gpu" if torch.cuda.is_available() and not args.cpu else "cpu"
    plan = PLANS[mode]
    work = Path(args.workdir) / mode
    detect, regularize = DetectConfig(), RegularizeConfig()
    start = time.perf_counter()

    train_suite = benchmark_suite(plan["suite"])
    held_suite = [
        (f"{cid}_heldout", replace(cfg, n_frames=plan["heldout_frames"]), seed + args.heldout_offset)
        for cid, cfg, seed in benchmark_suite(plan["suite"])
    ]
    train_items = [AnnotatedVideo(*ensure_clip(work / "clips", *c), c[0]) for c in train_suite]
    held = {c[0]: ensure_clip(work / "clips", *c) for c in held_suite}
    print(f"{mode} run: {len(train_items)} training clips, {len(held)} held-out clips", flush=True)

    checkpoints: dict[str, Path] = {}
    cards: dict[str, dict] = {}
    models = work / "models"
    jobs = [("fasterrcnn", plan["train"])]
    if args.with_centerface_train:
        jobs.append(("centerface-trained", plan["centerface_train"]))
    for name, cfg in jobs:
        out = models / f"{name}.pt"
        if args.retrain or not out.exists():
            t = time.perf_counter()
            cards[name] = train_detector(
                train_items, cfg, out, log=lambda m, n=name: print(f"[{n}] {m}", flush=True)
            )
            print(f"[{name}] trained in {time.perf_counter() - t:.0f} s", flush=True)
        else:
            cards[name] = json.loads(out.with_suffix(".json").read_text())
        checkpoints[name] = out
    out = models / "centerface-adapted.pt"
    if args.retrain or not out.exists():
        t = time.perf_counter()
        cards["centerface-adapted"] = adapt(
            [(cid, video) for cid, (video, _) in held.items()],
            out,
            cfg=plan["adapt"],
            detect=detect,
            regularize=regularize,
            log=lambda m: print(f"[adapt] {m}", flush=True),
        )
        print(f"[adapt] done in {time.perf_counter() - t:.0f} s", flush=True)
    else:
        cards["centerface-adapted"] = json.loads(out.with_suffix(".json").read_text())
    checkpoints["centerface-adapted"] = out

    shipped = build_detector("centerface")
    # name -> (detector, detect section); "centerface@0.1" is the shipped detector at a lower threshold: the
    # cheap way to more recall that a trained or adapted model has to beat
    systems = {
        "centerface": (shipped, detect),
        "centerface@0.1": (shipped, detect.model_copy(update={"threshold": 0.1})),
    }
    for name in ("fasterrcnn", "centerface-trained", "centerface-adapted"):
        if name in checkpoints:
            systems[name] = (detector_from_checkpoint(checkpoints[name]), detect)
    results: dict[str, dict] = {}
    render = RenderConfig()
    for cid, (video, ann) in held.items():
        info = probe_video(video)
        gt = read_boxes(ann)
        gt_valid = gt[~gt["ignore"].to_numpy(bool)].reset_index(drop=True)
        per = results.setdefault(cid, {})
        base_hit = None
        for name, (det, det_cfg) in systems.items():
            t = time.perf_counter()
            dets = detect_video(det, video, info, det_cfg)
            seconds = time.perf_counter() - t
            tracks = track_regularize(
                dets, np.asarray(info.pts_time), TrackParams.from_config(regularize), info.width, info.height
            )
            ev = evaluate_video(dets, tracks, gt, render, info.width, info.height, info.frame_count)
            d_hit, t_hit = hit_mask(dets, gt_valid), hit_mask(tracks, gt_valid)
            if base_hit is None:
                base_hit = d_hit
            missed = ~base_hit
            per[name] = {
                "detections": {k: ev["detections"][k] for k in ("tp", "fp", "n_gt", "recall", "precision")},
                "tracks": {k: ev["tracks"][k] for k in ("tp", "fp", "n_gt", "recall", "precision")},
                "missed_by_shipped": {
                    "n": int(missed.sum()),
                    "detections_hit": int((d_hit & missed).sum()),
                    "tracks_hit": int((t_hit & missed).sum()),
                },
                "detect_seconds": round(seconds, 2),
            }
        line = ", ".join(f"{n} {pct(r['detections']['recall'])}" for n, r in per.items())
        print(f"{cid}: detection recall {line}", flush=True)

    def pooled(name: str) -> dict:
        acc = {"d_tp": 0, "d_fp": 0, "t_tp": 0, "t_fp": 0, "n": 0, "m": 0, "md": 0, "mt": 0}
        for per in results.values():
            r = per[name]
            acc["d_tp"] += r["detections"]["tp"]
            acc["d_fp"] += r["detections"]["fp"]
            acc["t_tp"] += r["tracks"]["tp"]
            acc["t_fp"] += r["tracks"]["fp"]
            acc["n"] += r["detections"]["n_gt"]
            acc["m"] += r["missed_by_shipped"]["n"]
            acc["md"] += r["missed_by_shipped"]["detections_hit"]
            acc["mt"] += r["missed_by_shipped"]["tracks_hit"]
        return {
            "faces": acc["n"],
            "detections_recall": ratio(acc["d_tp"], acc["n"]),
            "detections_precision": ratio(acc["d_tp"], acc["d_tp"] + acc["d_fp"]),
            "tracks_recall": ratio(acc["t_tp"], acc["n"]),
            "tracks_precision": ratio(acc["t_tp"], acc["t_tp"] + acc["t_fp"]),
            "missed_by_shipped": acc["m"],
            "missed_recall_detections": ratio(acc["md"], acc["m"]),
            "missed_recall_tracks": ratio(acc["mt"], acc["m"]),
        }

    totals = {name: pooled(name) for name in systems}
    print(
        f"\n# Detectors on {len(held)} held-out synthetic OR clips ({mode} run, {os.cpu_count()} cores, "
        f"{torch.cuda.get_device_name() if mode == 'gpu' else 'CPU'}, {time.perf_counter() - start:.0f} s)\n"
    )
    print(
        "| system | detections recall / precision | tracks recall / precision | recall on faces the "
        "shipped CenterFace missed (detections / tracks) |"
    )
    print("| --- | --- | --- | --- |")
    for name, t in totals.items():
        print(
            f"| {name} | {pct(t['detections_recall'])} / {pct(t['detections_precision'])} | "
            f"{pct(t['tracks_recall'])} / {pct(t['tracks_precision'])} | "
            f"{pct(t['missed_recall_detections'])} / {pct(t['missed_recall_tracks'])} "
            f"(of {t['missed_by_shipped']}) |"
        )
    print(f"\n{next(iter(totals.values()))['faces']} non-ignored faces.")
    print("\n## Recall of detections per clip (%)\n")
    print("| clip | faces | " + " | ".join(systems) + " |")
    print("| --- | --- |" + " --- |" * len(systems))
    for cid, per in results.items():
        n = next(iter(per.values()))["detections"]["n_gt"]
        print(f"| {cid} | {n} | " + " | ".join(pct(per[s]["detections"]["recall"]) for s in systems) + " |")
    for name, card in cards.items():
        if "rounds" in card:
            print(f"\n## {name}: adaptation rounds ({card['stop_reason']})\n")
            print(
                "| round | accepted | trained on (hard + replay frames) | pseudo-labels / hard examples | "
                "held-out: recall on confident detections | on pseudo-labels | hard examples now >= 0.5 |"
            )
            print("| --- | --- | --- | --- | --- | --- | --- |")
            for row in card["rounds"]:
                hc, hm, hh = row["holdout_confident"], row["holdout_missed"], row["holdout_hard_confident"]
                frames = f"{row['hard_frames']} + {row['replay_frames']}" if "hard_frames" in row else "-"
                print(
                    f"| {row['round']} | {row['accepted']} | {frames} | {row['pseudo_labels']} / "
                    f"{row['hard_boxes']} | {pct(hc['recall'])} (of {hc['n']}) | {pct(hm['recall'])} "
                    f"(of {hm['n']}) | {pct(hh['recall'])} (of {hh['n']}) |"
                )
        else:
            print(f"\n## {name}: training (kept epoch {card['kept_epoch']}, {card['seconds']} s)\n")
            print("| epoch | validation AP | recall / precision at 0.2 |")
            print("| --- | --- | --- |")
            for row in card["per_epoch"]:
                v = row["validation"]
                print(f"| {row['epoch']} | {pct(v['ap'])} | {pct(v['recall'])} / {pct(v['precision'])} |")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"mode": mode, "totals": totals, "per_clip": results, "cards": cards}, indent=1) + "\n"
        )


if __name__ == "__main__":
    main()
