"""The audit: re-detection of the rendered frames (inside the render, and on the encoded file) finds exactly
the frames where a face was left visible; the detections the tracks dropped are findings too; the audit
stage keeps a failing video out of delivery."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import skimage.data

from faceoff.anonymize import anonymize_frame, covered_mask
from faceoff.audit import (
    AuditFailed,
    AuditParams,
    audit_video,
    covered_share,
    inside_fraction,
    uncovered_detections,
)
from faceoff.boxes import DETECTION_SCHEMA, TRACK_SCHEMA, write_boxes
from faceoff.config import AuditConfig, DetectConfig, RenderConfig
from faceoff.detectors import build_detector
from faceoff.errors import FaceOffError
from faceoff.probe import probe_video
from faceoff.stages.audit import run_audit
from faceoff.stages.render import run_render
from faceoff.synth.clips import write_clip
from faceoff.zoom import ZoomDetector, ZoomParams

# The astronaut's face as CenterFace boxes it on the unblurred photo (score 0.93).
ASTRONAUT_FACE = np.array([181.5, 58.2, 269.9, 177.8])
HEAD = (slice(30, 190), slice(150, 290))  # the head crop used by the workflow tests
N_FRAMES, WIDTH, HEIGHT = 12, 224, 160


@pytest.fixture(scope="module")
def detector():
    return build_detector("centerface", device="cpu", threads=2)  # as the audit stage builds it


def _audit(**changes) -> AuditParams:
    """The audit as users get it (the audit section's defaults), with ``changes``."""
    return AuditParams.from_config(AuditConfig(**changes), "centerface")


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def face_clip_frames() -> tuple[np.ndarray, np.ndarray]:
    """12 frames of the astronaut's head (face ~62 px wide) moving right over grey; and its box per frame."""
    s = 0.7
    head = cv2.resize(skimage.data.astronaut()[HEAD], None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    face = (ASTRONAUT_FACE - [HEAD[1].start, HEAD[0].start] * 2) * s
    frames = np.full((N_FRAMES, HEIGHT, WIDTH, 3), 90, np.uint8)
    boxes = np.empty((N_FRAMES, 4))
    for t in range(N_FRAMES):
        x, y = 40 + 3 * t, 20
        frames[t, y : y + head.shape[0], x : x + head.shape[1]] = head
        boxes[t] = face + [x, y, x, y]
    return frames, boxes


def tracks_table(boxes: np.ndarray, frames: list[int], source: str = "detected") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "frame_index": np.asarray(frames, dtype=np.int64),
            "pts_time": np.asarray(frames, dtype=np.float64) / 25,
            "x1": boxes[frames, 0],
            "y1": boxes[frames, 1],
            "x2": boxes[frames, 2],
            "y2": boxes[frames, 3],
            "score": 0.9,
            "track_id": 0,
            "source": source,
        }
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """The source clip, its probe and the true face boxes."""
    root = tmp_path_factory.mktemp("audit")
    frames, boxes = face_clip_frames()
    src = write_clip(root / "src.mp4", frames, fps=25)
    return root, src, probe_video(src), boxes


def render_without(clip, missing: set[int], name: str, detector=None) -> tuple[Path, Path, dict]:
    """Render the clip hiding the face on every frame except ``missing``; returns (video, tracks, stats).
    With ``detector``, the render checks every frame it encodes with the default audit."""
    root, src, info, boxes = clip
    tracks = root / f"{name}.parquet"
    keep = [t for t in range(N_FRAMES) if t not in missing]
    meta = {"frame_count": info.frame_count, "width": info.width, "height": info.height}
    write_boxes(tracks_table(boxes, keep), tracks, meta, TRACK_SCHEMA)
    out = root / f"{name}.mp4"
    audit = AuditConfig(enabled=detector is not None)
    stats = run_render(
        str(src), info, tracks, RenderConfig(), out, root / f"{name}.json", audit=audit, detector=detector
    )
    return out, tracks, stats


def test_face_hidden_everywhere_passes(clip, detector, tmp_path):
    root, _, info, _ = clip
    video, tracks, stats = render_without(clip, set(), "all", detector)
    in_render = stats["audit"]
    out = tmp_path / "audit" / "all.json"
    result = audit_video(video, probe_video(video), tracks, RenderConfig(), _audit(), out, detector)
    for r in (in_render, result):  # the frames handed to the encoder, and the encoded file's frames
        assert r["passed"] and r["n_findings"] == 0 and r["findings"] == []
        assert r["frames_audited"] == info.frame_count == N_FRAMES
        assert r["threshold"] == _audit().threshold == 0.3
        assert r["max_score_inside_hidden"] < 0.1  # default blur, face ~62 px wide: nothing fires
    assert in_render["timing"]["seconds"] > 0 and in_render["detection_size"] == [WIDTH, HEIGHT]
    assert json.loads(out.read_text()) == result
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


def test_findings_exactly_on_unhidden_frames(clip, detector, tmp_path):
    """Found by the render's check of each frame, and the same frames by re-decoding the encoded file."""
    _, _, info, boxes = clip
    missing = {2, 7, 8}
    video, tracks, stats = render_without(clip, missing, "gaps", detector)
    redecoded = audit_video(video, info, tracks, RenderConfig(), _audit(), tmp_path / "a.json", detector)
    for result in (stats["audit"], redecoded):
        assert not result["passed"]
        assert {f["frame_index"] for f in result["findings"]} == missing
        assert result["n_findings"] == 3 and result["frames_with_findings"] == 3
        for f in result["findings"]:
            box = [f["x1"], f["y1"], f["x2"], f["y2"]]
            assert _iou(box, boxes[f["frame_index"]]) > 0.6, f
            assert f["score"] > 0.8 and f["inside_fraction"] == 0.0 and f["kind"] == "rendered"
            assert f["pts_time"] == pytest.approx(info.pts_time[f["frame_index"]])
    # the encoder's input and its decoded output differ by codec noise only: the boxes agree closely
    for a, b in zip(stats["audit"]["findings"], redecoded["findings"], strict=True):
        assert _iou([a[k] for k in ("x1", "y1", "x2", "y2")], [b[k] for k in ("x1", "y1", "x2", "y2")]) > 0.9
        assert abs(a["score"] - b["score"]) < 0.05
    err = AuditFailed(stats["audit"])
    assert "3 possible unhidden face(s) on 3 frame(s)" in str(err) and isinstance(err, FaceOffError)


def test_render_and_audit_hide_the_pad_around_each_box(clip, detector, tmp_path):
    """A small box in the middle of the face hides it only with its pad, and the audit knows the pad."""
    root, src, info, boxes = clip
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    small = np.concatenate([centre - 10, centre + 10], axis=1)
    meta = {"frame_count": info.frame_count, "width": info.width, "height": info.height}
    results = {}
    for pad in (0.0, 30.0):
        tracks = tmp_path / f"pad{pad:.0f}.parquet"
        write_boxes(tracks_table(small, list(range(N_FRAMES))).assign(pad=pad), tracks, meta, TRACK_SCHEMA)
        out = tmp_path / f"pad{pad:.0f}.mp4"
        stats = run_render(
            str(src),
            info,
            tracks,
            RenderConfig(),
            out,
            tmp_path / f"pad{pad:.0f}.json",
            audit=AuditConfig(),
            detector=detector,
        )
        results[pad] = stats["audit"]
    assert results[30.0]["passed"] and results[30.0]["max_score_inside_hidden"] < 0.1
    assert results[0.0]["n_findings"] > 0


def test_the_audit_looks_at_small_faces_through_the_zoom(detector, small_face_frames, tmp_path):
    frames, _ = small_face_frames(6)
    src = write_clip(tmp_path / "small.mp4", frames, fps=25)
    info = probe_video(src)
    tracks = tmp_path / "none.parquet"
    write_boxes(tracks_table(np.zeros((6, 4)), []), tracks, {"frame_count": 6}, TRACK_SCHEMA)
    params = _audit(width=0)
    plain = audit_video(src, info, tracks, RenderConfig(), params, tmp_path / "p.json", detector)
    zoom_params = ZoomParams.from_config(DetectConfig())
    zoomed = ZoomDetector(detector, zoom_params)
    zoom = audit_video(src, info, tracks, RenderConfig(), params, tmp_path / "z.json", zoomed)
    assert plain["n_findings"] == 0 and plain["zoom"] is None
    assert zoom["frames_with_findings"] == 6 and zoom["zoom"] == asdict(zoom_params)


class FixedDetector:
    """Returns the same boxes on every frame; checks the frames it gets are at detection size."""

    name, weights_sha256, runtime = "fixed", "0" * 64, "none"

    def __init__(self, boxes, shape):
        self.boxes, self.shape, self.calls = np.asarray(boxes, np.float32), shape, 0
        self.thresholds: list[float] = []

    def detect(self, frames, threshold):
        assert frames.shape[1:] == self.shape
        self.calls += len(frames)
        self.thresholds.append(threshold)
        return [self.boxes[self.boxes[:, 4] >= threshold] for _ in frames]


def test_boxes_scaled_from_detection_width_and_classified(clip, tmp_path):
    root, _, info, boxes = clip
    video, tracks, _ = render_without(clip, {5}, "one")
    (fx1, fy1, fx2, fy2) = boxes[0]
    # detection at half width: coordinates halve. One box on the hidden face of frame 0 (inside on every
    # frame but 5, where nothing is hidden), one in the empty top-left corner, one below the threshold.
    det = FixedDetector(
        [[fx1 / 2, fy1 / 2, fx2 / 2, fy2 / 2, 0.5], [0, 0, 10, 10, 0.3], [60, 40, 80, 60, 0.05]],
        (HEIGHT // 2, WIDTH // 2, 3),
    )
    params = _audit(width=WIDTH // 2, batch_size=5, max_stored_findings=4)
    result = audit_video(video, info, tracks, RenderConfig(), params, tmp_path / "a.json", det)
    assert det.calls == N_FRAMES
    # the corner box on every frame, and the face box on frame 5
    assert result["n_findings"] == N_FRAMES + 1 and result["frames_with_findings"] == N_FRAMES
    assert len(result["findings"]) == 4 and result["findings_truncated"]
    assert result["findings"][0] == {
        "kind": "rendered",
        "frame_index": 0,
        "pts_time": 0.0,
        "x1": 0.0,
        "y1": 0.0,
        "x2": 20.0,
        "y2": 20.0,
        "score": 0.3,
        "inside_fraction": 0.0,
    }
    assert result["hits_inside_hidden"] == N_FRAMES - 1 and result["max_score_inside_hidden"] == 0.5
    assert result["detection_size"] == [WIDTH // 2, HEIGHT // 2]


def test_a_second_look_at_weak_boxes_where_a_track_lost_the_face(clip, tmp_path):
    root, _, info, boxes = clip
    video, tracks, _ = render_without(clip, set(range(6, N_FRAMES)), "ends")  # the track ends on frame 5
    # a weak box on the face (where it is on frame 6, 3 px from frame 5's), a weak one in the empty
    # corner, one below lost_threshold
    weak = [[*boxes[6], 0.15], [0, 0, 30, 30, 0.15], [*boxes[6], 0.05]]
    det = FixedDetector(weak, (HEIGHT, WIDTH, 3))
    params = _audit(width=0, batch_size=4, lost_window=12)  # the second look is off by default
    result = audit_video(video, info, tracks, RenderConfig(), params, tmp_path / "a.json", det)
    # the face box on the frames after the track ended, nothing else (hidden on 0-5, away in the corner)
    assert [(f["frame_index"], f["kind"], f["score"]) for f in result["findings"]] == [
        (t, "lost", 0.15) for t in range(6, N_FRAMES)
    ]
    assert result["n_detections"] == 0 and result["hits_inside_hidden"] == 0
    assert det.thresholds == [0.3, 0.1, 0.1]  # the low threshold only on batches with such frames
    # a shot cut on frame 8 ends the look there; lost_window 0, or lost_threshold at the threshold: none
    cut = dataclasses.replace(info, cuts=[8])
    result = audit_video(video, cut, tracks, RenderConfig(), params, tmp_path / "b.json", det)
    assert [f["frame_index"] for f in result["findings"]] == [6, 7]
    for off in (_audit(width=0), _audit(width=0, lost_window=12, lost_threshold=0.3)):
        assert audit_video(video, info, tracks, RenderConfig(), off, tmp_path / "c.json", det)["passed"]


def test_inside_fraction():
    mask = np.zeros((10, 10), bool)
    mask[:, :5] = True
    assert inside_fraction(np.array([0, 0, 10, 10]), mask) == 0.5
    assert inside_fraction(np.array([0.5, 0, 4.5, 3]), mask) == 1.0
    assert inside_fraction(np.array([20, 20, 30, 30]), mask) == 0.0


def test_frame_count_mismatch_is_an_error(clip, tmp_path):
    root, src, info, boxes = clip
    _, tracks, _ = render_without(clip, set(), "mm")
    short = write_clip(tmp_path / "short.mp4", face_clip_frames()[0][:10])
    out = tmp_path / "a.json"
    det = FixedDetector(np.zeros((0, 5)), (HEIGHT, WIDTH, 3))
    with pytest.raises(FaceOffError, match="10|frames"):  # the probe says 12 frames, the video has 10
        audit_video(short, info, tracks, RenderConfig(), _audit(), out, det)
    other = tmp_path / "other.parquet"
    write_boxes(tracks_table(boxes, [0]), other, {"frame_count": 99}, TRACK_SCHEMA)
    with pytest.raises(FaceOffError, match="99"):
        audit_video(src, info, other, RenderConfig(), _audit(), out, det)
    assert not out.exists()


def test_params_validated():
    with pytest.raises(ValueError):
        dataclasses.replace(_audit(), threshold=0)
    with pytest.raises(ValueError):
        dataclasses.replace(_audit(), outside_fraction=1.0)
    with pytest.raises(ValueError):
        dataclasses.replace(_audit(), lost_scale=0.5)


# --------------------------------------------------------------------------------------------------
# Does the default blur defeat the detector? (measured numbers: see the faceoff.audit docstring)
# --------------------------------------------------------------------------------------------------


def astronaut_scene(scene: str, face_width: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut photo (``photo``) or her head on grey (``head``) scaled so the face is
    ``face_width`` px wide (None: photo as is); returns the frame and the face box."""
    img = skimage.data.astronaut()
    s = 1.0 if face_width is None else face_width / (ASTRONAUT_FACE[2] - ASTRONAUT_FACE[0])
    if scene == "photo":
        src, box = img, ASTRONAUT_FACE
    else:
        src, box = img[HEAD], ASTRONAUT_FACE - [HEAD[1].start, HEAD[0].start] * 2
    interpolation = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    im = src if s == 1 else cv2.resize(src, None, fx=s, fy=s, interpolation=interpolation)
    if scene == "photo":
        return np.ascontiguousarray(im), box * s
    h, w = im.shape[:2]
    oy, ox = max(32, h // 2), max(32, w // 2)
    canvas = np.full((h + 2 * oy, w + 2 * ox, 3), 90, np.uint8)
    canvas[oy : oy + h, ox : ox + w] = im
    return canvas, box * s + [ox, oy, ox, oy]


# Cases measured to fail: highest score of a box touching the hidden region (onnxruntime fp32, the default
# on CPU). A case measured within 0.01 of its threshold is not strict (it may flip on another CPU); the others
# are strict, so a render change that fixes one makes its XPASS fail here: then drop it from this table.
KNOWN_FAILURES = {  # default render: blur, ellipse, box_scale 1.5
    ("head", 32, 0.2): 0.268,  # 52% inside
    ("photo", 60, 0.2): 0.237,  # 34% inside: chin and neck below the blurred ellipse (int8: 0.321)
    ("photo", 160, 0.2): 0.204,  # 20% inside
}
BLUR_SIZES = {"head": (32, 40, 60, 80, 160), "photo": (32, 40, 60, 80, None, 160)}


def _blur_cases():
    for scene, widths in BLUR_SIZES.items():
        for width in widths:
            for thr in (0.2, _audit().threshold):
                known = KNOWN_FAILURES.get((scene, width, thr))
                marks = ()
                if known is not None:
                    reason = f"measured: the blurred {scene} (face {width or 88} px) still scores {known}"
                    marks = pytest.mark.xfail(reason=reason, strict=abs(known - thr) > 0.01)
                yield pytest.param(scene, width, thr, marks=marks, id=f"{scene}-{width or 'native'}-{thr}")


@pytest.mark.parametrize("scene,width,threshold", list(_blur_cases()))
def test_default_blur_defeats_detector(detector, scene, width, threshold):
    frame, face = astronaut_scene(scene, width)
    (before,) = detector.detect(frame[None], 0.5)
    assert len(before) and max(_iou(b, face) for b in before) > 0.7, "the scene must show a detectable face"
    box = before[np.argmax([_iou(b, face) for b in before]), :4]
    cfg = RenderConfig()
    anonymize_frame(frame, box[None], cfg)
    mask = covered_mask(box[None], cfg, frame.shape[1], frame.shape[0])
    (after,) = detector.detect(frame[None], threshold)
    touching = [(round(float(d[4]), 3), round(inside_fraction(d, mask), 2)) for d in after]
    touching = [t for t in touching if t[1] > 0]
    assert not touching, f"(score, fraction inside hidden region) of boxes on the blurred face: {touching}"


# --------------------------------------------------------------------------------------------------
# Check 2 (detections the rendered regions leave uncovered) and the audit stage
# --------------------------------------------------------------------------------------------------


def detections_table(rows: list[tuple[int, list[float], float]]) -> pd.DataFrame:
    """Detections ``(frame, box, score)``."""
    frames = np.array([r[0] for r in rows], np.int64)
    xyxy = np.array([r[1] for r in rows], np.float64).reshape(-1, 4)
    return pd.DataFrame(
        {
            "frame_index": frames,
            "pts_time": frames / 25,
            "x1": xyxy[:, 0],
            "y1": xyxy[:, 1],
            "x2": xyxy[:, 2],
            "y2": xyxy[:, 3],
            "score": np.array([r[2] for r in rows], np.float32),
        }
    )


@pytest.mark.parametrize("shape", ["ellipse", "rectangle"])
def test_covered_share_is_inside_fraction_of_the_covered_mask(shape):
    """The window-only computation against the full-frame mask it stands for (the oracle)."""
    rng = np.random.default_rng(7)
    cfg = RenderConfig(shape=shape)
    for _ in range(150):
        corners = rng.uniform(-30, 230, (3, 2))
        hidden = np.concatenate([corners, corners + rng.uniform(4, 80, (3, 2))], axis=1)
        xy = rng.uniform(-20, 220, 2)
        box = np.concatenate([xy, xy + rng.uniform(1, 90, 2)])
        want = inside_fraction(box, covered_mask(hidden, cfg, WIDTH, HEIGHT))
        assert covered_share(box, hidden, cfg, WIDTH, HEIGHT) == pytest.approx(want, abs=1e-12)
    assert covered_share(np.array([10.0, 10, 50, 50]), None, cfg, WIDTH, HEIGHT) == 0.0


def test_detections_the_tracks_dropped_are_findings(clip):
    _, _, info, boxes = clip
    tracks = tracks_table(boxes, [t for t in range(N_FRAMES) if t != 4])  # the tracks dropped frame 4
    dets = detections_table(
        [
            (4, list(boxes[4]), 0.25),  # weak, dropped by the tracks: unhidden -> a finding
            (5, list(boxes[5]), 0.9),  # hidden by its track: not a finding
            (6, [150, 100, 190, 150], 0.1),  # below detect's threshold: not checked
        ]
    )
    r = uncovered_detections(dets, tracks, RenderConfig(), info, 0.2, 0.5, max_stored=10)
    assert (r["n_checked"], r["n_findings"], r["frames_with_findings"]) == (2, 1, 1)
    (f,) = r["findings"]
    assert (f["kind"], f["frame_index"], f["score"], f["inside_fraction"]) == ("detection", 4, 0.25, 0.0)
    assert uncovered_detections(dets, tracks, RenderConfig(), info, 0.2, 0.5, max_stored=0)["findings"] == []


def test_audit_stage_blocks_delivery_and_says_what_it_checked(clip, detector, tmp_path):
    _, _, info, boxes = clip
    video, tracks, _ = render_without(clip, set(), "stage", detector)  # every face hidden
    stats = video.with_suffix(".json")
    meta = {"frame_count": info.frame_count, "width": info.width, "height": info.height}
    covered, dropped = tmp_path / "covered.parquet", tmp_path / "dropped.parquet"
    weak_only = tmp_path / "weak.parquet"
    write_boxes(detections_table([(3, list(boxes[3]), 0.9)]), covered, meta, DETECTION_SCHEMA)
    # a detection no track kept, where nothing is hidden: strong (severity high), or weak (low)
    strong, weak = (3, [160, 110, 200, 150], 0.9), (3, [160, 110, 200, 150], 0.25)
    write_boxes(detections_table([(3, list(boxes[3]), 0.9), strong]), dropped, meta, DETECTION_SCHEMA)
    write_boxes(detections_table([(3, list(boxes[3]), 0.9), weak]), weak_only, meta, DETECTION_SCHEMA)

    def audit(detections, name, **changes):
        return run_audit(
            video, info, tracks, detections, stats, RenderConfig(), AuditConfig(**changes), DetectConfig(),
            tmp_path / f"{name}.json", tmp_path / f"{name}.png", tmp_path / "anonymized" / f"{name}.mp4",
        )  # fmt: skip

    (tmp_path / "anonymized").mkdir()
    result = audit(covered, "ok", fail_on_findings=True)
    assert result["passed"] and (tmp_path / "anonymized" / "ok.mp4").read_bytes() == video.read_bytes()
    assert result["needs_review"] is False and result["runs"] == []
    checked = " ".join(result["checked"])
    assert f"every delivered frame ({N_FRAMES}), as handed to the encoder" in checked
    assert f"every detection of the detect stage at score >= {DetectConfig().threshold} (1 boxes)" in checked
    assert result["encoded_file"]["frames"] == N_FRAMES and result["encoded_file"]["size"] == [WIDTH, HEIGHT]

    with pytest.raises(AuditFailed, match="1 possible unhidden face.*1 run.* need review.*peak score 0.90"):
        audit(dropped, "strong", fail_on_findings=True)
    assert not (tmp_path / "anonymized" / "strong.mp4").exists()  # never delivered
    found = json.loads((tmp_path / "strong.json").read_text())
    assert found["rendered_frames"]["n_findings"] == 0 and found["detections"]["n_findings"] == 1
    assert [(f["kind"], f["frame_index"]) for f in found["findings"]] == [("detection", 3)]
    (run,) = found["runs"]
    assert found["needs_review"] and (run["severity"], run["first_frame"], run["frames"]) == ("high", 3, 1)
    assert run["path"] == [[3, 160.0, 110.0, 200.0, 150.0, 0.9]]
    assert audit(dropped, "report_only")["n_findings"] == 1  # without fail_on_findings: delivered
    assert (tmp_path / "anonymized" / "report_only.mp4").is_file()
    # one weak frame is noise: listed as a run of severity low, the video is delivered even so
    weak_result = audit(weak_only, "weak", fail_on_findings=True)
    assert weak_result["n_findings"] == 1 and not weak_result["needs_review"]
    assert [r["severity"] for r in weak_result["runs"]] == ["low"]
    assert (tmp_path / "anonymized" / "weak.mp4").is_file()

    other = tmp_path / "other.mp4"  # not the file whose frames the render checked
    other.write_bytes(video.read_bytes() + b"\0")
    with pytest.raises(FaceOffError, match="sha256"):
        run_audit(
            other, info, tracks, covered, stats, RenderConfig(), AuditConfig(), DetectConfig(),
            tmp_path / "x.json", tmp_path / "x.png", tmp_path / "anonymized" / "x.mp4",
        )  # fmt: skip
    with pytest.raises(FaceOffError, match="audit's parameters"):  # the render checked at another threshold
        audit(covered, "changed", threshold=0.5)
    assert not (tmp_path / "anonymized" / "x.mp4").exists()


def test_audit_stage_on_a_rotated_source(detector, tmp_path):
    """The rendered file is upright while the source's probe carries the rotation: both are used right."""
    frames, boxes = face_clip_frames()
    stored = np.ascontiguousarray(np.rot90(frames, -1, axes=(1, 2)))  # coded sideways, displayed upright
    src = write_clip(tmp_path / "rot.mp4", stored, rotation=90)
    info = probe_video(src)
    assert (info.rotation, info.width, info.height) == (90, WIDTH, HEIGHT)  # displayed upright
    tracks, dets = tmp_path / "t.parquet", tmp_path / "d.parquet"
    meta = {"frame_count": info.frame_count, "width": info.width, "height": info.height}
    write_boxes(tracks_table(boxes, list(range(N_FRAMES))), tracks, meta, TRACK_SCHEMA)
    write_boxes(detections_table([(0, list(boxes[0]), 0.9)]), dets, meta, DETECTION_SCHEMA)
    video, stats = tmp_path / "r.mp4", tmp_path / "r.json"
    run_render(str(src), info, tracks, RenderConfig(), video, stats, audit=AuditConfig(), detector=detector)
    result = run_audit(
        video, info, tracks, dets, stats, RenderConfig(), AuditConfig(), DetectConfig(),
        tmp_path / "a.json", tmp_path / "qa.png", tmp_path / "delivered.mp4",
    )  # fmt: skip
    assert result["passed"] and (tmp_path / "delivered.mp4").is_file()
