"""VideoWriter: exact frames/timestamps/size, no metadata, fail closed."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from fractions import Fraction

import av
import decord
import numpy as np
import pytest

from faceoff.decode import iter_frames, iter_yuv
from faceoff.encode import ALLOWED_CONTAINER_TAGS, ALLOWED_STREAM_TAGS, VideoWriter
from faceoff.errors import VideoError
from faceoff.ffmpeg import run_ffmpeg
from faceoff.probe import display_matrix, probe_video
from faceoff.synth import pattern_frames, pattern_index

SECRET_META = {
    "creation_time": "2021-03-04T05:06:07Z",
    "location": "+52.5200+013.4050/",
    "title": "Patient Jane Roe",
    "comment": "OR 7 Dr Smith",
}


def transcode(src, out, **kw):
    info = probe_video(src)
    with VideoWriter(out, info, **kw) as w:
        for _, frames in iter_frames(src, info, batch_size=5):
            w.write(frames)
    return info, probe_video(out)


def test_round_trip_cfr(make_clip, tmp_path, partial_files):
    src = make_clip(n=17)
    out = tmp_path / "out.mp4"
    info, got = transcode(src, out)
    assert got.frame_count == 17
    assert (got.width, got.height, got.rotation) == (64, 48, 0)
    assert (got.codec, got.pix_fmt) == ("h264", "yuv420p")
    assert got.pts_time == info.pts_time
    assert got.duration == pytest.approx(info.duration)
    frames = np.concatenate([f for _, f in iter_frames(out, got)])
    assert [pattern_index(f) for f in frames] == list(range(17))
    assert partial_files(tmp_path) == []


def test_vfr_and_start_offset_preserved(make_clip, tmp_path):
    rng = np.random.default_rng(7)
    times = (1.5 + np.cumsum(np.r_[0, rng.uniform(0.003, 0.25, 24)])).tolist()
    src = make_clip(n=25, pts_time=times)
    info, got = transcode(src, tmp_path / "vfr.mp4")
    assert got.variable_frame_rate and got.frame_count == 25
    half_tick = float(info.time_base_fraction) / 2
    np.testing.assert_allclose(got.pts_time, info.pts_time, rtol=0, atol=half_tick)
    np.testing.assert_allclose(got.pts_time, times, rtol=0, atol=half_tick)
    assert got.start_time == pytest.approx(1.5)


def test_odd_size(make_clip, tmp_path):
    src = make_clip(n=8, width=65, height=49)
    out = tmp_path / "odd.mp4"
    _, got = transcode(src, out)
    assert (got.width, got.height, got.frame_count) == (65, 49, 8)
    assert decord.VideoReader(str(out)).get_batch([0, 7]).asnumpy().shape == (2, 49, 65, 3)
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        frame = next(c.decode(video=0))
        assert (frame.width, frame.height) == (65, 49)
        assert frame.to_ndarray(format="rgb24").shape == (49, 65, 3)


def test_even_size_is_yuv420p(make_clip, tmp_path):
    _, got = transcode(make_clip(n=3, width=66, height=50), tmp_path / "even.mp4")
    assert got.pix_fmt == "yuv420p"


@pytest.mark.parametrize("rotation", [90, 270])
def test_rotated_source_written_upright(make_clip, tmp_path, rotation):
    src = make_clip(n=6, width=160, height=96, rotation=rotation)
    out = tmp_path / "up.mp4"
    info, got = transcode(src, out)
    assert (got.width, got.height, got.rotation) == (96, 160, 0)
    with av.open(str(out)) as c:
        frame = next(c.decode(video=0))
        assert frame.rotation == 0
        assert display_matrix(frame) is None
        coded = frame.to_ndarray(format="rgb24")
    expected = np.rot90(pattern_frames(1, 160, 96)[0], rotation // 90)
    assert np.abs(coded.astype(int) - expected).mean() < 3  # stored upright


@pytest.mark.parametrize(("rotation", "shown"), [(0, (16, 11)), (90, (11, 16))])
def test_anamorphic_source_keeps_its_pixel_aspect(make_clip, tmp_path, rotation, shown):
    # a PAL 16:9 recording stores 4:3 worth of pixels; without its pixel aspect people look squeezed
    src = make_clip(n=6, width=64, height=48, sample_aspect=(16, 11), rotation=rotation)
    out = tmp_path / "wide.mp4"
    info, got = transcode(src, out)
    assert info.sample_aspect == got.sample_aspect == shown
    with av.open(str(out)) as c:
        assert c.streams.video[0].sample_aspect_ratio == Fraction(*shown)
        assert c.streams.video[0].codec_context.sample_aspect_ratio == Fraction(*shown)  # in the H.264 VUI
    assert got.pts_time == info.pts_time
    frames = np.concatenate([f for _, f in iter_frames(out, got)])
    assert [pattern_index(f) for f in frames] == list(range(6))


def test_square_progressive_source_gets_no_aspect_filter_or_interlacing(clip, tmp_path):
    w = VideoWriter(tmp_path / "o.mp4", probe_video(clip))
    assert not any("setsar" in arg or "ildct" in arg or "ff=1" in arg for arg in w.command())


@pytest.mark.parametrize("field", ["tff", "bff"])
def test_interlaced_source_stays_interlaced(make_clip, tmp_path, field):
    # an SD recorder's interlaced video: written progressive, players would show its combing
    src = make_clip(n=6, width=64, height=48, interlace=field)
    out = tmp_path / "i.mp4"
    info, got = transcode(src, out)
    assert info.interlace == got.interlace == field
    with av.open(str(out)) as c:
        assert next(c.decode(video=0)).interlaced_frame
    assert got.pts_time == info.pts_time
    frames = np.concatenate([f for _, f in iter_frames(out, got)])
    assert [pattern_index(f) for f in frames] == list(range(6))


def test_full_range_source_keeps_its_colours(make_clip, tmp_path):
    # an IP camera's full-range video: the render hands its planes over unchanged, so the output must say
    # full range too and nothing may convert them, or players stretch its contrast (the RGB a decoder
    # makes of source and output is the oracle)
    src = make_clip(n=6, width=64, height=48, color_range="pc", color_matrix="bt709")
    info = probe_video(src)
    for way in ("rgb24", "yuv"):  # frames from RGB, and the render's way: the decoded planes as they are
        out = tmp_path / f"ip-{way}.mp4"
        with VideoWriter(out, info, input_format=way) as w:
            frames = iter_yuv(src, info, w.pix_fmt) if way == "yuv" else iter_frames(src, info)
            for _, batch in frames:
                w.write(batch)
        got = probe_video(out)
        assert (got.color_range, got.color_matrix) == (info.color_range, info.color_matrix) == ("pc", "bt709")
        shown = [
            np.concatenate([f for _, f in iter_frames(p, q)]).astype(int)
            for p, q in ((src, info), (out, got))
        ]
        assert np.abs(shown[0] - shown[1]).mean() < 2, way


def test_wide_gamut_hlg_source_keeps_its_primaries_and_transfer(make_clip, tmp_path):
    # a BT.2020 HLG camera: the planes pass unchanged, so the output must say which gamut and curve they
    # are in, or players show them as BT.709 (washed out)
    src = make_clip(
        n=4,
        width=64,
        height=48,
        color_matrix="bt2020nc",
        color_primaries="bt2020",
        color_transfer="arib-std-b67",
    )
    info = probe_video(src)
    assert (info.color_primaries, info.color_transfer) == ("bt2020", "arib-std-b67")
    out = tmp_path / "hlg.mp4"
    with VideoWriter(out, info, input_format="yuv") as w:
        for _, batch in iter_yuv(src, info, w.pix_fmt):
            w.write(batch)
    got = probe_video(out)
    assert (got.color_matrix, got.color_primaries, got.color_transfer) == (
        "bt2020nc",
        "bt2020",
        "arib-std-b67",
    )
    assert w.verification["color_transfer"] == "arib-std-b67"


def test_output_with_another_transfer_is_refused(make_clip, tmp_path, partial_files):
    src = make_clip(n=4, color_primaries="bt2020", color_transfer="smpte2084")
    info = probe_video(src)
    out = tmp_path / "o.mp4"
    with pytest.raises(VideoError, match="transfer characteristic"), VideoWriter(out, info) as w:
        for _, frames in iter_frames(src, info, batch_size=4):
            w.write(frames)
        w.info = replace(info, color_transfer="bt709")  # the file is checked against a BT.709 curve
    assert not out.exists() and partial_files(tmp_path) == []


def test_output_with_another_field_order_is_refused(make_clip, tmp_path, partial_files):
    src = make_clip(n=4, interlace="tff")
    info = probe_video(src)
    out = tmp_path / "o.mp4"
    with pytest.raises(VideoError, match="output is tff, the source bff"), VideoWriter(out, info) as w:
        for _, frames in iter_frames(src, info, batch_size=4):
            w.write(frames)
        w.info = replace(info, interlace="bff")  # the file is checked against a bottom-field-first source
    assert not out.exists() and partial_files(tmp_path) == []


def test_output_with_another_pixel_aspect_is_refused(make_clip, tmp_path, partial_files):
    src = make_clip(n=4, sample_aspect=(16, 11))
    info = probe_video(src)
    out = tmp_path / "o.mp4"
    with pytest.raises(VideoError, match="pixel aspect"), VideoWriter(out, info) as w:  # ffmpeg: 16:11 ...
        for _, frames in iter_frames(src, info, batch_size=4):
            w.write(frames)
        w.info = replace(info, sample_aspect=(1, 1))  # ... the file is checked against square pixels
    assert not out.exists() and partial_files(tmp_path) == []


def test_drops_audio_subtitles_chapters_metadata(make_clip, tmp_path):
    src = make_clip(n=10, audio=True, subtitle=True, chapters=True, metadata=SECRET_META)
    info = probe_video(src)
    assert info.streams["audio"] == info.streams["subtitle"] == 1 and info.chapters == 2
    out = tmp_path / "clean.mp4"
    _, got = transcode(src, out)
    assert got.streams == {"video": 1, "audio": 0, "subtitle": 0, "data": 0, "attachment": 0}
    assert got.chapters == 0
    with av.open(str(out)) as c:
        assert set(c.metadata) <= ALLOWED_CONTAINER_TAGS
        assert set(c.streams.video[0].metadata) <= ALLOWED_STREAM_TAGS
        assert "creation_time" not in c.streams.video[0].metadata
    blob = out.read_bytes()
    for needle in (
        b"Jane Roe",
        b"Smith",
        b"+52.52",
        b"Patient name",
        b"Incision",
        b"x264 - core",
        b"Lavf",
        b"Lavc",
    ):
        assert needle not in blob, needle


def test_keep_audio(make_clip, tmp_path):
    src = make_clip(n=10, audio=True, subtitle=True, metadata=SECRET_META)
    info, got = transcode(src, tmp_path / "a.mp4", keep_audio=True, source_path=src)
    assert got.streams["audio"] == 1 and got.streams["subtitle"] == 0
    assert got.pts == info.pts
    with av.open(str(tmp_path / "a.mp4")) as c:
        audio = c.streams.audio[0]
        assert audio.codec_context.name == "aac"
        assert set(audio.metadata) <= ALLOWED_STREAM_TAGS
        assert set(c.metadata) <= ALLOWED_CONTAINER_TAGS
    with av.open(str(src)) as c:
        src_audio_packets = sum(1 for p in c.demux(audio=0) if p.size)
    with av.open(str(tmp_path / "a.mp4")) as c:
        assert sum(1 for p in c.demux(audio=0) if p.size) == src_audio_packets


def _first_times(path) -> tuple[float, float]:
    """The first video and the first audio packet's time (s)."""
    first: dict[str, float] = {}
    with av.open(str(path)) as c:
        for p in c.demux():
            if p.size and p.pts is not None:
                t = float(p.pts * p.time_base)
                first[p.stream.type] = min(t, first.get(p.stream.type, t))
    return first["video"], first["audio"]


def test_source_starting_below_zero_is_shifted_with_its_audio(make_clip, tmp_path):
    """An MPEG-TS whose clock wrapped starts at negative times, which MP4 cannot hold: the output starts
    at 0, every frame interval kept, and a kept audio track stays where it was against the video."""
    src = tmp_path / "wrap.ts"
    run_ffmpeg(
        ["-i", str(make_clip(n=25, audio=True)), "-c", "copy", "-muxdelay", "0"]
        + ["-output_ts_offset", "95443.5", "-f", "mpegts", str(src)],
        src,
    )
    info, got = transcode(src, tmp_path / "a.mp4", keep_audio=True, source_path=src)
    assert info.pts_time[0] < 0
    np.testing.assert_allclose(got.pts_time, np.asarray(info.pts_time) - info.pts_time[0], atol=2e-5)
    (video, audio), (src_video, src_audio) = _first_times(tmp_path / "a.mp4"), _first_times(src)
    assert audio - video == pytest.approx(src_audio - src_video, abs=0.03)


def test_keep_audio_needs_source(clip, tmp_path):
    with pytest.raises(ValueError, match="source_path"):
        VideoWriter(tmp_path / "x.mp4", probe_video(clip), keep_audio=True)


def test_too_few_frames(clip, tmp_path, partial_files):
    info = probe_video(clip)
    out = tmp_path / "short.mp4"
    with pytest.raises(VideoError, match="only 11 of 12") as e, VideoWriter(out, info) as w:
        w.write(pattern_frames(11, 64, 48))
    assert str(out) in str(e.value)
    assert not out.exists()
    assert partial_files(tmp_path) == []


def test_too_many_frames(clip, tmp_path, partial_files):
    info = probe_video(clip)
    out = tmp_path / "long.mp4"
    with pytest.raises(VideoError, match="more frames"), VideoWriter(out, info) as w:
        w.write(pattern_frames(13, 64, 48))
    assert not out.exists() and partial_files(tmp_path) == []


def test_exception_inside_with(clip, tmp_path, partial_files):
    info = probe_video(clip)
    out = tmp_path / "boom.mp4"
    with pytest.raises(RuntimeError, match="boom"), VideoWriter(out, info) as w:
        w.write(pattern_frames(6, 64, 48))
        assert not out.exists()  # ffmpeg writes a temp file; out_path appears only after verification
        raise RuntimeError("boom")
    assert not out.exists() and partial_files(tmp_path) == []


def test_wrong_frame_shape(clip, tmp_path, partial_files):
    info = probe_video(clip)
    out = tmp_path / "shape.mp4"
    with pytest.raises(VideoError, match="uint8"), VideoWriter(out, info) as w:
        w.write(np.zeros((2, 48, 63, 3), np.uint8))
    assert not out.exists() and partial_files(tmp_path) == []


def test_ffmpeg_failure_reports_stderr(clip, tmp_path, partial_files):
    info = probe_video(clip)
    out = tmp_path / "bad.mp4"
    with pytest.raises(VideoError) as e, VideoWriter(out, info, preset="no-such-preset") as w:
        w.write(pattern_frames(12, 64, 48))
    msg = str(e.value)
    assert msg.startswith(str(out)) and "ffmpeg" in msg and "preset" in msg.lower()
    assert not out.exists() and partial_files(tmp_path) == []


def test_command_and_log(clip, tmp_path):
    info = probe_video(clip)
    out, log = tmp_path / "c.mp4", tmp_path / "ffmpeg.log"
    writer = VideoWriter(out, info, crf=31, preset="ultrafast", log_path=log)
    cmd = writer.command()
    for flag, value in [
        ("-crf", "31"),
        ("-preset", "ultrafast"),
        ("-pix_fmt", "yuv420p"),
        ("-map_metadata", "-1"),
    ]:
        assert cmd[cmd.index(flag) + 1] == value
    assert "-copyts" in cmd and cmd[cmd.index("-f") + 1] == "nut"
    with writer as w:
        w.write(pattern_frames(12, 64, 48))
    assert out.exists() and "libx264" in log.read_text()


@pytest.mark.parametrize("kind", ["mkv", "timescale15360"])
def test_coarse_time_base_sources(make_clip, tmp_path, kind):
    """Sources whose time base is coarser than NUT's 1/48000 minimum (the muxer refines it)."""
    times = [0.0, 0.04, 0.1, 0.13, 0.2, 0.33, 0.34, 0.35, 0.5, 0.61]
    if kind == "mkv":
        src = make_clip("src.mkv", n=10, pts_time=times)
    else:
        mp4 = make_clip("pre.mp4", n=10, pts_time=times)
        src = tmp_path / "src.mp4"
        run_ffmpeg(["-i", str(mp4), "-c", "copy", "-video_track_timescale", "15360", str(src)], src)
    info, got = transcode(src, tmp_path / "out.mp4")
    assert info.time_base[1] < 48000
    assert got.frame_count == 10
    np.testing.assert_allclose(got.pts_time, info.pts_time, rtol=0, atol=float(info.time_base_fraction) / 2)
    np.testing.assert_allclose(got.pts_time, times, rtol=0, atol=1e-3)


def test_stale_partial_of_a_killed_writer_is_removed(make_clip, tmp_path):
    """A SIGKILLed render leaves its temp file; the next writer of that output removes it, not others'."""
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid no longer runs
    out = tmp_path / "out.mp4"
    stale = tmp_path / f".out.mp4.partial-{dead.pid}.mp4"
    live = tmp_path / f".out.mp4.partial-{os.getppid()}.mp4"  # a running process's file
    other = tmp_path / f".other.mp4.partial-{dead.pid}.mp4"  # another output's file
    for f in (stale, live, other):
        f.write_bytes(b"half a video")
    transcode(make_clip(n=5), out)
    assert out.is_file() and not stale.exists()
    assert live.exists() and other.exists()
