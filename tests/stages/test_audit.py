"""The audit stage (faceoff/stages/audit.py) and its command: the sections it audits with, delivery."""

import json

import pytest
import yaml

import faceoff.stages.audit as audit_stage
from faceoff import cli
from faceoff.config import AuditConfig, DetectConfig, RenderConfig, load_config
from faceoff.errors import FaceOffError
from faceoff.probe import probe_video, write_probe
from faceoff.stages.render import run_render
from tests.stages.test_render import _tracks


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "my.yaml"
    cfg = {
        "inputs": [str(tmp_path)],
        "render": {"box_scale": 2.5, "method": "pixelate"},
        "detect": {"width": 320, "zoom_scale": 1},
        "audit": {"threshold": 0.45},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def _captured(monkeypatch) -> dict:
    seen: dict = {}

    def fake(rendered, source, tracks, render, audit, detect, *rest, **kwargs):
        seen.update(render=render, audit=audit, detect=detect)
        return {"n_findings": 0}

    monkeypatch.setattr(audit_stage, "run_audit", fake)
    return seen


def _argv(tmp_path, *extra):
    files = ["--probe", "p.json", "--tracks", "t.parquet", "-o", str(tmp_path / "a.json")]
    return ["audit", "r.mp4", *files, "--sheet", "s.png", "--deliver", "d.mp4", *extra]


def test_a_standalone_audit_checks_the_regions_the_config_rendered(monkeypatch, tmp_path, config_file):
    """With --config, every section the audit needs comes from the file, not from the defaults."""
    seen = _captured(monkeypatch)
    monkeypatch.setattr("faceoff.probe.read_probe", lambda path: None)
    assert cli.main(_argv(tmp_path, "--config", str(config_file))) == 0
    full = load_config(config_file)
    assert seen == {"render": full.render, "audit": full.audit, "detect": full.detect}
    assert seen["render"] != RenderConfig() and seen["detect"] != DetectConfig()


def test_the_rules_params_win_over_the_config(monkeypatch, tmp_path):
    seen = _captured(monkeypatch)
    monkeypatch.setattr("faceoff.probe.read_probe", lambda path: None)
    render = json.dumps({"box_scale": 3.0})
    assert cli.main(_argv(tmp_path, "--render-params", render, "--params", '{"threshold": 0.5}')) == 0
    assert seen["render"] == RenderConfig(box_scale=3.0) and seen["audit"] == AuditConfig(threshold=0.5)
    assert seen["detect"] == DetectConfig()


def test_disabled_audit_still_delivers_and_says_so(make_clip, tmp_path):
    src = make_clip(n=6)
    info = probe_video(src)
    tracks = _tracks(tmp_path / "t.parquet", [1, 2], n_frames=6)
    rendered = tmp_path / "r.mp4"
    run_render(str(src), info, tracks, RenderConfig(), rendered, tmp_path / "r.json")
    out, sheet, delivered = tmp_path / "a.json", tmp_path / "s.png", tmp_path / "anonymized" / "v.mp4"
    args = (
        rendered,
        info,
        tracks,
        RenderConfig(),
        AuditConfig(enabled=False),
        DetectConfig(),
        out,
        sheet,
        delivered,
    )
    result = audit_stage.run_audit(*args)
    assert result["passed"] is None and json.loads(out.read_text())["enabled"] is False
    assert delivered.read_bytes() == rendered.read_bytes() and sheet.is_file()


def test_a_rendered_file_with_missing_frames_is_not_delivered(make_clip, tmp_path):
    src, short = make_clip(n=6), make_clip(name="short.mp4", n=4)
    info = probe_video(src)
    write_probe(info, tmp_path / "p.json")
    tracks = _tracks(tmp_path / "t.parquet", [1], n_frames=6)
    delivered = tmp_path / "d.mp4"
    with pytest.raises(FaceOffError, match="4 frames"):
        sections = (RenderConfig(), AuditConfig(), DetectConfig())
        audit_stage.run_audit(
            short, info, tracks, *sections, tmp_path / "a.json", tmp_path / "s.png", delivered
        )
    assert not delivered.exists()
