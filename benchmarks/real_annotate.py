"""Annotating the real-footage dev set (benchmarks/real_clips.json): pre-labels, hand edits, sheets.

    python benchmarks/real_annotate.py centerface [CLIP ...]   # faceoff's CenterFace, fp32, low threshold
    python benchmarks/real_annotate.py mtcnn [CLIP ...] [--every N]  # MTCNN (facenet-pytorch)
    python benchmarks/real_annotate.py build [CLIP ...]        # merge both + edits -> annotations
    python benchmarks/real_annotate.py sheets CLIP [--first N --last M --step K]  # PNGs to check by eye
    python benchmarks/real_annotate.py faces CLIP        # a crop per annotated face track and 25 frames
    python benchmarks/real_annotate.py candidates CLIP --tracks T.parquet  # pre-labels left out, uncovered

Pre-labels (``benchmarks/real/prelabel/{clip}-{detector}.parquet``) are two detectors' raw boxes:
CenterFace through ``run_detect`` (``runtime: onnxruntime``, threshold 0.1) and MTCNN from
facenet-pytorch 2.6 (weights in its wheel; stage thresholds 0.5/0.6/0.6): min face 16 px on every
second (goldeneye-cut) or third frame (paris-street), 24 px on every fourth (dinner-cuts,
kitchen-pass, whose faces are larger); the 2-core machine was shared, the parquet metadata says which.
facenet-pytorch pins torch < 2.3, so it is no project dependency: install it beside the venv for this
step only (``pip install --no-deps --target DIR facenet-pytorch==2.6.0``, ``PYTHONPATH=DIR``); the
committed pre-labels make every later step reproducible without it.

``build`` merges them: every CenterFace box at score >= 0.3 (the edits' ``centerface_keep`` where the
sheets showed too many false boxes below it), and an MTCNN box at score >= 0.9 where no
CenterFace box overlaps it (IoU >= 0.3), carried to the frames skipped between two matching MTCNN
boxes (IoU >= 0.3) by linear interpolation. Then it applies ``benchmarks/real/edits/{clip}.json``,
what a person decided on the contact sheets, in order:

* ``drop``: ``[first, last, x, y]``: remove the boxes holding point (x, y) on frames first..last, or
  ``[first, last, x1, y1, x2, y2]``: those whose centre lies in that region;
* ``flag``: ``[first, last, x, y, flag]`` (or the region form): set ``ignore``, ``occluded`` or
  ``masked`` on them;
* ``add``: ``{"flags": [...], "keys": [[frame, x1, y1, x2, y2], ...]}``: a face the detectors missed,
  boxes linearly interpolated between keyframes (first to last key), replacing the pre-labels that
  overlap it (IoU >= 0.3) on those frames.

Faces narrower than ``MIN_FACE_PX`` are ``ignore``. The result is
``benchmarks/real/annotations/{clip}.parquet`` in the annotation schema (README, "Box
tables"); docs/recall.md states the conventions (what a box spans, when a face is ``ignore``).

Two checks after ``build``, both as crop grids in ``SHEETS``:

* ``faces``: is every annotated box a face? The scored boxes are linked over frames into face tracks
  (:func:`link_groups`); one crop per track and ``REVIEW_SPAN`` frames.
* ``candidates``: is a face missing? The pre-labels that are on no annotated face (CenterFace from
  ``CANDIDATE_CENTERFACE``, MTCNN from ``CANDIDATE_MTCNN``, at least ``MIN_FACE_PX`` wide), linked the
  same way. Shown are those that the render of ``--tracks`` (a tracks table of the clip) leaves under 90 %
  hidden on two or more frames: missing faces that would hide leaks.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.real_clips import ANNOTATIONS, clip_path, load_manifest
from faceoff.annotations import COLUMNS
from faceoff.boxes import FLAG_COLUMNS, read_boxes, read_metadata, write_boxes
from faceoff.metrics import iou_matrix

REAL = ANNOTATIONS.parent
PRELABEL = REAL / "prelabel"
EDITS = REAL / "edits"
SHEETS = Path("/tmp/faceoff-real-sheets")
CENTERFACE_THRESHOLD = 0.1
CENTERFACE_KEEP = 0.3
MTCNN_KEEP = 0.9
MTCNN_EVERY = 3
SAME_FACE_IOU = 0.3
MIN_FACE_PX = 12  # narrower faces are ``ignore``: too small to score either way
REVIEW_SPAN = 25  # faces: one crop per face track and this many frames
CANDIDATE_CENTERFACE = 0.15
CANDIDATE_MTCNN = 0.7
XYXY = ["x1", "y1", "x2", "y2"]


def _clips(ids: list[str]) -> list[dict[str, Any]]:
    clips = load_manifest()
    return [c for c in clips if not ids or c["clip_id"] in ids]


def prelabel_centerface(clip: dict[str, Any]) -> None:
    from faceoff.config import DetectConfig
    from faceoff.probe import probe_video
    from faceoff.stages.detect import run_detect

    video = clip_path(clip)
    cfg = DetectConfig(runtime="onnxruntime", threshold=CENTERFACE_THRESHOLD)
    PRELABEL.mkdir(parents=True, exist_ok=True)
    run_detect(str(video), probe_video(video), cfg, PRELABEL / f"{clip['clip_id']}-centerface.parquet")


def prelabel_mtcnn(clip: dict[str, Any], every: int = MTCNN_EVERY, min_face: int = 16) -> None:
    import torch
    from facenet_pytorch import MTCNN

    from faceoff.decode import iter_frames
    from faceoff.probe import probe_video

    torch.set_num_threads(1)
    net = MTCNN(keep_all=True, device="cpu", min_face_size=min_face, thresholds=[0.5, 0.6, 0.6])
    video = clip_path(clip)
    info = probe_video(video)
    rows = []
    for indices, frames in iter_frames(video, info, batch_size=4):
        for index, frame in zip(indices, frames, strict=True):
            if index % every:
                continue
            boxes, scores = net.detect(frame)
            if boxes is None:
                continue
            for box, score in zip(boxes, scores, strict=True):
                rows.append((int(index), info.pts_time[index], *map(float, box), float(score)))
    df = pd.DataFrame(rows, columns=["frame_index", "pts_time", *XYXY, "score"])
    df = df.astype({"frame_index": np.int64, **dict.fromkeys(XYXY, np.float32), "score": np.float32})
    meta = {
        "stage": "prelabel",
        "detector": "mtcnn (facenet-pytorch 2.6.0)",
        "every": every,
        "min_face_px": min_face,
        "source_sha256": info.sha256,
    }
    PRELABEL.mkdir(parents=True, exist_ok=True)
    write_boxes(df, PRELABEL / f"{clip['clip_id']}-mtcnn.parquet", meta)


def _boxes(df: pd.DataFrame) -> np.ndarray:
    return df[XYXY].to_numpy(np.float64).reshape(-1, 4)


def merge(
    cf: pd.DataFrame, mt: pd.DataFrame, n_frames: int, every: int, cf_keep: float = CENTERFACE_KEEP
) -> pd.DataFrame:
    """CenterFace boxes from ``cf_keep`` plus the confident MTCNN boxes no CenterFace box overlaps (see
    module doc); MTCNN ran on every ``every``-th frame."""
    cf = cf.loc[cf["score"] >= cf_keep, ["frame_index", *XYXY]]
    mt = mt.loc[mt["score"] >= MTCNN_KEEP, ["frame_index", *XYXY]]
    cf_at = {f: _boxes(g) for f, g in cf.groupby("frame_index")}
    mt_at = {f: _boxes(g) for f, g in mt.groupby("frame_index")}
    rows = [cf]
    empty = np.zeros((0, 4))
    for f in range(n_frames):
        here = cf_at.get(f, empty)
        if f in mt_at:
            cand = mt_at[f]
        elif f - 1 in mt_at and f + 1 in mt_at:  # the frame MTCNN skipped: the mean of matched neighbours
            a, b = mt_at[f - 1], mt_at[f + 1]
            iou = iou_matrix(a, b) if len(a) and len(b) else np.zeros((len(a), len(b)))
            pairs = [
                (i, int(iou[i].argmax())) for i in range(len(a)) if len(b) and iou[i].max() >= SAME_FACE_IOU
            ]
            cand = np.array([(a[i] + b[j]) / 2 for i, j in pairs]).reshape(-1, 4)
        else:
            continue
        if len(here) and len(cand):
            cand = cand[iou_matrix(cand, here).max(axis=1) < SAME_FACE_IOU]
        if len(cand):
            rows.append(pd.DataFrame({"frame_index": f, **{k: cand[:, i] for i, k in enumerate(XYXY)}}))
    out = pd.concat(rows, ignore_index=True)
    return out.sort_values(["frame_index", "x1"], kind="stable").reset_index(drop=True)


def _holding(df: pd.DataFrame, first: int, last: int, *where: float) -> np.ndarray:
    """Rows on frames first..last whose box holds the point ``where`` = (x, y), or whose centre lies
    in the region ``where`` = (x1, y1, x2, y2)."""
    f = df["frame_index"].to_numpy()
    b = _boxes(df)
    if len(where) == 4:
        cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        x1, y1, x2, y2 = where
        inside = (x1 <= cx) & (cx <= x2) & (y1 <= cy) & (cy <= y2)
    else:
        x, y = where
        inside = (b[:, 0] <= x) & (x <= b[:, 2]) & (b[:, 1] <= y) & (y <= b[:, 3])
    return (f >= first) & (f <= last) & inside


def interpolate(keys: list[list[float]]) -> np.ndarray:
    """(frame, x1, y1, x2, y2) rows for every frame from the first key to the last, linearly between keys."""
    k = np.asarray(sorted(keys), dtype=np.float64).reshape(-1, 5)
    frames = np.arange(int(k[0, 0]), int(k[-1, 0]) + 1)
    cols = [np.interp(frames, k[:, 0], k[:, i]) for i in range(1, 5)]
    return np.column_stack([frames, *cols])


def apply_edits(df: pd.DataFrame, edits: dict[str, Any]) -> pd.DataFrame:
    """The pre-labels ``df`` (frame_index, x1..y2) after a person's edits (see module doc)."""
    df = df.copy()
    for flag in FLAG_COLUMNS:
        if flag not in df:
            df[flag] = False
    for first, last, *where in edits.get("drop", []):
        df = df.loc[~_holding(df, first, last, *where)].reset_index(drop=True)
    for first, last, *where, flag in edits.get("flag", []):
        df.loc[_holding(df, first, last, *where), flag] = True
    for face in edits.get("add", []):
        rows = interpolate(face["keys"])
        for frame, *box in rows:
            at = np.flatnonzero(df["frame_index"].to_numpy() == frame)
            if len(at):
                over = iou_matrix(_boxes(df.iloc[at]), np.asarray([box])).ravel() >= SAME_FACE_IOU
                df = df.drop(index=df.index[at[over]]).reset_index(drop=True)
        new = pd.DataFrame(rows, columns=["frame_index", *XYXY])
        for flag in FLAG_COLUMNS:
            new[flag] = flag in face.get("flags", [])
        df = pd.concat([df, new], ignore_index=True)
    return df.sort_values(["frame_index", "x1"], kind="stable").reset_index(drop=True)


def build(clip: dict[str, Any]) -> pd.DataFrame:
    """Write and return the clip's annotations from the committed pre-labels and edits."""
    from faceoff.probe import probe_video

    cid = clip["clip_id"]
    cf = read_boxes(PRELABEL / f"{cid}-centerface.parquet")
    mt = read_boxes(PRELABEL / f"{cid}-mtcnn.parquet")
    edits_path = EDITS / f"{cid}.json"
    edits = json.loads(edits_path.read_text()) if edits_path.exists() else {}
    every = int(read_metadata(PRELABEL / f"{cid}-mtcnn.parquet").get("every", 2))
    keep = edits.get("centerface_keep", CENTERFACE_KEEP)
    df = apply_edits(merge(cf, mt, clip["frames"], every, keep), edits)
    info = probe_video(clip_path(clip))
    w, h = info.width, info.height
    df["x1"], df["x2"] = df["x1"].clip(0, w), df["x2"].clip(0, w)
    df["y1"], df["y2"] = df["y1"].clip(0, h), df["y2"].clip(0, h)
    df = df.loc[(df["x2"] > df["x1"]) & (df["y2"] > df["y1"])].reset_index(drop=True)
    df.loc[df["x2"] - df["x1"] < MIN_FACE_PX, "ignore"] = True
    df["frame_index"] = df["frame_index"].astype(np.int64)
    df["pts_time"] = np.asarray(info.pts_time, dtype=np.float64)[df["frame_index"].to_numpy()]
    df["score"] = np.float32(1.0)
    df["track_id"] = np.int64(-1)
    df = df.astype({**dict.fromkeys(XYXY, np.float32), **dict.fromkeys(FLAG_COLUMNS, bool)})[COLUMNS]
    ANNOTATIONS.mkdir(parents=True, exist_ok=True)
    meta = {
        "stage": "annotations",
        "clip_id": cid,
        "source_sha256": info.sha256,
        "width": w,
        "height": h,
        "frame_count": info.frame_count,
    }
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), b"faceoff": json.dumps(meta).encode()}
    )
    pq.write_table(table, ANNOTATIONS / f"{cid}.parquet")
    return df


def sheets(
    clip: dict[str, Any],
    first: int,
    last: int,
    step: int,
    cols: int = 4,
    thumb: int = 480,
    crop: tuple[int, int, int, int] | None = None,
) -> list[Path]:
    """PNG grids of frames first..last (every ``step``-th), or of their ``crop`` (x1, y1, x2, y2), with
    the annotations drawn: green faces, red ``ignore``, yellow ``occluded``; each box labelled with
    its width in pixels."""
    import cv2

    from faceoff.decode import frames_at
    from faceoff.probe import probe_video

    info = probe_video(clip_path(clip))
    ann = read_boxes(ANNOTATIONS / f"{clip['clip_id']}.parquet")
    wanted = list(range(first, min(last, info.frame_count - 1) + 1, step))
    got = frames_at(clip_path(clip), info, wanted)
    frames = [got[i] for i in wanted]
    x0, y0, x1, y1 = crop or (0, 0, info.width, info.height)
    scale = thumb / (x1 - x0)
    tiles = []
    for index, frame in zip(wanted, frames, strict=True):
        img = np.ascontiguousarray(frame[:, :, ::-1])
        for r in ann.loc[ann["frame_index"] == index].itertuples():
            colour = (0, 0, 255) if r.ignore else (0, 255, 255) if r.occluded else (0, 255, 0)
            p1, p2 = (int(r.x1), int(r.y1)), (int(r.x2), int(r.y2))
            cv2.rectangle(img, p1, p2, colour, max(1, int(1.5 / scale)))
            label = (p1[0], max(10, p1[1] - 3))
            cv2.putText(img, f"{int(r.x2 - r.x1)}", label, 0, 0.5 / scale, colour, max(1, int(1 / scale)))
        img = cv2.resize(img[y0:y1, x0:x1], (thumb, round((y1 - y0) * scale)), interpolation=cv2.INTER_AREA)
        cv2.putText(img, str(index), (4, 16), 0, 0.5, (255, 255, 255), 1)
        tiles.append(img)
    return _write_grids(tiles, cols, 4, lambda s: f"{clip['clip_id']}-{wanted[s]:04d}.png")


def _write_grids(tiles: list[np.ndarray], cols: int, rows: int, name: Callable[[int], str]) -> list[Path]:
    """PNG grids of ``cols`` x ``rows`` ``tiles`` (of one size) in ``SHEETS``, named ``name(first tile)``."""
    import cv2

    SHEETS.mkdir(parents=True, exist_ok=True)
    out = []
    per = cols * rows
    for s in range(0, len(tiles), per):
        chunk = tiles[s : s + per]
        chunk += [np.zeros_like(tiles[0])] * (-len(chunk) % cols)
        path = SHEETS / name(s)
        cv2.imwrite(
            str(path), np.vstack([np.hstack(chunk[r : r + cols]) for r in range(0, len(chunk), cols)])
        )
        out.append(path)
    return out


def link_groups(df: pd.DataFrame, max_gap: int = 3, max_step: float = 0.8) -> np.ndarray:
    """A group id per row of ``df`` (frame_index, x1..y2): each box joins the group whose last box is at
    most ``max_gap`` frames back and whose centre is nearest, within ``max_step`` of that box's width;
    a group takes one box per frame."""
    group = np.full(len(df), -1, dtype=np.int64)
    frames = df["frame_index"].to_numpy()
    boxes = _boxes(df)
    last: dict[int, tuple[int, np.ndarray]] = {}  # group -> (frame, box) of its last box
    for f in np.unique(frames):
        taken: set[int] = set()
        for i in np.flatnonzero(frames == f):
            centre = (boxes[i, :2] + boxes[i, 2:]) / 2
            best, best_step = -1, max_step
            for g, (gf, gb) in last.items():
                if g in taken or not 0 < f - gf <= max_gap:
                    continue
                step = np.linalg.norm((gb[:2] + gb[2:]) / 2 - centre) / max(gb[2] - gb[0], 1.0)
                if step < best_step:
                    best, best_step = g, step
            group[i] = best if best >= 0 else len(last)
            last[int(group[i])] = (int(f), boxes[i])
            taken.add(int(group[i]))
    return group


def _crop_grid(
    clip: dict[str, Any], info: Any, rows: pd.DataFrame, labels: list[str], name: str, context: float
) -> list[Path]:
    """PNG grids (8 x 6) of a crop around each row's box (``context`` times its size each way) in the
    clip (``info``: its probe), the box drawn, each tile labelled."""
    import cv2

    from faceoff.decode import frames_at

    got = frames_at(clip_path(clip), info, sorted({int(f) for f in rows["frame_index"]}))
    tiles = []
    for r, label in zip(rows.itertuples(), labels, strict=True):
        img = np.ascontiguousarray(got[int(r.frame_index)][:, :, ::-1])
        half = int(max(r.x2 - r.x1, r.y2 - r.y1) * context) + 4
        cx, cy = (r.x1 + r.x2) / 2, (r.y1 + r.y2) / 2
        x0 = int(np.clip(cx - half, 0, max(0, info.width - 2 * half)))
        y0 = int(np.clip(cy - half, 0, max(0, info.height - 2 * half)))
        tile = cv2.resize(
            img[y0 : y0 + 2 * half, x0 : x0 + 2 * half], (160, 160), interpolation=cv2.INTER_CUBIC
        )
        k = 160 / (2 * half)
        p1, p2 = (int((r.x1 - x0) * k), int((r.y1 - y0) * k)), (int((r.x2 - x0) * k), int((r.y2 - y0) * k))
        cv2.rectangle(tile, p1, p2, (0, 255, 0), 1)
        cv2.putText(tile, label, (2, 12), 0, 0.38, (255, 255, 255), 1)
        tiles.append(tile)
    return _write_grids(tiles, 8, 6, lambda s: f"{clip['clip_id']}-{name}-{s // 48:02d}.png")


def review_faces(clip: dict[str, Any]) -> list[Path]:
    """Crop grids of the annotated (scored) faces: one per face track and ``REVIEW_SPAN`` frames."""
    ann = read_boxes(ANNOTATIONS / f"{clip['clip_id']}.parquet")
    ann = ann.loc[~ann["ignore"]].reset_index(drop=True)
    ann["group"] = link_groups(ann)
    picks, labels = [], []
    for g, rows in ann.groupby("group"):
        for _, span in rows.groupby(rows["frame_index"] // REVIEW_SPAN):
            r = span.iloc[len(span) // 2]
            picks.append(r)
            labels.append(f"t{g} f{int(r.frame_index)} n{len(rows)}")
    if not picks:
        return []
    from faceoff.probe import probe_video

    return _crop_grid(clip, probe_video(clip_path(clip)), pd.DataFrame(picks), labels, "faces", 1.5)


def review_candidates(clip: dict[str, Any], tracks: Path) -> list[Path]:
    """Crop grids of the pre-label groups on no annotated face that the render of ``tracks`` leaves
    under 90 % hidden on two or more frames (see module doc)."""
    from faceoff.config import RenderConfig
    from faceoff.evaluate import COVERED_AT, face_fractions, on_face
    from faceoff.probe import probe_video

    cid = clip["clip_id"]
    cf = read_boxes(PRELABEL / f"{cid}-centerface.parquet")
    mt = read_boxes(PRELABEL / f"{cid}-mtcnn.parquet")
    cand = pd.concat(
        [cf.loc[cf["score"] >= CANDIDATE_CENTERFACE], mt.loc[mt["score"] >= CANDIDATE_MTCNN]],
        ignore_index=True,
    )[["frame_index", *XYXY, "score"]]
    cand = cand.loc[cand["x2"] - cand["x1"] >= MIN_FACE_PX].reset_index(drop=True)
    ann = read_boxes(ANNOTATIONS / f"{cid}.parquet")
    cand = cand.loc[~on_face(cand, ann)].reset_index(drop=True)
    cand["group"] = link_groups(cand)
    info = probe_video(clip_path(clip))
    hidden = face_fractions(read_boxes(tracks), cand, RenderConfig(), info.width, info.height)
    left = cand.loc[hidden < COVERED_AT]
    picks, labels = [], []
    for g, rows in left.groupby("group"):
        if len(rows) >= 2:
            r = rows.iloc[len(rows) // 2]
            picks.append(r)
            span = f"{int(rows['frame_index'].min())}-{int(rows['frame_index'].max())}"
            labels.append(f"c{g} f{span} n{len(rows)} {rows['score'].max():.2f}")
    return _crop_grid(clip, info, pd.DataFrame(picks), labels, "candidates", 2.5) if picks else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cmd", choices=["centerface", "mtcnn", "build", "sheets", "faces", "candidates"])
    parser.add_argument("clips", nargs="*")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--last", type=int, default=10**9)
    parser.add_argument("--step", type=int, default=1)
    parser.add_argument("--every", type=int, default=MTCNN_EVERY, help="mtcnn: every n-th frame")
    parser.add_argument("--min-face", type=int, default=16, help="mtcnn: smallest face, pixels")
    parser.add_argument("--cols", type=int, default=4)
    parser.add_argument("--thumb", type=int, default=480, help="thumbnail width in pixels")
    parser.add_argument("--crop", type=int, nargs=4, help="sheets: x1 y1 x2 y2 of the frame to show")
    parser.add_argument("--tracks", type=Path, help="candidates: a tracks table of the clip")
    args = parser.parse_args()
    for clip in _clips(args.clips):
        if args.cmd == "centerface":
            prelabel_centerface(clip)
        elif args.cmd == "mtcnn":
            prelabel_mtcnn(clip, args.every, args.min_face)
        elif args.cmd == "faces":
            print("\n".join(map(str, review_faces(clip))))
        elif args.cmd == "candidates":
            if args.tracks is None:
                parser.error("candidates needs --tracks")
            print("\n".join(map(str, review_candidates(clip, args.tracks))))
        elif args.cmd == "build":
            df = build(clip)
            print(f"{clip['clip_id']}: {len(df)} boxes, {int(df['ignore'].sum())} ignore", file=sys.stderr)
        else:
            print(
                "\n".join(
                    map(str, sheets(clip, args.first, args.last, args.step, args.cols, args.thumb, args.crop))
                )
            )


if __name__ == "__main__":
    main()
