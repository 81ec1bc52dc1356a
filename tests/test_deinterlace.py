"""Interlaced video: what looks for faces reads the field shown first (faceoff.deinterlace)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from faceoff.audit import AuditParams, audit_video
from faceoff.boxes import TRACK_SCHEMA, empty_frame, read_boxes, write_boxes
from faceoff.config import AuditConfig, DetectConfig, RenderConfig
from faceoff.decode import iter_frames
from faceoff.deinterlace import first_field
from faceoff.detectors import build_detector
from faceoff.metrics import match_boxes
from faceoff.probe import probe_video
from faceoff.stages.detect import run_detect
from faceoff.stages.render import run_render
from faceoff.synth import pattern_frames, pattern_index
from faceoff.synth.orscene import SCENARIOS, generate_scene


def woven(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """An interlaced frame: even rows (the top field) from ``first``, odd rows from ``second``."""
    frame = first.copy()
    frame[..., 1::2, :, :] = second[..., 1::2, :, :]
    return frame


def test_first_field_is_the_field_shown_first():
    a, b = pattern_frames(9, 64, 48)[[2, 7]]
    frame = woven(a, b)[None]
    assert pattern_index(first_field(frame, "tff")[0]) == 2
    assert pattern_index(first_field(frame, "bff")[0]) == 7
    assert first_field(frame, "tff").shape == frame.shape
    assert first_field(frame, "tff", (32, 24)).shape == (1, 24, 32, 3)
    assert first_field(frame[..., 0], "bff").shape == (1, 48, 64)  # grey frames too
    assert first_field(frame, "progressive") is frame
    with pytest.raises(ValueError, match="interlace"):
        first_field(frame, "ttb")


@pytest.mark.parametrize("field", ["tff", "bff"])
def test_decoding_an_interlaced_clip_for_faces_gives_its_first_fields(make_clip, field):
    patterns = pattern_frames(12, 64, 48)
    frames = np.stack([woven(patterns[2 * i], patterns[2 * i + 1]) for i in range(6)])
    info = probe_video(make_clip(frames=frames, interlace=field, crf=4))
    assert info.interlace == field
    shown_first = [2 * i + (field == "bff") for i in range(6)]
    got = np.concatenate([f for _, f in iter_frames(info.path, info, fields=True)])
    assert [_one_pattern(f) for f in got] == shown_first
    grey = np.concatenate([f for _, f in iter_frames(info.path, info, gray=True, fields=True, size=(32, 24))])
    assert grey.shape == (6, 24, 32)


def _hits(found: pd.DataFrame, truth: list[np.ndarray]) -> int:
    """How many ``truth`` boxes (one array per frame) a box of ``found`` matches on its frame."""
    hits = 0
    for i, faces in enumerate(truth):
        boxes = found.loc[found["frame_index"] == i, ["x1", "y1", "x2", "y2"]].to_numpy()
        hits += len(match_boxes(boxes, faces)[0])
    return hits


def test_interlaced_video_is_detected_as_well_as_progressive(make_clip, tmp_path):
    """Moving synthetic OR faces woven into interlaced frames (each frame's odd rows a frame later): the
    detect stage finds them as it finds them in the progressive video of the first fields' moments, where
    detecting on the combed frames as decoded loses them. Ground truth: the scene generator's boxes."""
    detector = build_detector("centerface", runtime="onnxruntime", device="cpu")
    combed, truth_all, hits = [], [], {"interlaced": 0, "progressive": 0}
    for name, seed in [(name, seed) for name in ("fast_motion", "small_faces_720p") for seed in (9100, 9101)]:
        scene, gt = generate_scene(replace(SCENARIOS[name], n_frames=24), seed)
        moments = range(0, 24, 2)
        truth = [
            gt[(gt["frame_index"] == t) & ~gt["ignore"]][["x1", "y1", "x2", "y2"]].to_numpy() for t in moments
        ]
        frames = {
            "interlaced": np.stack([woven(scene[t], scene[t + 1]) for t in moments]),
            "progressive": scene[list(moments)],
        }
        for kind, video in frames.items():
            clip = make_clip(
                f"{name}-{seed}-{kind}.mp4",
                frames=video,
                crf=10,
                interlace="tff" if kind == "interlaced" else None,
            )
            info = probe_video(clip)
            run_detect(str(clip), info, DetectConfig(), tmp_path / f"{clip.stem}.parquet")
            hits[kind] += _hits(read_boxes(tmp_path / f"{clip.stem}.parquet"), truth)
        combed += [detector.detect(f[None], DetectConfig().threshold)[0] for f in frames["interlaced"]]
        truth_all += truth
    n = sum(map(len, truth_all))
    combed_rate = (
        100.0 * sum(len(match_boxes(f[:, :4], t)[0]) for f, t in zip(combed, truth_all, strict=True)) / n
    )
    rates = {kind: 100.0 * h / n for kind, h in hits.items()}
    print(f"recall: detect stage {rates}, one combed frame at a time {combed_rate:.1f}")
    assert combed_rate < rates["progressive"] - 10, "the combs should cost faces, or the set tells nothing"
    assert rates["interlaced"] >= rates["progressive"] - 2


def test_the_audit_re_detects_the_first_field_of_interlaced_frames(make_clip, tmp_path, recording_detector):
    """The render's frame check (on the frames going to the encoder) and the audit of the delivered file
    both give the detector the field shown first; the delivered video keeps both fields."""
    patterns = pattern_frames(12, 64, 48)
    src = make_clip(
        frames=np.stack([woven(patterns[2 * i], patterns[2 * i + 1]) for i in range(6)]),
        interlace="bff",
        crf=4,
    )
    info = probe_video(src)
    tracks = tmp_path / "none.parquet"
    write_boxes(empty_frame(TRACK_SCHEMA), tracks, {"frame_count": 6}, TRACK_SCHEMA)
    in_render, delivered = recording_detector(), recording_detector()
    out = tmp_path / "out.mp4"
    run_render(
        str(src),
        info,
        tracks,
        RenderConfig(),
        out,
        tmp_path / "out.json",
        audit=AuditConfig(),
        detector=in_render,
    )
    audit_video(out, probe_video(out), tracks, RenderConfig(), _params(), tmp_path / "audit.json", delivered)
    second_fields = [2 * i + 1 for i in range(6)]  # bottom field first: the odd rows, the later patterns
    assert [_one_pattern(f) for f in in_render.frames] == second_fields
    assert [_one_pattern(f) for f in delivered.frames] == second_fields
    assert probe_video(out).interlace == "bff"
    both = np.concatenate([f for _, f in iter_frames(out, probe_video(out))])
    assert [pattern_index(f[0::2]) for f in both] == [2 * i for i in range(6)]  # the top field is still there


def _one_pattern(frame: np.ndarray) -> int | None:
    """The pattern index shown on both the even and the odd rows of ``frame``; None for a woven frame."""
    even, odd = pattern_index(frame[0::2]), pattern_index(frame[1::2])
    return even if even == odd else None


def _params() -> AuditParams:
    return AuditParams.from_config(AuditConfig(), "centerface")


def test_the_second_field_is_hidden_where_the_face_has_moved(make_clip, tmp_path):
    """Boxes come from each frame's first field; its second field shows a moving face half a frame later.
    The render hides, on each frame, its own and the next frame's boxes, so the second field's face is
    hidden too (tight boxes, no margin: only that union covers it)."""
    size, step, n = 12, 6, 8  # a bright 12 px square moving 6 px a field

    def x_of(field: int) -> int:
        return 8 + step * field

    fields = np.full((2 * n, 48, 128, 3), 90, np.uint8)
    for j in range(2 * n):
        fields[j, 16 : 16 + size, x_of(j) : x_of(j) + size] = 230
    frames = fields[0::2].copy()
    frames[:, 1::2] = fields[1::2, 1::2]  # top field first: odd rows from the later field
    src = make_clip(frames=frames, interlace="tff", crf=4)
    info = probe_video(src)
    tracks = pd.DataFrame(
        [
            {"frame_index": k, "pts_time": info.pts_time[k], "x1": float(x_of(2 * k)), "y1": 16.0}
            | {"x2": float(x_of(2 * k) + size), "y2": 16.0 + size, "score": 0.9, "track_id": 0}
            | {"source": "detected"}
            for k in range(n)
        ]
    )
    write_boxes(tracks, tmp_path / "t.parquet", {"frame_count": n}, TRACK_SCHEMA)
    cfg = RenderConfig(method="fill", shape="rectangle", box_scale=1.0, min_margin=0)
    run_render(str(src), info, tmp_path / "t.parquet", cfg, tmp_path / "o.mp4", tmp_path / "o.json")
    out = np.concatenate([f for _, f in iter_frames(tmp_path / "o.mp4", probe_video(tmp_path / "o.mp4"))])
    for k in range(n - 1):  # the last frame has no next one to borrow from
        x = x_of(2 * k + 1)
        second = out[k, 17 : 16 + size : 2, x + 1 : x + size - 1]  # the later field's square, inner pixels
        assert second.max() < 60, f"frame {k}: the second field's square shows"
