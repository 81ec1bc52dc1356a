"""Export a video's tracks as CVAT for video 1.1 XML, for a reviewer to correct in CVAT.

The file loads over the *source* video in a CVAT task made from the whole video (task labels:
:func:`cvat_labels`, also written to the XML's ``<meta>``). Each FaceOff track id becomes one
``<track label="face">``; every box FaceOff hid is a keyframe (CVAT then shows exactly what was hidden
instead of re-interpolating it), and a box with ``outside="1"`` closes the track after each run of
frames. Each box carries the attributes ``source`` (detected, interpolated, ..., ``manual`` for a box
the reviewer draws: the attribute's default), ``score`` and ``track_id`` (FaceOff's id). Audit findings
(:mod:`faceoff.audit`) are tracks of the label ``finding``, one per run of findings
(:mod:`faceoff.findings`: a keyframe per frame of its box path, attributes ``severity`` and ``score``,
the run's peak), which corrections ignore: a reviewer who sees a missed face draws a ``face`` box there,
or relabels the finding ``face``. An audit JSON made before runs gives one-frame tracks per finding.
The reviewer's export of the task is read back by :mod:`faceoff.corrections`.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from faceoff.atomic import write_text
from faceoff.boxes import SOURCES, read_boxes
from faceoff.findings import SEVERITIES
from faceoff.probe import ProbeInfo

FACE_LABEL = "face"
FINDING_LABEL = "finding"
# "manual" first: CVAT gives a new box the first value of a select attribute.
SOURCE_VALUES = ["manual", *(s for s in SOURCES if s != "manual")]


def cvat_labels() -> list[dict[str, Any]]:
    """The task's labels in CVAT's label-constructor JSON ("Raw" tab when creating the task)."""

    def attr(name: str, input_type: str, default: str, values: list[str], mutable: bool = True):
        return {
            "name": name,
            "mutable": mutable,
            "input_type": input_type,
            "default_value": default,
            "values": values,
        }

    score = attr("score", "text", "1", [])
    return [
        {
            "name": FACE_LABEL,
            "color": "#33ddff",
            "type": "rectangle",
            "attributes": [
                attr("source", "select", "manual", SOURCE_VALUES),
                score,
                attr("track_id", "text", "", [], mutable=False),
            ],
        },
        {
            "name": FINDING_LABEL,
            "color": "#ff0000",
            "type": "rectangle",
            "attributes": [score, attr("severity", "select", "high", list(SEVERITIES))],
        },
    ]


def _sub(parent: ET.Element, tag: str, text: Any = None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


def _meta(root: ET.Element, task_name: str, info: ProbeInfo) -> None:
    task = _sub(_sub(root, "meta"), "task")
    for tag, value in (
        ("name", task_name),
        ("size", info.frame_count),
        ("mode", "interpolation"),
        ("overlap", 0),
        ("start_frame", 0),
        ("stop_frame", info.frame_count - 1),
        ("frame_filter", ""),
    ):
        _sub(task, tag, value)
    labels = _sub(task, "labels")
    for label in cvat_labels():
        el = _sub(labels, "label")
        _sub(el, "name", label["name"])
        _sub(el, "color", label["color"])
        _sub(el, "type", label["type"])
        attrs = _sub(el, "attributes")
        for a in label["attributes"]:
            ae = _sub(attrs, "attribute")
            _sub(ae, "name", a["name"])
            _sub(ae, "mutable", str(a["mutable"]))
            _sub(ae, "input_type", a["input_type"])
            _sub(ae, "default_value", a["default_value"])
            _sub(ae, "values", "\n".join(a["values"]))
    size = _sub(task, "original_size")
    _sub(size, "width", info.width)
    _sub(size, "height", info.height)


def _box(track: ET.Element, frame: int, xyxy: np.ndarray, outside: bool, attrs: dict[str, str]) -> None:
    x1, y1, x2, y2 = (f"{float(v):.2f}" for v in xyxy)
    el = ET.SubElement(
        track,
        "box",
        frame=str(frame),
        keyframe="1",
        outside="1" if outside else "0",
        occluded="0",
        xtl=x1,
        ytl=y1,
        xbr=x2,
        ybr=y2,
        z_order="0",
    )
    for name, value in attrs.items():
        _sub(el, "attribute", value).set("name", name)


def _track(root: ET.Element, xml_id: int, label: str, rows: pd.DataFrame, n_frames: int, attrs) -> None:
    """One ``<track>``: a keyframe per row, ``outside`` after the last frame of each run of frames."""
    track = ET.SubElement(root, "track", id=str(xml_id), label=label)
    frames = rows["frame_index"].to_numpy(dtype=np.int64)
    coords = rows[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float64)
    for i, (frame, box) in enumerate(zip(frames, coords, strict=True)):
        a = attrs(rows.iloc[i])
        _box(track, int(frame), box, False, a)
        run_ends = i + 1 == len(frames) or frames[i + 1] != frame + 1
        if run_ends and frame + 1 < n_frames:
            _box(track, int(frame) + 1, box, True, a)


def _finding_tracks(audit: dict[str, Any]) -> list[tuple[pd.DataFrame, dict[str, str]]]:
    """The audit's runs as (box path rows, attributes); per-frame findings when it has no runs."""
    if "runs" in audit:
        return [
            (
                pd.DataFrame(r["path"], columns=["frame_index", "x1", "y1", "x2", "y2", "score"]),
                {"score": f"{float(r['peak_score']):.4f}", "severity": str(r["severity"])},
            )
            for r in audit["runs"]
        ]
    return [(pd.DataFrame([f]), {"score": f"{float(f['score']):.4f}"}) for f in audit.get("findings") or []]


def cvat_xml(
    tracks: pd.DataFrame, info: ProbeInfo, task_name: str, audit: dict[str, Any] | None = None
) -> str:
    """CVAT for video 1.1 XML of ``tracks`` (and the ``audit``'s runs of findings) for the probed video."""
    root = ET.Element("annotations")
    _sub(root, "version", "1.1")
    _meta(root, task_name, info)
    df = tracks.sort_values(["track_id", "frame_index"], kind="stable").reset_index(drop=True)
    # A track id holding two boxes on one frame (never made by FaceOff's tracker) is split so that each
    # CVAT track has one box per frame.
    df["_part"] = df.groupby(["track_id", "frame_index"]).cumcount()
    xml_id = 0
    for (tid, _), rows in df.groupby(["track_id", "_part"], sort=True):

        def face_attrs(row: pd.Series, tid: int = int(tid)) -> dict[str, str]:
            source = str(row.get("source", "detected"))
            return {"source": source, "score": f"{float(row['score']):.4f}", "track_id": str(tid)}

        _track(root, xml_id, FACE_LABEL, rows.sort_values("frame_index"), info.frame_count, face_attrs)
        xml_id += 1
    for rows, attrs in _finding_tracks(audit or {}):
        _track(root, xml_id, FINDING_LABEL, rows, info.frame_count, lambda _, a=attrs: a)
        xml_id += 1
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def export_cvat(
    tracks_path: str | Path,
    info: ProbeInfo,
    out: str | Path,
    *,
    audit_json: str | Path | None = None,
    labels_out: str | Path | None = None,
    task_name: str | None = None,
) -> dict[str, int]:
    """Write the CVAT XML of a tracks table (and the audit's runs of findings) to ``out``; ``labels_out``:
    the task's labels JSON. Returns the counts written (``findings``: finding tracks)."""
    tracks = read_boxes(tracks_path)
    if "track_id" not in tracks.columns:
        raise ValueError(f"{tracks_path}: not a tracks table (no track_id column)")
    audit = json.loads(Path(audit_json).read_text(encoding="utf-8")) if audit_json else {}
    name = task_name or Path(tracks_path).stem
    write_text(out, cvat_xml(tracks, info, name, audit))
    if labels_out:
        write_text(labels_out, json.dumps(cvat_labels(), indent=2) + "\n")
    n_findings = len(_finding_tracks(audit))
    return {"tracks": int(tracks["track_id"].nunique()), "boxes": len(tracks), "findings": n_findings}
