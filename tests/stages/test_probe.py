"""The probe stage (faceoff/stages/probe.py): the probe JSON a rule writes, read back."""

from faceoff.config import ShotsConfig
from faceoff.probe import read_probe
from faceoff.stages.probe import run_probe


def test_probe_json_holds_the_frames_written_and_their_times(make_clip, tmp_path):
    clip = make_clip(n=9, width=80, height=60, pts_time=[0.0, 0.04, 0.1, 0.14, 0.2, 0.3, 0.34, 0.4, 0.5])
    out = tmp_path / "probe" / "clip.json"
    info = run_probe(clip, out, ShotsConfig())
    back = read_probe(out)
    assert back == info
    assert (back.frame_count, back.width, back.height) == (9, 80, 60)
    assert back.pts_time == [0.0, 0.04, 0.1, 0.14, 0.2, 0.3, 0.34, 0.4, 0.5]
    assert back.path == str(clip)


def test_redacted_probe_names_no_input_path(make_clip, tmp_path):
    clip = make_clip(name="patient-4711-smith.mp4")
    out = tmp_path / "v1.json"
    run_probe(clip, out, ShotsConfig(), redact_path=True)
    assert "smith" not in out.read_text() and read_probe(out).path == "(redacted)"
