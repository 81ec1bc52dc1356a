"""Where the render's collateral comes from on the real dev set, and what a regularize or render
setting does to it, from the detections that ``benchmarks/recall.py --suite real`` cached.

    PYTHONPATH=. python benchmarks/collateral.py --workdir DIR [--runs NAME] [--only CLIP ...]
        [--regularize JSON] [--render JSON] [--false-tracks N]

For each real clip with ``DIR/real/RUNS/{clip}/detections.parquet`` (and its probe), the tracks are
made anew by the regularize stage (defaults, or ``--regularize`` JSON over them, e.g.
``'{"follow_min_track_score": 0.4}'``) and scored with the render's region (defaults, or ``--render``
JSON over them): coverage, longest leak, tracks precision (IoU 0.5) and collateral as in
``recall.py``, deface's collateral beside it when ``deface.parquet`` is cached there, and the
collateral split by cause (:func:`faceoff.evaluate.collateral_parts`): the render's geometry around the
boxes on a face, those boxes' pads, and the boxes on no face by their source (detected, interpolated,
extended, followed). ``--false-tracks N`` lists each clip's N tracks whose boxes on no face hide the
most (each counted alone, faces excluded): first and last frame, detections, best detection score,
followed rows, median width. Nothing is detected: run ``recall.py --suite real`` first.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.real_clips import load_manifest
from benchmarks.recall import DEFACE_REGION_SCALE, real_clip
from faceoff.anonymize import covered_mask
from faceoff.boxes import boxes_array, hidden_boxes, read_boxes
from faceoff.config import RegularizeConfig, RenderConfig
from faceoff.evaluate import collateral, collateral_parts, evaluate_video, on_face
from faceoff.probe import read_probe
from faceoff.stages.regularize import run_regularize

PARTS = [
    "face boxes",
    "face pads",
    "false detected",
    "false interpolated",
    "false extended",
    "false followed",
    "false unconfirmed",
]


def false_tracks(
    tracks: pd.DataFrame, gt: pd.DataFrame, render: RenderConfig, info, top: int
) -> pd.DataFrame:
    """The ``top`` tracks whose rows on no face hide the most pixels outside faces, each alone."""
    gt_f, gt_b = gt["frame_index"].to_numpy(), boxes_array(gt)
    off = tracks[~on_face(tracks, gt)]
    own: dict[int, int] = {}
    for (tid, f), rows in off.groupby(["track_id", "frame_index"]):
        mask = covered_mask(hidden_boxes(rows), render, info.width, info.height)
        for x1, y1, x2, y2 in gt_b[gt_f == f]:
            mask[
                max(0, int(np.floor(y1))) : int(np.ceil(y2)), max(0, int(np.floor(x1))) : int(np.ceil(x2))
            ] = False
        own[int(tid)] = own.get(int(tid), 0) + int(mask.sum())
    rows = []
    for tid in sorted(own, key=own.get, reverse=True)[:top]:
        t = tracks[tracks["track_id"] == tid]
        det = t[t["source"] == "detected"]
        rows.append(
            {
                "track": tid,
                "frames": f"{t['frame_index'].min()}-{t['frame_index'].max()}",
                "detections": len(det),
                "best score": round(float(det["score"].max()), 2) if len(det) else None,
                "followed": int((t["source"] == "followed").sum()),
                "median width": round(float((t["x2"] - t["x1"]).median()), 1),
                "on no face": f"{100 * own[tid] / (info.frame_count * info.width * info.height):.3f} %",
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, help="recall.py's --workdir (holds real/RUNS/{clip})")
    parser.add_argument("--runs", default="runs", help="recall.py's --runs: the folder of cached detections")
    parser.add_argument("--only", nargs="*", help="clip ids (or prefixes)")
    parser.add_argument("--regularize", default="{}", help="JSON of regularize settings over the defaults")
    parser.add_argument("--render", default="{}", help="JSON of render settings over the defaults")
    parser.add_argument("--false-tracks", type=int, default=0, help="list this many false tracks per clip")
    args = parser.parse_args()
    reg = RegularizeConfig(**json.loads(args.regularize))
    render = RenderConfig(**json.loads(args.render))
    deface_region = RenderConfig(box_scale=DEFACE_REGION_SCALE, min_margin=0, shape="ellipse")
    print(f"regularize over defaults: {args.regularize}; render over defaults: {args.render}\n")
    print(
        "| clip | coverage | longest leak | tracks precision | collateral | deface | "
        + " | ".join(PARTS)
        + " |"
    )
    print("| --- " * (6 + len(PARTS)) + "|")
    listed = []
    for clip in load_manifest():
        cid = clip["clip_id"]
        run = Path(args.workdir) / "real" / args.runs / cid
        if (args.only and not any(cid.startswith(p) for p in args.only)) or not (
            run / "detections.parquet"
        ).exists():
            continue
        video, gt, _ = real_clip(clip)
        info = read_probe(run / "probe.json")
        with tempfile.TemporaryDirectory() as tmp:
            tracks = run_regularize(
                run / "detections.parquet", info, reg, Path(tmp) / "tracks.parquet", video=video
            )
        det = read_boxes(run / "detections.parquet")
        size = (info.width, info.height, info.frame_count)
        res = evaluate_video(det, tracks, gt, render, *size)
        cov, col = res["coverage"]["tracks"], collateral(tracks, gt, render, *size)
        background = col["background_px"]
        parts = collateral_parts(tracks, gt, render, *size)
        deface = "-"
        if (run / "deface.parquet").exists():
            theirs = collateral(read_boxes(run / "deface.parquet"), gt, deface_region, *size)
            deface = f"{100 * theirs['collateral']:.2f}"
        cells = " | ".join(f"{100 * parts.get(p, 0) / background:.2f}" for p in PARTS)
        print(
            f"| {cid} | {100 * cov['coverage']:.1f} | {cov['longest_uncovered_run']} | "
            f"{100 * res['tracks']['precision']:.1f} | {100 * col['collateral']:.2f} | {deface} | {cells} |",
            flush=True,
        )
        if args.false_tracks:
            listed.append((cid, false_tracks(tracks, gt, render, info, args.false_tracks)))
    print(
        "\ncollateral and its parts: % of the pixels outside annotated faces (summed over frames); parts in"
    )
    print("order, each counting only pixels the earlier ones left (they sum to the collateral)")
    for cid, table in listed:
        print(f"\n### {cid}: false tracks hiding the most (share of all pixels)\n")
        print(table.to_markdown(index=False) if len(table) else "(none)")


if __name__ == "__main__":
    main()
