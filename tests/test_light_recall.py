"""The CPU default detector finds in dark and in real footage what fp32 CenterFace finds (issue 20).

Recall is at IoU 0.5 (:func:`faceoff.metrics.match_boxes`), detections at ``DetectConfig().threshold``; the
CPU default (``runtime="auto"`` on CPU) must stay within :data:`MAX_LOSS` points of fp32 ``onnxruntime``.
The int8 model is run too, as a strict expected failure: it loses faces in the dark (docs/performance.md);
a quantization that holds would pass, and that XPASS fails here until the default is revisited.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from faceoff.boxes import read_boxes
from faceoff.config import DetectConfig
from faceoff.decode import iter_frames
from faceoff.detectors import build_detector
from faceoff.metrics import match_boxes
from faceoff.probe import probe_video
from faceoff.synth.orscene import SCENARIOS, generate_scene

MAX_LOSS = 0.5  # points of recall
THRESHOLD = DetectConfig().threshold
REAL_CLIPS = Path(
    os.environ.get("FACEOFF_REAL_CLIPS") or Path.home() / ".cache/faceoff/real-clips"
).expanduser()
REAL_MANIFEST = Path(__file__).parents[1] / "benchmarks" / "real_clips.json"
REAL_ANNOTATIONS = REAL_MANIFEST.parent / "real" / "annotations"
REAL_STEP = 4  # every 4th frame of a clip without annotations
INT8_DARK = "measured: int8 finds 68.5 % of these 168 dark faces, fp32 70.2 % (docs/performance.md)"
INT8_REAL = "measured: int8 finds 83.1 % of paris-street's faces, fp32 83.7 % (docs/performance.md)"


def _runtimes(int8_reason: str) -> list:
    """The CPU default, and the int8 model as a strict expected failure measured for ``int8_reason``."""
    xfail = pytest.mark.xfail(strict=True, reason=int8_reason)
    return [pytest.param("auto", id="cpu-default"), pytest.param("onnxruntime-int8", marks=xfail, id="int8")]


def recall(found: list[np.ndarray], truth: list[np.ndarray]) -> float:
    """Per cent of the ``truth`` boxes (per frame, x1 y1 x2 y2 ...) that a ``found`` box matches."""
    hits = sum(len(match_boxes(f[:, :4], t[:, :4])[0]) for f, t in zip(found, truth, strict=True))
    return 100.0 * hits / sum(len(t) for t in truth)


def detect(runtime: str, frames: list[np.ndarray]) -> list[np.ndarray]:
    detector = build_detector("centerface", runtime=runtime, device="cpu")
    return [detector.detect(frame[None], THRESHOLD)[0] for frame in frames]


def dim(frame: np.ndarray, gain: float, noise: float, rng: np.random.Generator) -> np.ndarray:
    """``frame`` with its light scaled by ``gain`` and sensor noise (sigma ``noise`` grey levels) added."""
    dark = frame.astype(np.float32) * gain + rng.normal(0.0, noise, frame.shape)
    return np.clip(np.rint(dark), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def dark_scenes() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Synthetic OR frames at 20 % and 8 % of their light, with sensor noise, and their visible faces."""
    rng = np.random.default_rng(20)
    frames, truth = [], []
    for k, name in enumerate(("or_mixed", "masked_crowd", "turns", "small_faces_720p")):
        scene, gt = generate_scene(replace(SCENARIOS[name], n_frames=31), 9000 + k)
        for t in range(0, 31, 6):
            faces = gt[(gt["frame_index"] == t) & ~gt["ignore"]][["x1", "y1", "x2", "y2"]].to_numpy()
            for gain, noise in ((0.2, 3.0), (0.08, 2.0)):
                frames.append(dim(scene[t], gain, noise, rng))
                truth.append(faces)
    return frames, truth


@pytest.fixture(scope="module")
def fp32_dark(dark_scenes) -> float:
    frames, truth = dark_scenes
    found = recall(detect("onnxruntime", frames), truth)
    assert found > 50, "fp32 should find most of the dark faces, or the set tells nothing"
    return found


@pytest.mark.parametrize("runtime", _runtimes(INT8_DARK))
def test_dark_frames_recall_holds(runtime, dark_scenes, fp32_dark):
    frames, truth = dark_scenes
    found = recall(detect(runtime, frames), truth)
    assert found >= fp32_dark - MAX_LOSS, (
        f"{runtime}: {found:.1f} % of the dark faces, fp32 {fp32_dark:.1f} %"
    )


def _real_clips() -> list[Path]:
    """The dev set's clips found in REAL_CLIPS: those of the manifest when there is one, else all."""
    if not REAL_CLIPS.is_dir():
        return []
    if not REAL_MANIFEST.is_file():
        return sorted(REAL_CLIPS.glob("*.mp4"))
    clips = [REAL_CLIPS / f"{c['clip_id']}.mp4" for c in json.loads(REAL_MANIFEST.read_text())["clips"]]
    return [c for c in clips if c.is_file()]


def _real_truth(clip: Path) -> pd.DataFrame | None:
    """The annotated faces of ``clip`` (not ``ignore``), or None while it has no annotations."""
    path = REAL_ANNOTATIONS / f"{clip.stem}.parquet"
    if not path.is_file():
        return None
    truth = read_boxes(path)
    return truth[~truth["ignore"].to_numpy(dtype=bool)] if "ignore" in truth.columns else truth


def _real_detect(runtime: str, clip: Path, frames: set[int] | None) -> list[np.ndarray]:
    """Detections on the ``frames`` of ``clip`` (None: every REAL_STEP-th frame), in frame order."""
    detector = build_detector("centerface", runtime=runtime, device="cpu")
    found = []
    for indices, batch in iter_frames(clip, probe_video(clip), 8):
        for i, frame in zip(indices.tolist(), batch, strict=True):
            if (i in frames) if frames is not None else i % REAL_STEP == 0:
                found.append(detector.detect(frame[None], THRESHOLD)[0])
    return found


@pytest.fixture(scope="module")
def real_fp32() -> dict[str, tuple[set[int] | None, list[np.ndarray] | None, list[np.ndarray]]]:
    """Per real clip: the annotated frames, their faces (None without annotations) and fp32's detections."""
    out = {}
    for clip in _real_clips():
        truth = _real_truth(clip)
        frames = None if truth is None else set(truth["frame_index"].tolist())
        faces = None
        if truth is not None:
            faces = [
                truth[truth["frame_index"] == i][["x1", "y1", "x2", "y2"]].to_numpy() for i in sorted(frames)
            ]
        out[clip.stem] = (frames, faces, _real_detect("onnxruntime", clip, frames))
    return out


@pytest.mark.skipif(not _real_clips(), reason=f"no real dev clips in {REAL_CLIPS} ($FACEOFF_REAL_CLIPS)")
@pytest.mark.parametrize("runtime", _runtimes(INT8_REAL))
def test_real_clips_recall_holds(runtime, real_fp32):
    """On every real dev clip, recall against its annotations (or, until it has them, against fp32's own
    detections) within MAX_LOSS points of fp32's."""
    losses = {}
    for clip in _real_clips():
        frames, faces, fp32 = real_fp32[clip.stem]
        truth = faces if faces is not None else fp32
        if not sum(len(t) for t in truth):
            continue  # no face to find
        got, want = recall(_real_detect(runtime, clip, frames), truth), recall(fp32, truth)
        if got < want - MAX_LOSS:
            losses[clip.stem] = f"{got:.1f} % against fp32 {want:.1f} %"
    assert not losses, f"{runtime} loses faces: {losses}"
