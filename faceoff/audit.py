"""The audit: look for faces a rendered video still shows, in three checks.

1. **Rendered frames** (:class:`FrameAudit`, run inside the render stage, :mod:`faceoff.stages.render`):
   every frame, exactly as handed to the encoder, is converted to RGB at ``audit.width`` and the detector
   (through detect's zoom) runs on it at ``audit.threshold``. Each box is compared with the regions the
   render hid on that frame (the track boxes with their pad, ``render.box_scale`` and shape):
   a box lying mostly outside them (less than ``1 - outside_fraction`` of its area inside) is a
   **finding**; one lying mostly inside is a **hit inside hidden** (the detector still fires on a hidden
   face), counted apart (``hits_inside_hidden``, ``max_score_inside_hidden``): it measures whether the
   blur defeats the detector, not whether something leaked. **Second look**: where a track lost a face
   (``audit.lost_window`` frames after a track ends or before one starts, no shot cut between:
   :func:`faceoff.findings.lost_regions`), the check also keeps boxes down to ``audit.lost_threshold``
   centred in the track's box grown ``audit.lost_scale`` times; those outside the hidden regions are
   findings of kind ``lost``. It costs no detector call: the detector computes those boxes anyway (the
   zoom looks again on the next batch only at what it would have at ``audit.threshold``; carrying the
   weak boxes too found more, and cost 49 % more on a street crowd: docs/audit.md). :func:`audit_video` runs
   the same check on the frames of an encoded file instead (an independent re-audit; the tests compare
   the two).
2. **Detections** (:func:`uncovered_detections`, a table check in the audit stage, no network pass):
   every row of the detections table at or above detect's threshold, seen at full detection size, that
   the rendered regions do not cover by the same rule is a finding: a face detection saw, perhaps weakly,
   and the tracks dropped.
3. **The encoded file** (:mod:`faceoff.stages.audit`): the render's encoder verified it before moving it
   into place (one video stream and nothing else, no chapters or tags beyond the allowed, packet count and
   every timestamp equal to the source's, displayed size, no rotation); the audit stage probes it again
   (frame count from the packet index, displayed size) and checks its sha256 is the one the render
   recorded after encoding the frames of check 1.

``passed`` is no finding in checks 1 and 2. Nothing here raises on findings; the audit stage groups them
into runs with a severity and gives the video's verdict, ``needs_review`` (:mod:`faceoff.findings`), and
decides (:class:`AuditFailed` when ``audit.fail_on_findings`` and the video needs review; it is then not
delivered).

False alarms on blurred faces (measured here, CenterFace via onnxruntime on CPU)
--------------------------------------------------------------------------------
Each scene: the face boxed by the detector on the unblurred image (score 0.81-0.94), hidden with the
then default render (blur, ellipse, ``box_scale`` 1.3, ``blur_strength`` 0.25), then detected again at 0.01.

* ``skimage.data.astronaut()`` as is (512x512, face 88 px wide; on the unblurred photo no other box
  reaches 0.04): the box centred on the blurred face scores **0.045** (83% inside the hidden region), but
  the blur *creates* two boxes on the neck below the blurred chin, **0.201** (on the suit's neck ring, 6%
  inside) and 0.140 (36% inside), both mostly outside the hidden region.
* Highest score of any box touching the hidden region / of the findings among them (inside < 50%), by
  face width in detection pixels::

      face width      24         32         40         60         80       88 (as is)    120        160
      whole photo  0.18/0.06  0.25/0.04  0.09/0.07  0.28/0.28  0.21/0.21  0.20/0.20  0.08/0.08  0.08/0.08
      head on grey 0.17/0.05  0.28/0.28  0.16/0.06  0.04/0.04  0.02/0.01      -      0.05/0.01  0.04/0.01

  So at 0.1 the blur still fires the detector on faces of 40 px or less (mostly inside the hidden
  region), and a blurred head above a collar or shoulders raises false findings of 0.2-0.28 at 32-88 px:
  CenterFace answers the head-over-shoulders *shape*. Highest finding over the same widths:
  ``blur_strength`` 0.5: 0.34; ``box_scale`` 1.5: 0.24; ``shape="rectangle"``: 0.23; rectangle with
  ``box_scale`` 1.5: 0.12 (best); pixelate: 0.16; black fill: 0.36.

Findings are therefore evidence to look at (the contact sheet outlines them in red), not proof of a leak;
the audit's threshold (``audit.threshold``, 0.3 by default) sits above most of these false alarms. The
table above is fp32, as the audit builds it on CPU by default (onnxruntime); with the default render
(``box_scale`` 1.5) no case in ``tests/test_audit.py`` reaches the audit's 0.3, and three reach 0.2: the
head at 32 px (0.268), the whole photo at 60 px (0.237 on a box 34 % inside the blur; the int8 runtimes
score it 0.321 and 0.300, findings at 0.3) and at 160 px (0.204). The test keeps each failing case as an
expected failure with its score.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from faceoff import __version__
from faceoff.anonymize import hidden_regions, region_mask
from faceoff.atomic import write_text
from faceoff.boxes import check_made_for, read_boxes
from faceoff.config import AuditConfig, RenderConfig, params_from
from faceoff.decode import detection_size, iter_frames
from faceoff.deinterlace import hidden_by_frame
from faceoff.errors import FaceOffError
from faceoff.findings import lost_regions
from faceoff.prefetch import prefetch
from faceoff.probe import ProbeInfo
from faceoff.progress import Progress
from faceoff.rotations import RotatedDetector
from faceoff.zoom import ZoomDetector

if TYPE_CHECKING:
    from faceoff.detectors import Detector

__all__ = [
    "AUDIT_FORMAT",
    "AuditFailed",
    "AuditParams",
    "FrameAudit",
    "audit_video",
    "covered_share",
    "inside_fraction",
    "uncovered_detections",
]

AUDIT_FORMAT = "faceoff.audit/3"  # 3: runs of findings, needs_review (faceoff.findings)


@dataclass(frozen=True)
class AuditParams:
    """How hard the audit looks: the ``audit`` config keys of the same names (defaults and meaning there,
    :class:`faceoff.config.AuditConfig`) and the detect section's detector name."""

    threshold: float
    width: int  # detection width (0 = source)
    outside_fraction: float  # finding: box lies less than (1 - this) inside the rendered region
    batch_size: int
    detector: str  # registered detector name (recorded)
    max_stored_findings: int  # findings kept in the JSON (the count is always complete)
    lost_threshold: float  # where a track lost a face: boxes down to this score ...
    lost_window: int  # ... on this many frames after a track ends, before one starts ...
    lost_scale: float  # ... centred in the track's box grown this many times

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise ValueError(f"audit threshold must be in (0, 1), got {self.threshold}")
        if not 0 <= self.outside_fraction < 1:
            raise ValueError(f"outside_fraction must be in [0, 1), got {self.outside_fraction}")
        if self.width < 0 or self.batch_size < 1 or self.max_stored_findings < 0:
            raise ValueError("width and max_stored_findings must be >= 0, batch_size >= 1")
        if not 0 < self.lost_threshold < 1 or self.lost_window < 0 or self.lost_scale < 1:
            raise ValueError("lost_threshold must be in (0, 1), lost_window >= 0, lost_scale >= 1")

    @classmethod
    def from_config(cls, cfg: AuditConfig, detector: str) -> AuditParams:
        """The audit's parameters from the ``audit`` section and the detect section's ``detector``."""
        return params_from(cls, cfg, detector=detector)


class AuditFailed(FaceOffError):
    """The audit found possible unhidden faces (raised by the caller when findings must fail the video)."""

    def __init__(self, result: dict, where: str | Path | None = None):
        self.result = result
        what = str(where or result.get("video", "video"))
        n, frames = result.get("n_findings", 0), result.get("frames_with_findings", 0)
        msg = f"{what}: audit found {n} possible unhidden face(s) on {frames} frame(s)"
        shown = result.get("findings") or []
        if shown:
            worst = max(shown, key=lambda f: f["score"])
            msg += f", e.g. frame {worst['frame_index']} score {worst['score']:.2f}"
        msg += f" (threshold {result.get('threshold')})"
        reasons = result.get("review_reasons") or []
        if reasons:
            msg += f"; {len(reasons)} run(s) need review, e.g. {reasons[0]}"
        super().__init__(msg)


def inside_fraction(box: np.ndarray, mask: np.ndarray) -> float:
    """Fraction of ``box`` (x1 y1 x2 y2, pixels) covered by ``mask`` (H,W bool); pixels cut by the box
    edges count whole. A box with no pixel inside the frame has fraction 0 (so it counts as a finding)."""
    height, width = mask.shape
    x1, y1 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x2, y2 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    if x2 <= x1 or y2 <= y1:
        return 0.0
    return float(mask[y1:y2, x1:x2].mean())


def covered_share(
    box: np.ndarray, hidden: np.ndarray | None, render: RenderConfig, width: int, height: int
) -> float:
    """:func:`inside_fraction` of ``box`` in the region the render hides for ``hidden`` (N,4) boxes on a
    ``width x height`` frame, computed over the box's window only (the same pixels as
    ``inside_fraction(box, covered_mask(hidden, render, width, height))``)."""
    x1, y1 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x2, y2 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    if x2 <= x1 or y2 <= y1 or hidden is None:
        return 0.0
    mask = np.zeros((y2 - y1, x2 - x1), dtype=bool)
    for r in hidden_regions(hidden, render, width, height):
        if not r.empty and r.x1 < x2 and x1 < r.x2 and r.y1 < y2 and y1 < r.y2:
            mask |= region_mask(r, x1, y1, x2, y2, render.shape)
    return float(mask.mean())


def _finding(kind: str, index: int, pts_time: float, box: np.ndarray, score: float, inside: float) -> dict:
    x1, y1, x2, y2 = (round(float(v), 2) for v in box)
    return {
        "kind": kind,
        "frame_index": index,
        "pts_time": pts_time,
        "x1": x1,
        "y1": y1,
        "x2": x2,
        "y2": y2,
        "score": round(float(score), 4),
        "inside_fraction": round(inside, 4),
    }


def _centred_in(boxes: np.ndarray, regions: np.ndarray | None) -> np.ndarray:
    """Which of ``boxes`` (N,4) have their centre inside one of ``regions`` (M,4)."""
    if regions is None or not len(regions):
        return np.zeros(len(boxes), dtype=bool)
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    r = regions[None]
    return np.any(
        (cx[:, None] >= r[..., 0])
        & (cx[:, None] <= r[..., 2])
        & (cy[:, None] >= r[..., 1])
        & (cy[:, None] <= r[..., 3]),
        axis=1,
    )


class FrameAudit:
    """Check 1 of the module doc: re-detect faces on rendered frames and compare them with what was hidden.

    ``info`` is the probe of the source (or of the rendered file: same frames and size); ``tracks_path`` and
    ``render`` are what the render stage hides. Feed every frame, in order, to :meth:`check` at
    :attr:`size` (RGB, None: the source size); :meth:`result` then gives the check's record. Raises
    FaceOffError when the tracks were made for another video.
    """

    def __init__(
        self,
        info: ProbeInfo,
        tracks_path: str | Path,
        render: RenderConfig,
        params: AuditParams,
        detector: Detector,
    ):
        check_made_for(tracks_path, info)
        self.info, self.render, self.params, self.detector = info, render, params, detector
        self.tracks_path = str(tracks_path)
        tracks = read_boxes(tracks_path)
        self.by_frame = hidden_by_frame(tracks, info.interlace)
        self.lost = (
            lost_regions(tracks, info.cuts or (), params.lost_window, params.lost_scale, info.frame_count)
            if params.lost_threshold < params.threshold
            else {}
        )
        self.size = detection_size(info, params.width)
        self._scale = (
            np.array([info.width / self.size[0], info.height / self.size[1]] * 2) if self.size else np.ones(4)
        )
        self._pts_time = np.asarray(info.pts_time, dtype=np.float64)
        self._min_inside = 1.0 - params.outside_fraction
        self.findings: list[dict] = []
        self.n_findings = self.n_detections = self.hits_inside = self.seen = 0
        self.finding_frames: set[int] = set()
        self.max_inside = self.max_outside = 0.0
        self.seconds = 0.0  # spent in check()

    def check(self, indices: np.ndarray, frames: np.ndarray) -> None:
        """Detect on ``frames`` (B, H, W, 3 RGB at :attr:`size`), the rendered frames ``indices``."""
        start = time.perf_counter()
        if len(indices) and int(indices[0]) != self.seen:
            raise FaceOffError(f"audit: got frame {int(indices[0])}, expected frame {self.seen}")
        info, threshold = self.info, self.params.threshold
        second_look = any(int(i) in self.lost for i in indices)  # a track lost a face on these frames
        low = min(threshold, self.params.lost_threshold) if second_look else threshold
        if low < threshold and isinstance(self.detector, (ZoomDetector, RotatedDetector)):  # look-again
            found = self.detector.detect(frames, low, carry_from=threshold)  # as at the usual threshold
        else:
            found = self.detector.detect(frames, low)
        for index, dets in zip(indices, found, strict=True):
            index = int(index)
            if not len(dets):
                continue
            boxes = np.asarray(dets[:, :4], dtype=np.float64) * self._scale
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, info.width)
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, info.height)
            scores = dets[:, 4].astype(float)
            weak = scores < threshold
            if weak.any():  # the second look keeps a weak box only where a track lost a face
                weak[weak] = ~_centred_in(boxes[weak], self.lost.get(index))
                boxes, scores = boxes[~weak], scores[~weak]
                weak = scores < threshold
            self.n_detections += int((~weak).sum())
            hidden = self.by_frame.get(index)
            for box, score, second in zip(boxes, scores, weak, strict=True):
                inside = covered_share(box, hidden, self.render, info.width, info.height)
                if inside >= self._min_inside:
                    if not second:
                        self.hits_inside += 1
                        self.max_inside = max(self.max_inside, score)
                    continue
                self.n_findings += 1
                self.finding_frames.add(index)
                self.max_outside = max(self.max_outside, score)
                kind = "lost" if second else "rendered"
                self.findings.append(_finding(kind, index, float(self._pts_time[index]), box, score, inside))
        self.seen += len(indices)
        self.seconds += time.perf_counter() - start

    def result(self, video: str | Path, every_finding: bool = False) -> dict:
        """The check's record for ``video`` (the file the checked frames went to); raises FaceOffError
        unless every frame of the probe was checked. It lists the first ``max_stored_findings`` findings,
        or with ``every_finding`` all of them (the render's stats: the audit stage groups them into runs,
        :mod:`faceoff.findings`)."""
        if self.seen != self.info.frame_count:  # never pass a video with unaudited frames
            raise FaceOffError(f"{video}: audited {self.seen} frames, the probe has {self.info.frame_count}")
        detector = self.detector
        listed = self.findings if every_finding else self.findings[: self.params.max_stored_findings]
        return {
            "format": AUDIT_FORMAT,
            "faceoff_version": __version__,
            "video": str(video),
            "tracks": self.tracks_path,
            "probe_sha256": self.info.sha256,
            "frame_count": self.info.frame_count,
            "frames_audited": self.seen,
            "detector": getattr(detector, "name", type(detector).__name__),
            "weights_sha256": getattr(detector, "weights_sha256", None),
            "runtime": getattr(detector, "runtime", None),
            "zoom": getattr(detector, "zoom", None),
            "detection_size": list(self.size or (self.info.width, self.info.height)),
            "params": asdict(self.params),
            "threshold": self.params.threshold,
            "render_params_hash": self.render.params_hash(),
            "n_detections": self.n_detections,
            "n_findings": self.n_findings,
            "frames_with_findings": len(self.finding_frames),
            "max_score_outside_hidden": round(self.max_outside, 4),
            "findings": listed,
            "findings_truncated": self.n_findings > len(listed),
            "hits_inside_hidden": self.hits_inside,
            "max_score_inside_hidden": round(self.max_inside, 4),
            "timing": {
                "seconds": round(self.seconds, 4),
                "frames_per_second": round(self.seen / self.seconds, 3) if self.seconds > 0 else 0.0,
            },
            "passed": self.n_findings == 0,
        }


def audit_video(
    anonymized_video: str | Path,
    info: ProbeInfo,
    tracks_path: str | Path,
    render: RenderConfig,
    params: AuditParams,
    out_json: str | Path,
    detector: Detector,
) -> dict:
    """Check 1 on the decoded frames of an encoded ``anonymized_video``; write its record to ``out_json``.

    ``info`` is the probe of the video or of its source (same frames and size). Returns the record.
    Raises FaceOffError (or VideoError) when the video, probe and tracks do not agree on the frames; never
    on findings.
    """
    audit = FrameAudit(info, tracks_path, render, params, detector)
    frames_of = iter_frames(
        anonymized_video, info, batch_size=params.batch_size, size=audit.size, fields=True
    )
    with Progress(info.frame_count, "audit") as progress:
        for indices, frames in prefetch(frames_of):
            audit.check(indices, frames)
            progress.update(len(indices))
    result = audit.result(anonymized_video)
    write_text(out_json, json.dumps(result, indent=2) + "\n")
    return result


def uncovered_detections(
    detections: pd.DataFrame,
    tracks: pd.DataFrame,
    render: RenderConfig,
    info: ProbeInfo,
    threshold: float,
    outside_fraction: float,
    max_stored: int | None,
) -> dict:
    """Check 2 of the module doc: every detection scoring at least ``threshold`` whose box lies less than
    ``1 - outside_fraction`` inside the regions the render hid for ``tracks`` on its frame.

    Returns ``{"threshold", "n_checked", "n_findings", "frames_with_findings", "max_score", "findings"}``
    (at most ``max_stored`` findings listed, None: all; all counted)."""
    rows = detections[detections["score"] >= threshold]
    by_frame = hidden_by_frame(tracks, info.interlace)
    pts_time = np.asarray(info.pts_time, dtype=np.float64)
    findings: list[dict] = []
    n = 0
    frames: set[int] = set()
    worst = 0.0
    coords = rows[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float64)
    for index, box, score in zip(
        rows["frame_index"].to_numpy(), coords, rows["score"].to_numpy(), strict=True
    ):
        index = int(index)
        inside = covered_share(box, by_frame.get(index), render, info.width, info.height)
        if inside >= 1.0 - outside_fraction:
            continue
        n += 1
        frames.add(index)
        worst = max(worst, float(score))
        if max_stored is None or len(findings) < max_stored:
            findings.append(_finding("detection", index, float(pts_time[index]), box, score, inside))
    return {
        "threshold": threshold,
        "n_checked": len(rows),
        "n_findings": n,
        "frames_with_findings": len(frames),
        "max_score": round(worst, 4),
        "findings": findings,
    }
