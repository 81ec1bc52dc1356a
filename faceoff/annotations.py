"""Import ground-truth face annotations into the box-table schema of :mod:`faceoff.boxes`.

Supported: our Parquet box table, COCO JSON, CVAT XML (for video 1.1, and for images 1.1) and MOT
CSV. Every reader returns the same columns: ``frame_index`` int64 (0-based, presentation order),
``pts_time`` float64, ``x1 y1 x2 y2`` float32 pixels, ``score`` float32 (1.0), ``track_id`` int64
(-1 when unknown) and the bool flags ``ignore``/``masked``/``occluded`` (False when absent).
Malformed input raises :class:`ValueError` naming the file.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from faceoff.boxes import FLAG_COLUMNS, read_boxes

COLUMNS = ["frame_index", "pts_time", "x1", "y1", "x2", "y2", "score", "track_id", *FLAG_COLUMNS]
FORMATS = ("parquet", "coco", "cvat", "mot")
EXTENSIONS = {".parquet": "parquet", ".pq": "parquet", ".json": "coco", ".xml": "cvat", ".csv": "mot"}
EXTENSIONS[".txt"] = "mot"
_TRUE = {"true", "1", "yes", "y", "t", "on"}
_FALSE = {"false", "0", "no", "n", "f", "off", "", "none"}


def _fail(path: str | Path, msg: str) -> ValueError:
    return ValueError(f"{path}: {msg}")


def _truthy(value: Any, path: str | Path, what: str) -> bool:
    """Parse a flag value (bool, number or yes/no text)."""
    if value is None:
        return False
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _fail(path, f"{what}: cannot read {value!r} as true/false")


def _frame(
    frames: Sequence[int],
    boxes: Sequence[Sequence[float]],
    track_ids: Sequence[int],
    flags: Sequence[Sequence[bool]],
    pts: Sequence[float],
    path: str | Path,
) -> pd.DataFrame:
    """Build a normalised table from parallel lists (flags rows are (ignore, masked, occluded))."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    fl = np.asarray(flags, dtype=bool).reshape(-1, len(FLAG_COLUMNS))
    n = len(b)
    pts_arr = np.asarray(pts, dtype=np.float64) if len(pts) else np.full(n, np.nan)
    df = pd.DataFrame(
        {
            "frame_index": np.asarray(frames, dtype=np.int64).reshape(-1),
            "pts_time": pts_arr,
            "x1": b[:, 0],
            "y1": b[:, 1],
            "x2": b[:, 2],
            "y2": b[:, 3],
            "score": np.ones(n, dtype=np.float32),
            "track_id": np.asarray(track_ids, dtype=np.int64).reshape(-1),
        }
    )
    for i, name in enumerate(FLAG_COLUMNS):
        df[name] = fl[:, i]
    return _normalise(df, path)


def _normalise(df: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """Check and cast a table to the annotation columns and dtypes, sorted by frame, track, x1."""
    out = pd.DataFrame(index=range(len(df)))
    try:
        out["frame_index"] = df["frame_index"].to_numpy(dtype=np.int64)
        pts = df["pts_time"] if "pts_time" in df.columns else np.nan
        out["pts_time"] = pd.Series(pts, index=df.index, dtype="float64").to_numpy()
        coords = df[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float64)
    except (KeyError, TypeError, ValueError) as err:
        raise _fail(path, f"cannot read box columns: {err}") from None
    if len(coords):
        if not np.isfinite(coords).all():
            raise _fail(path, "box coordinates must be finite numbers")
        bad = (coords[:, 2] < coords[:, 0]) | (coords[:, 3] < coords[:, 1])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise _fail(path, f"box with negative width or height in frame {out['frame_index'].iat[i]}")
    for i, c in enumerate(("x1", "y1", "x2", "y2")):
        out[c] = coords[:, i].astype(np.float32)
    out["score"] = np.float32(1.0)
    out["score"] = out["score"].astype(np.float32)
    try:
        if "track_id" in df.columns:
            tid = pd.Series(df["track_id"].to_numpy(), dtype="Int64").fillna(-1)
            out["track_id"] = tid.to_numpy(np.int64)
        else:
            out["track_id"] = np.full(len(df), -1, dtype=np.int64)
        for name in FLAG_COLUMNS:
            if name in df.columns:
                flag = pd.Series(df[name].to_numpy()).astype("boolean").fillna(False)
                out[name] = flag.to_numpy(dtype=bool)
            else:
                out[name] = np.zeros(len(df), dtype=bool)
    except (TypeError, ValueError) as err:
        raise _fail(path, f"cannot read track_id or flag columns: {err}") from None
    out = out.sort_values(["frame_index", "track_id", "x1"], kind="stable").reset_index(drop=True)
    return out[COLUMNS]


# --- Parquet ---------------------------------------------------------------------------------------


def read_parquet_annotations(path: str | Path) -> pd.DataFrame:
    """Our own box-table schema (:func:`faceoff.boxes.read_boxes`), flags and ``track_id`` optional."""
    try:
        df = read_boxes(path)
    except Exception as err:  # pyarrow raises several types (ArrowInvalid, OSError) for a non-Parquet file
        if isinstance(err, ValueError) and str(err).startswith(f"{path}:"):
            raise
        raise _fail(path, f"cannot read as Parquet: {err}") from None
    return _normalise(df, path)


# --- COCO ------------------------------------------------------------------------------------------


def _face_categories(path: str | Path, categories: list[dict[str, Any]]) -> set[Any] | None:
    """Ids of the face categories; None when the file has no categories (all boxes are faces)."""
    if not categories:
        return None
    names = {c.get("id"): str(c.get("name", "")) for c in categories}
    faces = {i for i, n in names.items() if "face" in n.lower()}
    if faces:
        return faces
    if len(names) == 1:
        return set(names)
    raise _fail(path, f"no face category among {sorted(names.values())}")


def _coco_frames(path: str | Path, images: list[dict[str, Any]]) -> dict[Any, int]:
    """Frame of each image id: ``frame_index``/``frame_id``, else the number in ``file_name``, else order."""
    for key in ("frame_index", "frame_id"):
        if images and all(key in im for im in images):
            frames = {im["id"]: int(im[key]) for im in images}
            break
    else:
        numbers = []
        for im in images:
            m = re.search(r"(\d+)(?!.*\d)", Path(str(im.get("file_name", ""))).stem)
            numbers.append(int(m.group(1)) if m else None)
        if images and all(n is not None for n in numbers):
            frames = {im["id"]: n for im, n in zip(images, numbers, strict=True)}
        else:
            frames = {im["id"]: i for i, im in enumerate(images)}
    if len(set(frames.values())) != len(frames):
        raise _fail(path, "several images map to the same frame index")
    return frames


def read_coco(path: str | Path) -> pd.DataFrame:
    """COCO JSON: ``images`` and ``annotations`` (``bbox`` = [x, y, w, h]) of the face category.

    The frame of an image is its ``frame_index`` or ``frame_id`` when every image has one, else the
    last number in its ``file_name`` (``frame_000123.jpg`` -> 123, taken as 0-based: ffmpeg's
    ``%d`` numbering starts at 1 unless run with ``-start_number 0``), else its position in
    ``images``. ``iscrowd`` -> ignore; ``attributes`` may hold ``masked``/``occluded``/``ignore``
    and ``track_id`` (also read from the annotation itself).
    """
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _fail(path, f"cannot read as COCO JSON: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise _fail(path, "not COCO JSON: no 'images' list")
    anns = data.get("annotations", [])
    if not isinstance(anns, list):
        raise _fail(path, "not COCO JSON: 'annotations' is not a list")
    try:
        images = [im for im in data["images"] if isinstance(im, dict) and "id" in im]
        if len(images) != len(data["images"]):
            raise _fail(path, "every image needs an 'id'")
        frames = _coco_frames(path, images)
        faces = _face_categories(path, data.get("categories") or [])
        rows_f, rows_b, rows_t, rows_fl = [], [], [], []
        for k, a in enumerate(anns):
            where = f"annotation {a.get('id', k)}" if isinstance(a, dict) else f"annotation {k}"
            if not isinstance(a, dict):
                raise _fail(path, f"{where}: not an object")
            if faces is not None and a.get("category_id") not in faces:
                continue
            if a.get("image_id") not in frames:
                raise _fail(path, f"{where}: unknown image_id {a.get('image_id')!r}")
            bbox = a.get("bbox")
            if not isinstance(bbox, list | tuple) or len(bbox) != 4:
                raise _fail(path, f"{where}: bbox must be [x, y, w, h]")
            x, y, w, h = (float(v) for v in bbox)
            attrs = a.get("attributes") or {}
            if not isinstance(attrs, dict):
                raise _fail(path, f"{where}: attributes must be an object")
            tid = a.get("track_id", attrs.get("track_id"))
            flags = (
                _truthy(a.get("iscrowd"), path, where)
                or _truthy(a.get("ignore", attrs.get("ignore")), path, where),
                _truthy(a.get("masked", attrs.get("masked")), path, where),
                _truthy(a.get("occluded", attrs.get("occluded")), path, where),
            )
            rows_f.append(frames[a["image_id"]])
            rows_b.append((x, y, x + w, y + h))
            rows_t.append(-1 if tid is None else int(tid))
            rows_fl.append(flags)
    except (TypeError, ValueError) as err:
        if isinstance(err, ValueError) and str(err).startswith(f"{path}:"):
            raise
        raise _fail(path, f"malformed COCO JSON: {err}") from None
    return _frame(rows_f, rows_b, rows_t, rows_fl, [], path)


# --- CVAT ------------------------------------------------------------------------------------------


def _attrs(el: ET.Element) -> dict[str, str]:
    return {str(a.get("name", "")).strip().lower(): (a.text or "").strip() for a in el.findall("attribute")}


def _xml_box(path: str | Path, el: ET.Element, where: str) -> tuple[float, float, float, float]:
    """Axis-aligned ``x1 y1 x2 y2`` of a CVAT box (a rotated box gives its bounding box)."""
    try:
        x1, y1, x2, y2 = (float(el.attrib[k]) for k in ("xtl", "ytl", "xbr", "ybr"))
        rot = float(el.get("rotation", 0) or 0)
    except (KeyError, ValueError) as err:
        raise _fail(path, f"{where}: bad box coordinates ({err})") from None
    if rot % 360:
        cx, cy, hw, hh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
        c, s = abs(math.cos(math.radians(rot))), abs(math.sin(math.radians(rot)))
        ex, ey = hw * c + hh * s, hw * s + hh * c
        x1, y1, x2, y2 = cx - ex, cy - ey, cx + ex, cy + ey
    return x1, y1, x2, y2


def _int_attr(path: str | Path, el: ET.Element, key: str, where: str) -> int:
    try:
        return int(el.attrib[key])
    except (KeyError, ValueError):
        raise _fail(path, f"{where}: missing or bad {key!r}") from None


def _labels(root: ET.Element, used: list[str]) -> set[str]:
    """Accepted label names: those containing 'face' (any case), or the only label there is."""
    declared = [(lab.findtext("name") or "").strip() for lab in root.iterfind("./meta//labels/label")]
    names = sorted(set(declared) | set(used))
    faces = {n for n in names if "face" in n.lower()}
    if faces:
        return faces
    return set(names) if len(names) == 1 else set()


def _cvat_meta(path: str | Path, root: ET.Element) -> int | None:
    """The last frame of the task (``stop_frame``), checking the task's frames are the video's."""
    meta = root.find("meta")
    if meta is None:
        return None
    start = (meta.findtext(".//start_frame") or "0").strip()
    step = (meta.findtext(".//frame_filter") or "").strip()
    if start not in ("0", "") or (step and step not in ("step=1", "1")):
        raise _fail(
            path,
            f"task starts at frame {start} / uses frame filter {step!r}: its frame numbers are not the "
            "video's; export a task made from the whole video",
        )
    stop = meta.findtext(".//stop_frame")
    return int(stop) if stop and stop.strip().lstrip("-").isdigit() else None


def _flags_of(path: str | Path, el: ET.Element, where: str) -> tuple[bool, bool, bool]:
    at = _attrs(el)
    return (
        _truthy(at.get("ignore"), path, where),
        _truthy(at.get("masked"), path, where),
        _truthy(el.get("occluded"), path, where),
    )


def read_cvat_video(path: str | Path, frame_count: int | None = None) -> pd.DataFrame:
    """CVAT XML: "CVAT for video 1.1" tracks (also "CVAT for images 1.1" image boxes).

    Each ``<track>`` of a face label (a label containing "face", any case, or the only label) lists
    ``<box frame outside occluded keyframe xtl ytl xbr ybr>``. As in CVAT, the box between two
    listed frames is interpolated linearly from the earlier one towards the later one (flags and
    attributes from the earlier one); a box with ``outside="1"`` ends the track until the next
    listed box; after the last listed box that is not outside the track goes on to the end of the
    video (``frame_count - 1``, else the task's ``stop_frame``). Attributes ``masked``/``ignore``
    and ``occluded="1"`` become flags; ``track_id`` is the track's ``id``.
    """
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as err:
        raise _fail(path, f"cannot read as CVAT XML: {err}") from None
    if root.tag != "annotations":
        raise _fail(path, f"not CVAT XML: root element is <{root.tag}>, expected <annotations>")
    stop = _cvat_meta(path, root)
    end = frame_count - 1 if frame_count is not None else stop
    tracks, images = root.findall("track"), root.findall("image")
    used = [str(t.get("label", "")) for t in tracks]
    used += [str(b.get("label", "")) for im in images for b in im.findall("box")]
    accepted = _labels(root, used)
    if used and not accepted:
        raise _fail(path, f"no face label among {sorted(set(used))}")
    rows_f, rows_b, rows_t, rows_fl = [], [], [], []

    for t in tracks:
        if t.get("label", "") not in accepted:
            continue
        tid = _int_attr(path, t, "id", "track")
        where = f"track {tid}"
        keys = []
        for b in t.findall("box"):
            f = _int_attr(path, b, "frame", where)
            keys.append(
                (f, _truthy(b.get("outside"), path, where), _xml_box(path, b, f"{where} frame {f}"), b)
            )
        keys.sort(key=lambda k: k[0])
        frames = [k[0] for k in keys]
        if len(set(frames)) != len(frames):
            raise _fail(path, f"{where}: several boxes on one frame")
        for i, (f, outside, box, el) in enumerate(keys):
            if outside:
                continue
            flags = _flags_of(path, el, f"{where} frame {f}")
            if i + 1 < len(keys):
                f_next, box_next = keys[i + 1][0], np.asarray(keys[i + 1][2])
            else:
                last = max(f, end) if end is not None else f
                f_next, box_next = last + 1, np.asarray(box)
            b0 = np.asarray(box)
            span = np.arange(f, f_next)
            t_frac = (span - f) / (f_next - f)
            rows_f.extend(span.tolist())
            rows_b.extend((b0[None, :] + (box_next - b0)[None, :] * t_frac[:, None]).tolist())
            rows_t.extend([tid] * len(span))
            rows_fl.extend([flags] * len(span))

    for im in images:
        f = _int_attr(path, im, "id", "image")
        for b in im.findall("box"):
            if b.get("label", "") not in accepted:
                continue
            where = f"image {f}"
            rows_f.append(f)
            rows_b.append(_xml_box(path, b, where))
            rows_t.append(-1)
            rows_fl.append(_flags_of(path, b, where))
    return _frame(rows_f, rows_b, rows_t, rows_fl, [], path)


# --- MOT -------------------------------------------------------------------------------------------


def read_mot(path: str | Path) -> pd.DataFrame:
    """MOT CSV ``frame,id,x,y,w,h,conf,...``: 1-based frames (made 0-based), ``conf == 0`` -> ignore.

    Commas or whitespace separate the fields; a non-numeric first line is taken as a header.
    ``id`` < 0 means unknown (track_id -1); a missing ``conf`` means 1.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise _fail(path, f"cannot read as MOT CSV: {err}") from None
    rows_f, rows_b, rows_t, rows_fl = [], [], [], []
    first = True
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = [v for v in re.split(r"[,\s]+", line) if v]
        try:
            vals = [float(v) for v in fields[:7]]
        except ValueError:
            if first:
                first = False
                continue  # header
            raise _fail(path, f"line {n}: not numbers: {line[:60]!r}") from None
        first = False
        if len(vals) < 6:
            raise _fail(path, f"line {n}: expected frame,id,x,y,w,h[,conf,...], got {len(fields)} fields")
        frame, tid, x, y, w, h = vals[:6]
        conf = vals[6] if len(vals) > 6 else 1.0
        if frame != int(frame) or frame < 1:
            raise _fail(path, f"line {n}: frame {fields[0]!r} is not a 1-based frame number")
        rows_f.append(int(frame) - 1)
        rows_b.append((x, y, x + w, y + h))
        rows_t.append(int(tid) if tid >= 0 else -1)
        rows_fl.append((conf == 0, False, False))
    return _frame(rows_f, rows_b, rows_t, rows_fl, [], path)


# --- dispatch --------------------------------------------------------------------------------------


def detect_format(path: str | Path) -> str:
    """The annotation format of ``path``: by extension, else by its first bytes."""
    p = Path(path)
    fmt = EXTENSIONS.get(p.suffix.lower())
    if fmt:
        return fmt
    try:
        with open(p, "rb") as fh:
            head = fh.read(512)
    except OSError as err:
        raise _fail(path, f"cannot read: {err}") from None
    if head.startswith(b"PAR1"):
        return "parquet"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"{"):
        return "coco"
    if stripped.startswith(b"<"):
        return "cvat"
    return "mot"


def load_annotations(
    path: str | Path,
    *,
    fmt: str = "auto",
    frame_count: int | None = None,
    pts_time: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Read annotations in any supported format (``fmt``: auto, parquet, coco, cvat, mot).

    ``frame_count`` (from the probe) bounds the frames: a box outside ``0 .. frame_count - 1``
    raises ValueError (often a 1-based numbering), and CVAT tracks run up to its last frame.
    ``pts_time`` (the probe's per-frame timestamps) fills ``pts_time``; otherwise it is NaN (a
    Parquet file keeps its own).
    """
    if not Path(path).is_file():
        raise _fail(path, "annotation file not found")
    kind = detect_format(path) if fmt == "auto" else fmt
    if kind == "parquet":
        df = read_parquet_annotations(path)
    elif kind == "coco":
        df = read_coco(path)
    elif kind == "cvat":
        df = read_cvat_video(path, frame_count=frame_count)
    elif kind == "mot":
        df = read_mot(path)
    else:
        raise ValueError(f"{path}: unknown annotation format {fmt!r} (expected auto or one of {FORMATS})")
    f = df["frame_index"].to_numpy(dtype=np.int64)
    if len(f) and f.min() < 0:
        raise _fail(path, f"negative frame index {int(f.min())}")
    if len(f) and frame_count is not None and f.max() >= frame_count:
        raise _fail(
            path,
            f"annotated frame {int(f.max())} is beyond the video's last frame {frame_count - 1} "
            "(1-based frame numbers?)",
        )
    if pts_time is not None:
        pts = np.asarray(pts_time, dtype=np.float64).reshape(-1)
        known = f < len(pts)
        out = np.full(len(f), np.nan)
        out[known] = pts[f[known]]
        df["pts_time"] = out
    return df
