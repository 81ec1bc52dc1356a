"""A reviewer's corrections to a video's tracks, applied before rendering.

A corrections file (``corrections/{id}.xml`` CVAT for video 1.1, ``{id}.json`` COCO or ``{id}.parquet``
box table; read by :func:`faceoff.annotations.load_annotations`) holds the **reviewed set of face boxes
of the whole video**, normally the output of ``faceoff export-cvat`` (:mod:`faceoff.cvat`) edited in
CVAT over the source video and exported again as "CVAT for video 1.1":

* a tracked box that is in the file unchanged (every corner within :data:`SAME_BOX_PX`) is kept as it
  was (its source, score and motion ``pad``);
* a tracked box that is not in the file is **removed**: the reviewer deleted its track, or switched the
  track ``outside`` on that frame (CVAT's "outside" property, ``outside="1"`` on a keyframe), or moved
  the box (the moved box is then an added one);
* a box in the file that matches no tracked box is **added** as a row with source ``manual``, score 1
  and pad 0 (the render's ``box_scale`` and ``min_margin`` still apply). Boxes of the ``finding`` label
  are not faces and are ignored.

A file that does not fit the video fails with an error naming it: frames outside the video, boxes
outside the picture (more than :data:`EDGE_TOLERANCE_PX`), malformed XML/JSON/Parquet, or a file
that keeps none of the video's tracked boxes (another video's review, or an empty export: it would
un-hide every face FaceOff found).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from faceoff.annotations import detect_format, load_annotations
from faceoff.boxes import (
    TRACK_SCHEMA,
    XYXY,
    check_made_for,
    clip_to_frame,
    read_boxes,
    read_metadata,
    write_boxes,
)
from faceoff.errors import FaceOffError
from faceoff.probe import ProbeInfo, sha256_file

SUFFIXES = (".xml", ".json", ".parquet")
SAME_BOX_PX = 0.5  # CVAT writes coordinates with 2 decimals
EDGE_TOLERANCE_PX = 1.0


def corrections_index(folder: str | Path | None, ids: list[str]) -> dict[str, str]:
    """``{id: file}`` of the videos that have a corrections file in ``folder`` (listed once)."""
    if not folder:
        return {}
    folder = Path(folder)
    if not folder.is_dir():
        raise FaceOffError(f"corrections: folder {str(folder)!r} does not exist")
    wanted = set(ids)
    found: dict[str, list[Path]] = {}
    for p in folder.iterdir():
        if p.suffix.lower() in SUFFIXES and p.stem in wanted and p.is_file():
            found.setdefault(p.stem, []).append(p)
    for vid, paths in found.items():
        if len(paths) > 1:
            names = ", ".join(sorted(p.name for p in paths))
            raise FaceOffError(f"corrections: several files for video {vid!r} in {folder}: {names}")
    return {vid: str(paths[0]) for vid, paths in sorted(found.items())}


def read_corrections(path: str | Path, info: ProbeInfo) -> pd.DataFrame:
    """The face boxes of a corrections file, checked against the probed video (frames, picture)."""
    try:
        df = load_annotations(path, frame_count=info.frame_count, pts_time=info.pts_time)
    except ValueError as err:
        raise FaceOffError(f"corrections: {err}") from None
    xy = df[XYXY].to_numpy(dtype=np.float64)
    tol = EDGE_TOLERANCE_PX
    outside = (xy[:, 0] < -tol) | (xy[:, 1] < -tol) | (xy[:, 2] > info.width + tol)
    outside |= xy[:, 3] > info.height + tol
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        box = ", ".join(f"{v:.1f}" for v in xy[i])
        raise FaceOffError(
            f"corrections: {path}: box ({box}) on frame {int(df['frame_index'].iat[i])} lies outside the "
            f"{info.width}x{info.height} picture ({int(outside.sum())} such boxes): made for another video?"
        )
    return df


def _matches(tracks: pd.DataFrame, corr: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (tracks rows kept, corrections rows matched): one-to-one pairs on the same frame
    whose corners all lie within :data:`SAME_BOX_PX`, closest pairs first."""
    kept = np.zeros(len(tracks), dtype=bool)
    used = np.zeros(len(corr), dtype=bool)
    if not len(tracks) or not len(corr):
        return kept, used
    t = tracks[["frame_index", *XYXY]].reset_index(drop=True).reset_index(names="it")
    c = corr[["frame_index", *XYXY]].reset_index(drop=True).reset_index(names="ic")
    pairs = t.merge(c, on="frame_index", suffixes=("_t", "_c"))
    diff = np.max(
        np.abs(pairs[[f"{k}_t" for k in XYXY]].to_numpy() - pairs[[f"{k}_c" for k in XYXY]].to_numpy()),
        axis=1,
    )
    close = diff <= SAME_BOX_PX
    order = np.argsort(diff[close], kind="stable")
    for it, ic in zip(
        pairs["it"].to_numpy()[close][order], pairs["ic"].to_numpy()[close][order], strict=True
    ):
        if not kept[it] and not used[ic]:
            kept[it] = used[ic] = True
    return kept, used


def apply_corrections(
    tracks: pd.DataFrame, corr: pd.DataFrame, info: ProbeInfo, where: str | Path = "corrections"
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The corrected tracks (kept rows, then the added ``manual`` rows) and the counts of kept, added and
    removed boxes. ``where`` names the corrections file in errors."""
    kept, matched = _matches(tracks, corr)
    if len(tracks) and not kept.any():
        raise FaceOffError(
            f"corrections: {where}: keeps none of the video's {len(tracks)} tracked boxes: not a review of "
            "this video's tracks (start from `faceoff export-cvat` of this video); it would un-hide every "
            "face FaceOff found"
        )
    added = corr.loc[~matched].copy()
    next_id = int(tracks["track_id"].max()) + 1 if len(tracks) else 0
    # one new track id per track of the file; boxes without a track (-1) get one each
    key = np.where(
        added["track_id"].to_numpy() >= 0, added["track_id"].to_numpy(), -1 - np.arange(len(added))
    )
    added["track_id"] = next_id + pd.factorize(key)[0].astype(np.int64)
    added["score"] = np.float32(1.0)
    added["source"] = "manual"
    added["pad"] = np.float32(0.0)
    added["pts_time"] = np.asarray(info.pts_time, dtype=np.float64)[added["frame_index"].to_numpy()]
    added = clip_to_frame(added, info.width, info.height)[[f.name for f in TRACK_SCHEMA]]
    out = pd.concat([tracks.loc[kept, [f.name for f in TRACK_SCHEMA]], added], ignore_index=True)
    counts = {"kept_boxes": int(kept.sum()), "added_boxes": len(added), "removed_boxes": int((~kept).sum())}
    return out, counts


def write_corrected_tracks(
    tracks_path: str | Path, corrections: str | Path | None, info: ProbeInfo, out: str | Path
) -> dict[str, Any] | None:
    """Write the tracks the render hides to ``out``: ``tracks_path`` with ``corrections`` applied (or as it
    is without). Its metadata is the tracks' plus ``corrections`` (file name, sha256, format, counts; None
    without a file), which the report records. Returns that ``corrections`` entry."""
    check_made_for(tracks_path, info)
    tracks = read_boxes(tracks_path)
    meta = read_metadata(tracks_path)
    record = None
    if corrections is not None:
        corr = read_corrections(corrections, info)
        tracks, counts = apply_corrections(tracks, corr, info, where=corrections)
        record = {
            "file": Path(corrections).name,
            "sha256": sha256_file(corrections),
            "format": detect_format(corrections),
            "boxes_in_file": len(corr),
            **counts,
        }
    write_boxes(tracks, out, {**meta, "corrections": record}, TRACK_SCHEMA)
    return record
