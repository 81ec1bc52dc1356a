"""probe_video: packet index, timestamps, size/rotation, streams, hash, and clear errors."""

from __future__ import annotations

import hashlib
import json
import re
import struct

import av
import numpy as np
import pytest

from faceoff.decode import iter_frames
from faceoff.errors import VideoError
from faceoff.ffmpeg import run_ffmpeg
from faceoff.probe import ProbeInfo, display_matrix, probe_video, read_probe, write_probe
from faceoff.synth.clips import pattern_frames, write_clip, write_stream_cut, write_truncated
from faceoff.synth.hostile import CASES

VFR_TIMES = [0.0, 0.04, 0.1, 0.13, 0.2, 0.33, 0.34, 0.35, 0.5, 0.61, 0.62, 0.7]


def test_cfr_clip(clip):
    info = probe_video(clip)
    assert info.frame_count == 12 == len(info.pts) == len(info.pts_time)
    assert (info.width, info.height, info.rotation) == (64, 48, 0)
    assert info.coded_size == (64, 48)
    np.testing.assert_allclose(info.pts_time, np.arange(12) / 25, atol=1e-6)
    assert info.pts_time == [float(p * info.time_base_fraction) for p in info.pts]
    assert info.start_time == 0.0
    assert not info.variable_frame_rate
    assert info.avg_fps == pytest.approx(25.0)
    assert info.duration == pytest.approx(0.48)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert info.streams == {"video": 1, "audio": 0, "subtitle": 0, "data": 0, "attachment": 0}
    assert info.chapters == 0
    assert info.size_bytes == clip.stat().st_size
    assert info.sha256 == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert info.seconds > 0


def test_vfr_timestamps(make_clip):
    info = probe_video(make_clip(n=12, pts_time=VFR_TIMES))
    assert info.frame_count == 12
    assert info.variable_frame_rate
    half_tick = float(info.time_base_fraction) / 2
    np.testing.assert_allclose(info.pts_time, VFR_TIMES, atol=half_tick)
    assert info.pts == sorted(info.pts)


def test_nonzero_start_time(make_clip):
    times = [1.0 + t for t in VFR_TIMES]
    info = probe_video(make_clip(n=12, pts_time=times))
    assert info.start_time == pytest.approx(1.0)
    np.testing.assert_allclose(info.pts_time, times, atol=1e-4)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation(make_clip, rotation):
    info = probe_video(make_clip(width=64, height=48, rotation=rotation))
    assert info.rotation == rotation
    expect = (48, 64) if rotation in (90, 270) else (64, 48)
    assert (info.width, info.height) == expect
    assert info.coded_size == (64, 48)


def test_square_pixels_by_default(clip):
    assert probe_video(clip).sample_aspect == (1, 1)


@pytest.mark.parametrize(("rotation", "expect"), [(0, (16, 11)), (180, (16, 11)), (90, (11, 16))])
def test_anamorphic_pixel_aspect(make_clip, rotation, expect):
    # PAL 16:9 stores 704x576 pixels each 16/11 as wide as high; a quarter turn makes them 11/16
    info = probe_video(make_clip(width=64, height=48, sample_aspect=(16, 11), rotation=rotation))
    assert info.sample_aspect == expect


@pytest.mark.parametrize(
    ("coded", "rotation", "expect"),
    [
        (None, 0, "progressive"),
        ("tff", 0, "tff"),
        ("bff", 0, "bff"),
        ("tff", 180, "bff"),
        ("tff", 90, "progressive"),
    ],
)
def test_interlacing_of_the_upright_frames(make_clip, coded, rotation, expect):
    # a half turn puts the top field's rows where the bottom field's were; a quarter turn leaves no fields
    info = probe_video(make_clip(interlace=coded, rotation=rotation))
    assert info.interlace == expect


def test_colour_range_and_matrix(make_clip, clip):
    assert (probe_video(clip).color_range, probe_video(clip).color_matrix) == ("tv", "unknown")
    info = probe_video(make_clip("ip.mp4", color_range="pc", color_matrix="bt709"))
    assert (info.color_range, info.color_matrix) == ("pc", "bt709")


def test_probe_json_without_pixel_aspect_reads_as_square(make_clip, tmp_path):
    # a probe written before the pixel aspect was recorded still resumes a run
    info = probe_video(make_clip(sample_aspect=(16, 11)))
    out = tmp_path / "probe.json"
    write_probe(info, out)
    old = json.loads(out.read_text())
    assert old.pop("sample_aspect") == [16, 11]
    assert old.pop("interlace") == "progressive"
    assert (old.pop("color_range"), old.pop("color_matrix")) == ("tv", "unknown")
    out.write_text(json.dumps(old))
    assert read_probe(out).sample_aspect == (1, 1)
    del old["cuts"]
    out.write_text(json.dumps(old))
    with pytest.raises(VideoError, match="lacks"):
        read_probe(out)


def test_display_matrix_read_from_the_first_frame(make_clip):
    """The display matrix side data is found whatever PyAV's side-data container looks like (18.1 made
    it a mapping of type to entry): a rotated clip's matrix turns by its rotation, a plain clip has none."""
    with av.open(str(make_clip(rotation=90))) as c:
        m = struct.unpack("<9i", display_matrix(next(c.decode(video=0))))
    assert (m[0], m[1], m[3], m[4]) == (0, -(1 << 16), 1 << 16, 0)  # 16.16 fixed point: a quarter turn
    with av.open(str(make_clip())) as c:
        assert display_matrix(next(c.decode(video=0))) is None


def test_mirrored_display_matrix_rejected(make_clip):
    path = make_clip(hflip=True)
    with pytest.raises(VideoError, match="mirror") as e:
        probe_video(path)
    assert str(path) in str(e.value)


def test_odd_size(make_clip):
    info = probe_video(make_clip(width=65, height=49))
    assert (info.width, info.height, info.pix_fmt) == (65, 49, "yuv444p")


def test_stream_and_chapter_counts(make_clip):
    info = probe_video(make_clip(audio=True, subtitle=True, chapters=True))
    assert info.streams["video"] == 1
    assert info.streams["audio"] == 1
    assert info.streams["subtitle"] == 1
    assert info.streams["data"] == 1  # MP4 chapters also add a QuickTime chapter (text) track
    assert info.chapters == 2
    assert info.frame_count == 12


def test_json_round_trip(make_clip, tmp_path):
    info = probe_video(make_clip(sample_aspect=(4, 3), interlace="bff"))
    out = tmp_path / "probe.json"
    write_probe(info, out)
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []
    assert json.loads(out.read_text())["format"] == "faceoff.probe/1"
    back = read_probe(out)
    assert back == info
    assert isinstance(back, ProbeInfo) and back.time_base == info.time_base


def test_read_probe_invalid(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"path": "x"}')
    with pytest.raises(VideoError, match="bad.json"):
        read_probe(bad)


@pytest.mark.parametrize(
    ("kind", "cause"),
    [
        ("missing", "not found"),
        ("empty", "empty"),
        ("text", "not a readable video"),
        ("truncated", "not a readable video"),
        ("truncated_faststart", "truncated"),
        ("audio_only", "audio-only"),
        ("directory", "not a regular file"),
    ],
)
def test_bad_files(make_bad_file, kind, cause):
    path = make_bad_file(kind)
    with pytest.raises(VideoError, match=cause) as e:
        probe_video(path)
    assert e.value.path == str(path)
    assert str(e.value).startswith(str(path))


def test_edit_list_hidden_frames_are_not_frames(tmp_path):
    """A stream-copy cut (-ss ... -c copy) keeps the packets from the keyframe before the cut and hides
    those before the cut with an edit list: the index holds the frames shown from the cut on, and decoding
    gives exactly those (the source's frames 13-29 for a cut at 0.5 s, 25 fps, keyframes every 10)."""
    frames = pattern_frames(30, 64, 48)
    src = write_clip(tmp_path / "src.mp4", frames, codec_options={"g": "10", "bf": "2"})
    cut = tmp_path / "cut.mp4"
    run_ffmpeg(["-ss", "0.5", "-i", str(src), "-c", "copy", str(cut)], cut)
    info = probe_video(cut)
    assert info.frame_count == 17
    np.testing.assert_allclose(info.pts_time, np.arange(17) / 25, atol=1e-3)
    decoded = np.concatenate([f for _, f in iter_frames(cut, info)])
    assert np.abs(decoded.astype(int) - frames[13:]).mean() < 4


def test_stream_cut_before_its_keyframe(tmp_path):
    """An MPEG-TS started mid-stream: the frames before its keyframe reference pictures the file lacks. They
    are not indexed (no decoder shows them); the index starts at the first decoded frame, whose pts are the
    source's; the frames a decoder gives are the source's from that keyframe on."""
    frames = pattern_frames(12, 64, 48)
    src = write_clip(tmp_path / "src.mp4", frames, codec_options={"g": "6", "bf": "2"})
    cut = write_stream_cut(src, tmp_path / "cut.ts", lead=2)
    info = probe_video(cut)
    assert (info.frame_count, info.leading_undecodable) == (6, 2)
    whole = probe_video(src)
    np.testing.assert_allclose(np.diff(info.pts_time), np.diff(whole.pts_time[6:]), atol=1e-6)
    decoded = np.concatenate([f for _, f in iter_frames(cut, info)])
    assert np.abs(decoded.astype(int) - frames[6:]).mean() < 4
    assert whole.leading_undecodable == 0


def test_avi_header_counting_frame_slots(tmp_path):
    """A variable-frame-rate AVI counts frame slots in its header (empty chunks repeat a frame): its frames
    are read at their times; cut short, it is still refused."""
    avi = tmp_path / "vfr.avi"
    CASES["vfr_avi"].make(avi)
    info = probe_video(avi)
    assert info.frame_count == len(CASES["vfr_avi"].pts_time)
    np.testing.assert_allclose(info.pts_time, CASES["vfr_avi"].pts_time, atol=1e-6)
    for fraction in (0.6, 0.8):
        cut = write_truncated(avi, tmp_path / f"cut{fraction}.avi", fraction)
        with pytest.raises(VideoError, match="truncated|damaged|not a readable|could be read"):
            probe_video(cut)


def test_recording_that_stopped_is_refused_with_advice_that_works(tmp_path):
    """A fragmented MP4 (a fragment per keyframe) whose recording stopped mid-fragment: refused as cut
    short, and the command the error gives saves the frames written whole, which then probe and decode."""
    src = write_clip(tmp_path / "src.mp4", pattern_frames(40, 64, 48), codec_options={"g": "10"})
    frag = tmp_path / "rec.mp4"
    run_ffmpeg(["-i", str(src), "-c", "copy", "-movflags", "+frag_keyframe+empty_moov", str(frag)], frag)
    data = frag.read_bytes()
    mdat = data.rfind(b"mdat", 0, len(data) * 3 // 4) - 4  # a later fragment's media data
    cut = tmp_path / "stopped.mp4"
    cut.write_bytes(data[: mdat + int.from_bytes(data[mdat : mdat + 4], "big") // 2])  # stops inside it
    with pytest.raises(VideoError, match=r"cut short \(truncated\)") as e:
        probe_video(cut)
    command = re.search(r"ffmpeg (-fflags \S+ -i \S+ -c copy \S+)", e.value.cause).group(1).split()
    saved = tmp_path / command[-1]
    run_ffmpeg([a if a != cut.name else str(cut) for a in command[:-1]] + [str(saved)], saved)
    info = probe_video(saved)
    assert 0 < info.frame_count < 40
    assert sum(len(i) for i, _ in iter_frames(saved, info)) == info.frame_count


def test_a_still_picture_track_before_the_camera_is_refused_with_advice_that_works(tmp_path):
    """A Matroska whose first video track is a one-frame still (a poster muxed as a track, not marked as
    cover art) before the camera's: FaceOff reads the first, decord the camera, so it is refused, naming
    both streams and a command; that command's file is the camera's video, which probes and decodes."""
    camera = write_clip(tmp_path / "camera.mp4", pattern_frames(20, 64, 48))
    still = write_clip(tmp_path / "still.mp4", pattern_frames(1, 64, 48))
    both = tmp_path / "rec.mkv"
    run_ffmpeg(
        ["-i", str(still), "-i", str(camera), "-map", "0:v", "-map", "1:v", "-c", "copy", str(both)], both
    )
    with pytest.raises(VideoError, match="2 video streams") as e:
        probe_video(both)
    command = re.search(r"ffmpeg (-i \S+ -map \S+ -c copy \S+)\)", e.value.cause).group(1).split()
    saved = tmp_path / command[-1]
    run_ffmpeg([a if a != both.name else str(both) for a in command[:-1]] + [str(saved)], saved)
    info = probe_video(saved)
    assert info.frame_count == 20
    assert sum(len(i) for i, _ in iter_frames(saved, info)) == 20
