"""Broken and hostile inputs (faceoff.synth.hostile): each is processed completely or rejected clearly.

Unit level, per corpus case: probe, decode (both backends) and an encode round trip. Workflow level: one
Snakemake run over the whole corpus, plus sample sheets that must be refused before any job runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from faceoff.decode import iter_frames
from faceoff.encode import VideoWriter
from faceoff.errors import VideoError
from faceoff.probe import probe_video
from faceoff.synth import pattern_frames, write_clip
from faceoff.synth.clips import write_damaged_packets
from faceoff.synth.hostile import CASES, COLOUR_KEYS

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
OK = [name for name, case in CASES.items() if case.expected == "ok"]
ERRORS = [name for name, case in CASES.items() if case.expected == "error"]
RAW_ERROR_TEXT = re.compile(r"Traceback|Errno|\.cc:\d|Check failed|avcodec_|\bpyav\b|0x[0-9a-f]{6}")


def _assert_human_error(err: VideoError, path: Path, cause: str) -> None:
    """The message names the file, then one line of cause in words (no C++/errno/traceback residue)."""
    assert err.path == str(path)
    assert str(err).startswith(f"{path}: ")
    assert "\n" not in err.cause, err.cause
    assert not RAW_ERROR_TEXT.search(err.cause), err.cause
    assert re.search(cause, err.cause), err.cause


def _nearest(frames: np.ndarray, reference: np.ndarray) -> list[int]:
    """For each frame, the index of the reference frame it is closest to (mean absolute difference)."""
    diff = np.abs(frames[:, None].astype(np.int16) - reference[None].astype(np.int16))
    return diff.reshape(len(frames), len(reference), -1).mean(axis=2).argmin(axis=1).tolist()


def _expected_frames(name: str) -> np.ndarray:
    """What the decoder must return for an ok case: the pattern, turned upright."""
    case = CASES[name]
    w, h = case.size if case.rotation in (0, 180) else case.size[::-1]
    return np.rot90(pattern_frames(case.frames, w, h), case.rotation // 90, axes=(1, 2))


# -- unit level ------------------------------------------------------------------------------------


def test_corpus_covers_the_brief(hostile_corpus):
    assert set(hostile_corpus) == set(CASES)
    stems = [path.stem for path, _ in hostile_corpus.values()]
    assert len(set(stems)) == len(stems), "stems are video ids: they must be unique"
    suffixes = {path.suffix for path, _ in hostile_corpus.values()}
    assert {".mp4", ".mkv", ".mov"} <= suffixes
    assert any(" " in s and not s.isascii() for s in stems)
    assert {"ok", "error"} == {expected for _, expected in hostile_corpus.values()}


@pytest.mark.parametrize("name", ERRORS)
def test_error_cases_are_refused_clearly(hostile_corpus, name):
    path, _ = hostile_corpus[name]
    with pytest.raises(VideoError) as e:
        probe_video(path)
    _assert_human_error(e.value, path, CASES[name].cause)


@pytest.mark.parametrize("name", OK)
def test_ok_cases_probe(hostile_corpus, name):
    case = CASES[name]
    path, _ = hostile_corpus[name]
    info = probe_video(path)
    assert info.frame_count == case.frames == len(info.pts)
    assert (info.width, info.height) == case.size
    assert info.rotation == case.rotation
    assert info.sample_aspect == case.sample_aspect
    assert info.interlace == case.interlace
    assert tuple(getattr(info, k) for k in COLOUR_KEYS) == case.color
    assert (info.codec, info.pix_fmt) == (case.codec, case.pix_fmt)
    np.testing.assert_allclose(info.pts_time, case.pts_time, atol=float(info.time_base_fraction))
    assert info.variable_frame_rate == (name in ("vfr", "vfr_avi"))
    assert info.duration > 0 and info.last_frame_ticks >= 1


@pytest.mark.parametrize("backend", ["auto", "pyav"])
@pytest.mark.parametrize("name", OK)
def test_ok_cases_decode(hostile_corpus, name, backend):
    path, _ = hostile_corpus[name]
    info = probe_video(path)
    batches = list(iter_frames(path, info, batch_size=4, backend=backend))
    idx = np.concatenate([i for i, _ in batches])
    frames = np.concatenate([f for _, f in batches])
    np.testing.assert_array_equal(idx, np.arange(info.frame_count))
    assert frames.shape == (info.frame_count, info.height, info.width, 3)
    expected = _expected_frames(name)
    assert _nearest(frames, expected) == list(range(info.frame_count)), "frames out of order"
    # swscale's YUV->RGB is biased by up to -2 levels (10-bit) and x264 is lossy: allow a few levels
    diff = np.abs(frames.astype(int) - expected).mean()
    assert diff < 6, f"decoded frames differ from the source pattern by {diff:.1f} on average"


@pytest.mark.parametrize("name", OK)
def test_ok_cases_round_trip(hostile_corpus, name, tmp_path, partial_files):
    """Re-encoding without anonymising keeps count, size and timestamps; 10-bit/HEVC become 8-bit H.264."""
    path, _ = hostile_corpus[name]
    info = probe_video(path)
    out = tmp_path / "out.mp4"
    source = np.concatenate([f for _, f in iter_frames(path, info)])
    with VideoWriter(out, info) as writer:
        writer.write(source)
    got = probe_video(out)
    assert got.frame_count == info.frame_count
    assert (got.width, got.height, got.rotation, got.sample_aspect, got.interlace) == (
        info.width,
        info.height,
        0,
        info.sample_aspect,
        info.interlace,
    )
    odd = info.width % 2 or info.height % 2
    plain = "yuv444p" if odd else "yuv420p"  # 8-bit H.264; full range is reported as FFmpeg's "J" format
    assert (got.codec, got.pix_fmt) == (
        "h264",
        plain.replace("yuv", "yuvj") if info.color_range == "pc" else plain,
    )
    assert tuple(getattr(got, k) for k in COLOUR_KEYS) == tuple(getattr(info, k) for k in COLOUR_KEYS)
    # MP4 holds no time before 0: a source starting below it is written shifted to start at 0
    shifted = np.asarray(info.pts_time) - min(0.0, info.pts_time[0])
    np.testing.assert_allclose(got.pts_time, shifted, atol=float(info.time_base_fraction) / 2)
    if name != "vfr_avi":  # an MP4 sample lasts until the next in decode order (B-frames): at this AVI's
        # coarse 1/50 s ticks the output's last frame lasts 0.14 s, not 0.02 s (every pts above is exact)
        assert got.duration == pytest.approx(info.duration, abs=float(info.time_base_fraction))
    decoded = np.concatenate([f for _, f in iter_frames(out, got)])
    assert _nearest(decoded, source) == list(range(info.frame_count))
    assert np.abs(decoded.astype(int) - source).mean() < 4
    assert partial_files(tmp_path) == []


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_damaged_packets_mid_file_fail_closed(tmp_path, partial_files, backend):
    """Bit rot after a good first frame: the probe (which decodes one frame) passes, decoding stops with
    a clear error, and an encode fed from it leaves no output."""
    src = write_clip(tmp_path / "src.mp4", pattern_frames(8, 64, 48), codec_options={"g": "1", "bf": "0"})
    bad = write_damaged_packets(src, tmp_path / "damaged.mp4", [3, 4], seed=3)
    info = probe_video(bad)
    assert info.frame_count == 8
    out = tmp_path / "out.mp4"
    with pytest.raises(VideoError) as e, VideoWriter(out, info) as writer:
        for _, frames in iter_frames(bad, info, batch_size=2, backend=backend):
            writer.write(frames)
    _assert_human_error(e.value, bad, r"cannot be decoded: the video data is damaged")
    assert not out.exists() and partial_files(tmp_path) == []


# -- workflow level --------------------------------------------------------------------------------


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
    return subprocess.run([*SNAKEMAKE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def _job_logs(results: Path, vid: str) -> str:
    """Every stage log of one video, so a failure in CI shows its own cause."""
    return "\n".join(
        f"--- {log}\n{log.read_text()[-1500:]}" for log in sorted(results.glob(f"logs/*/{vid}.log"))
    )


@pytest.fixture(scope="module")
def corpus_run(hostile_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_wf")
    folder = next(iter(hostile_corpus.values()))[0].parent
    (root / "my.yaml").write_text(yaml.safe_dump({"inputs": [str(folder)], "results": "results"}))
    # --max-threads 1: rules asking for every core (detect, render) can run two at a time on 2 CPUs
    proc = _run(["--cores", "2", "--max-threads", "1", "--keep-going", "--configfile", "my.yaml"], root)
    return root / "results", proc


@pytest.mark.slow
def test_workflow_ok_cases_delivered(hostile_corpus, corpus_run):
    results, proc = corpus_run
    for name in OK:
        path, _ = hostile_corpus[name]
        vid = path.stem
        out = results / "anonymized" / f"{vid}.mp4"
        assert out.is_file(), f"{name}: no output\n{_job_logs(results, vid)}\n{proc.stderr[-2000:]}"
        assert (results / "reports" / f"{vid}.json").is_file(), name
        src, got = probe_video(path), probe_video(out)
        assert (got.frame_count, got.width, got.height, got.rotation, got.sample_aspect, got.interlace) == (
            src.frame_count,
            src.width,
            src.height,
            0,
            CASES[name].sample_aspect,  # anamorphic video is still displayed at its shape
            CASES[name].interlace,  # interlaced video is still deinterlaced by players
        ), name
        assert tuple(getattr(got, k) for k in COLOUR_KEYS) == CASES[name].color, name  # full range stays full
        assert got.codec == "h264", name


@pytest.mark.slow
def test_workflow_error_cases_fail_at_probe(hostile_corpus, corpus_run):
    results, proc = corpus_run
    assert proc.returncode != 0
    assert not (results / "summary.html").exists(), "the summary must wait for every video"
    produced = [p for p in results.rglob("*") if p.is_file()]
    for name in ERRORS:
        path, _ = hostile_corpus[name]
        vid = path.stem
        log = (results / "logs" / "probe" / f"{vid}.log").read_text(encoding="utf-8")
        assert f"{path}: " in log, log
        assert re.search(CASES[name].cause, log), log
        assert "Traceback" not in log, log
        leftovers = [
            p for p in produced if p.stem == vid and p.parent.parent.name not in ("logs", "benchmarks")
        ]
        assert leftovers == [], f"{name}: outputs exist for a refused input: {leftovers}"


@pytest.mark.slow
def test_workflow_leaves_no_temp_files(corpus_run):
    results, _ = corpus_run
    stray = [
        p
        for p in results.rglob("*")
        if p.name.startswith(".") or "partial" in p.name.lower() or "tmp" in p.name.lower()
    ]
    assert stray == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("rows", "line", "cause"),
    [
        ([("good", "{video}"), ("../escape", "{video}")], 3, "not path-safe"),
        ([("a", "{video}"), ("b", "{video}"), ("a", "{video}")], 4, "duplicate video id"),
    ],
    ids=["dotdot_id", "duplicate_id"],
)
def test_bad_sample_sheet_refused_at_load(hostile_corpus, tmp_path, rows, line, cause):
    video = hostile_corpus["single_frame"][0]
    sheet = tmp_path / "sheet.tsv"
    sheet.write_text(
        "id\tpath\n" + "".join(f"{i}\t{p.format(video=video)}\n" for i, p in rows), encoding="utf-8"
    )
    (tmp_path / "my.yaml").write_text(yaml.safe_dump({"samples": str(sheet), "results": "results"}))
    proc = _run(["--cores", "1", "--configfile", "my.yaml"], tmp_path)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"samples ({sheet}) line {line}" in text and cause in text, text[-2000:]
    assert "rule probe" not in text and "localrule" not in text, text[-2000:]
    assert not (tmp_path / "results").exists()
