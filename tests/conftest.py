"""Shared fixtures: tiny synthetic clips and broken files in per-test temp folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import skimage.data

from faceoff.synth import pattern_frames, write_audio, write_clip, write_truncated
from faceoff.synth.hostile import write_hostile_corpus


@pytest.fixture
def make_clip(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_clip(name="clip.mp4", n=12, width=64, height=48, frames=None, **write_clip_kwargs)``.

    Without ``frames`` the clip holds :func:`faceoff.synth.pattern_frames` (frame index encoded as grey
    level, white block top-left; read back with :func:`faceoff.synth.pattern_index`). Other keywords go to
    :func:`faceoff.synth.write_clip` (fps, pts_time, rotation, audio, metadata, subtitle, chapters, ...).
    """

    def _make(
        name: str = "clip.mp4",
        n: int = 12,
        width: int = 64,
        height: int = 48,
        frames: np.ndarray | None = None,
        **kwargs,
    ) -> Path:
        if frames is None:
            frames = pattern_frames(n, width, height)
        return write_clip(tmp_path / name, frames, **kwargs)

    return _make


@pytest.fixture
def clip(make_clip: Callable[..., Path]) -> Path:
    """A 12-frame 64x48 25 fps pattern clip."""
    return make_clip()


@pytest.fixture
def make_bad_file(tmp_path: Path, make_clip: Callable[..., Path]) -> Callable[[str], Path]:
    """Factory for files the prober must reject, by kind.

    Kinds: ``missing``, ``empty`` (0 bytes), ``text`` (text named .mp4), ``truncated`` (half of an MP4 with
    the index at the end), ``truncated_faststart`` (half of an MP4 with the index first), ``audio_only``,
    ``directory``.
    """

    def _make(kind: str) -> Path:
        p = tmp_path / f"bad_{kind}.mp4"
        if kind == "missing":
            return p
        if kind == "empty":
            p.write_bytes(b"")
        elif kind == "text":
            p.write_text("this is not a video\n" * 20, encoding="utf-8")
        elif kind in ("truncated", "truncated_faststart"):
            rng = np.random.default_rng(0)
            noisy = rng.integers(0, 256, (20, 48, 64, 3), dtype=np.uint8)  # incompressible: big mdat
            src = make_clip(f"src_{kind}.mp4", frames=noisy, faststart=kind == "truncated_faststart")
            write_truncated(src, p, 0.5)
        elif kind == "audio_only":
            p = write_audio(tmp_path / "bad_audio_only.m4a")
        elif kind == "directory":
            p.mkdir()
        else:
            raise ValueError(kind)
        return p

    return _make


@pytest.fixture
def partial_files() -> Callable[[Path], list[Path]]:
    """``partial_files(folder)``: leftover temp outputs (``.*partial*``) in ``folder``."""

    def _find(folder: Path) -> list[Path]:
        return sorted(folder.glob(".*partial*"))

    return _find


@pytest.fixture(scope="session")
def hostile_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """The broken/hostile input corpus (:mod:`faceoff.synth.hostile`), written once per session into a
    folder of its own: ``{case name: (path, "ok" | "error")}``. Tests must treat the files as read-only."""
    return write_hostile_corpus(tmp_path_factory.mktemp("hostile corpus"))


SMALL_FACE_AT = (150, 100)  # (x, y) of the small head's top-left corner on the first frame


@pytest.fixture
def small_face_frames() -> Callable[..., tuple[np.ndarray, tuple[int, int]]]:
    """``make(n, drift)``: n grey 192x144 frames with the astronaut's head at 1/8 size (20x18 px, face
    about 11 px wide: CenterFace at its own size scores it below 0.2), moving ``drift`` px right per
    frame; and the head's (height, width)."""

    def _make(n: int = 6, drift: int = 0) -> tuple[np.ndarray, tuple[int, int]]:
        head = skimage.data.astronaut()[30:190, 150:290][::8, ::8]
        x, y = SMALL_FACE_AT
        frames = np.full((n, 144, 192, 3), 90, np.uint8)
        for t in range(n):
            frames[t, y : y + head.shape[0], x + drift * t : x + drift * t + head.shape[1]] = head
        return frames, head.shape[:2]

    return _make


class Recorder:
    """A detector that finds nothing and keeps the frames it was given."""

    name, weights_sha256, runtime = "recorder", "0" * 64, "none"

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []

    def detect(self, frames: np.ndarray, threshold: float) -> list[np.ndarray]:
        self.frames += list(frames)
        return [np.zeros((0, 5), np.float32) for _ in frames]


@pytest.fixture
def recording_detector() -> type[Recorder]:
    """Factory: ``recording_detector()`` is a detector that finds nothing and keeps, in ``.frames``, every
    frame it was given (what the render's frame check or the audit looked at)."""
    return Recorder


class DetectorKilled(Exception):
    """Stands for a job killed while detecting (raised by :func:`watch_detector`'s detectors)."""


@pytest.fixture
def watch_detector(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[int]]:
    """``watch(shape, kill_after=None) -> calls``: every detector built from then on appends to ``calls``
    the size of each of its calls on whole frames of ``shape`` (height, width), not on the zoom's crops;
    with ``kill_after``, the call after that many raises ``watch.Killed`` (:class:`DetectorKilled`)."""
    import faceoff.detectors as detectors  # imports the detector runtime: only in tests that use it

    real_build = detectors.build_detector

    def watch(shape: tuple[int, int], kill_after: int | None = None) -> list[int]:
        calls: list[int] = []

        def build(*args, **kwargs):
            det = real_build(*args, **kwargs)
            real_detect = det.detect

            def detect(frames, threshold):
                if frames.shape[1:3] == shape:
                    if kill_after is not None and len(calls) >= kill_after:
                        raise DetectorKilled
                    calls.append(len(frames))
                return real_detect(frames, threshold)

            det.detect = detect
            return det

        monkeypatch.setattr(detectors, "build_detector", build)
        return calls

    watch.Killed = DetectorKilled  # type: ignore[attr-defined]
    return watch
