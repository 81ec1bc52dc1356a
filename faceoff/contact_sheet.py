"""A contact sheet: a PNG grid of thumbnails of the *anonymized* video, for a person to check by eye.

Only the anonymized output is decoded, never the source, so no un-anonymized face pixels can reach the
sheet. Each thumbnail shows the frame number and timestamp; the track boxes of that frame are outlined in
the colour of their source (see :data:`SOURCE_COLOURS`, also drawn as a legend under the grid) and audit
findings (:mod:`faceoff.audit`) in thick red.

Frames are chosen by :func:`pick_frames`: one per equal slice of the video, each slice showing its most
telling frame (an audit finding, else a box the tracker interpolated, extended or propagated, else a
detected face, else the slice's middle frame).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from faceoff.atomic import write_bytes
from faceoff.boxes import check_made_for, read_boxes
from faceoff.decode import frames_at
from faceoff.errors import FaceOffError
from faceoff.probe import ProbeInfo

__all__ = ["FINDING_COLOUR", "SOURCE_COLOURS", "pick_frames", "sheet_layout", "write_contact_sheet"]

SOURCE_COLOURS: dict[str, tuple[int, int, int]] = {  # RGB
    "detected": (0, 220, 0),
    "interpolated": (255, 210, 0),
    "extended": (0, 200, 255),
    "propagated": (255, 0, 255),
    "followed": (255, 128, 0),
    "unconfirmed": (155, 231, 155),
}
OTHER_COLOUR = (255, 255, 255)
FINDING_COLOUR = (255, 0, 0)
COLUMNS = 4
LEGEND_HEIGHT = 20
# Preference within a slice of the video: higher shows first.
_FINDING, _FILLED, _DETECTED, _PLAIN = 3, 2, 1, 0


def _categories(tracks: pd.DataFrame, findings: Iterable[dict], n_frames: int) -> np.ndarray:
    cat = np.full(n_frames, _PLAIN, dtype=np.int8)
    if not tracks.empty:
        frames = tracks["frame_index"].to_numpy(dtype=np.int64)
        source = tracks["source"].to_numpy() if "source" in tracks else np.full(len(frames), "detected")
        ok = (frames >= 0) & (frames < n_frames)
        det = ok & np.isin(source, ["detected", "unconfirmed"])
        cat[frames[det]] = _DETECTED
        cat[frames[ok & ~det]] = _FILLED  # interpolated / extended / propagated / followed: boxes guessed
    hit = [int(f["frame_index"]) for f in findings if 0 <= int(f["frame_index"]) < n_frames]
    cat[hit] = _FINDING
    return cat


def pick_frames(tracks: pd.DataFrame, findings: list[dict], n_frames: int, k: int = 12) -> list[int]:
    """Up to ``k`` frame indices (sorted) spread over ``n_frames`` frames; deterministic.

    The video is cut into ``k`` equal slices (all frames when ``n_frames <= k``). Each slice gives the frame
    of its highest category: an audit finding, then a track row that is not ``detected`` (interpolated,
    extended, propagated), then a detected face, then any frame; ties go to the frame nearest the slice's
    middle, then to the earlier one.
    """
    if n_frames <= 0 or k <= 0:
        return []
    if n_frames <= k:
        return list(range(n_frames))
    cat = _categories(tracks, findings, n_frames)
    edges = [round(i * n_frames / k) for i in range(k + 1)]
    chosen = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        idx = np.arange(lo, hi)
        middle = (lo + hi - 1) / 2
        # lexsort: last key is primary -> highest category, then nearest the middle, then earliest
        order = np.lexsort((idx, np.abs(idx - middle), -cat[lo:hi].astype(np.int64)))
        chosen.append(int(idx[order[0]]))
    return chosen


def sheet_layout(n_thumbs: int, width: int, height: int, thumb_width: int = 320) -> dict[str, int]:
    """Sizes of the sheet for ``n_thumbs`` thumbnails of a ``width x height`` video (never upscaled)."""
    tw = min(thumb_width, width)
    th = height if tw == width else max(2, round(height * tw / width / 2) * 2)
    cols = min(COLUMNS, max(1, n_thumbs))
    rows = max(1, math.ceil(n_thumbs / cols))
    return {
        "thumb_width": tw,
        "thumb_height": th,
        "columns": cols,
        "rows": rows,
        "width": cols * tw,
        "height": rows * th + LEGEND_HEIGHT,
    }


def _label(img: np.ndarray, text: str, org: tuple[int, int], colour=(255, 255, 255), scale=0.4) -> None:
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = org
    cv2.rectangle(img, (x - 2, y - h - 3), (x + w + 2, y + base), (0, 0, 0), cv2.FILLED)
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def _draw(
    thumb: np.ndarray, rows: pd.DataFrame, findings: list[dict], sx: float, sy: float, label: str
) -> None:
    def rect(x1, y1, x2, y2, colour, thickness):
        p1 = (int(math.floor(x1 * sx)), int(math.floor(y1 * sy)))
        p2 = (int(math.ceil(x2 * sx)) - 1, int(math.ceil(y2 * sy)) - 1)
        cv2.rectangle(thumb, p1, p2, colour, thickness)

    for r in rows.itertuples(index=False):
        rect(r.x1, r.y1, r.x2, r.y2, SOURCE_COLOURS.get(getattr(r, "source", ""), OTHER_COLOUR), 1)
    for f in findings:
        rect(f["x1"], f["y1"], f["x2"], f["y2"], FINDING_COLOUR, 2)
    _label(thumb, label, (4, 14))


def _legend(width: int) -> np.ndarray:
    strip = np.zeros((LEGEND_HEIGHT, width, 3), np.uint8)
    x = 4
    for name, colour in [*SOURCE_COLOURS.items(), ("audit finding", FINDING_COLOUR)]:
        cv2.rectangle(strip, (x, 5), (x + 10, 14), colour, cv2.FILLED)
        cv2.putText(strip, name, (x + 14, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.35, colour, 1, cv2.LINE_AA)
        x += 24 + cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, 0.35, 1)[0][0]
    return strip


def write_contact_sheet(
    anonymized_video: str | Path,
    info: ProbeInfo,
    tracks_path: str | Path,
    findings: list[dict],
    out_png: str | Path,
    *,
    k: int = 12,
    thumb_width: int = 320,
) -> list[int]:
    """Write a PNG grid of ``k`` frames of ``anonymized_video`` with boxes drawn; returns the frames shown.

    ``info`` is the probe of the anonymized video (or of its source: same frames and size); ``findings``
    are the audit's (``frame_index``, ``x1 y1 x2 y2`` at source resolution). Frames are decoded in order up
    to the last chosen one (:func:`faceoff.decode.frames_at`) and only the chosen ones converted, at
    thumbnail size. The PNG is written atomically.
    """
    check_made_for(tracks_path, info)
    tracks = read_boxes(tracks_path)
    chosen = pick_frames(tracks, findings, info.frame_count, k)
    if not chosen:
        raise FaceOffError(f"{anonymized_video}: no frames to show")
    aspect_w, aspect_h = info.sample_aspect  # thumbnails at the displayed shape (anamorphic video)
    lay = sheet_layout(len(chosen), round(info.width * aspect_w / aspect_h), info.height, thumb_width)
    tw, th = lay["thumb_width"], lay["thumb_height"]
    size = None if (tw, th) == (info.width, info.height) else (tw, th)
    sx, sy = tw / info.width, th / info.height

    thumbs = frames_at(anonymized_video, info, chosen, size)

    sheet = np.zeros((lay["height"], lay["width"], 3), np.uint8)
    by_frame = dict(tuple(tracks.groupby("frame_index"))) if not tracks.empty else {}
    empty = tracks.iloc[:0]
    for pos, index in enumerate(chosen):
        thumb = thumbs[index]
        frame_findings = [f for f in findings if int(f["frame_index"]) == index]
        label = f"#{index}  {info.pts_time[index]:.3f}s"
        _draw(thumb, by_frame.get(index, empty), frame_findings, sx, sy, label)
        r, c = divmod(pos, lay["columns"])
        sheet[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = thumb
    sheet[lay["rows"] * th :] = _legend(lay["width"])

    out = Path(out_png)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise FaceOffError(f"{out}: PNG encoding failed")
    write_bytes(out, buf.tobytes())
    return chosen
