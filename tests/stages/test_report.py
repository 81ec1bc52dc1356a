"""The report stage (faceoff/stages/report.py) and its command: coverage is scored with the render
section that hid the faces, and the report section's IoU, from --config or the rules' params."""

import json

import yaml

import faceoff.stages.report as report_stage
from faceoff import cli
from faceoff.config import RenderConfig, ReportConfig


def _captured(monkeypatch) -> dict:
    seen: dict = {}

    def fake(*args, **kwargs):
        seen.update(kwargs, args=args)
        return {"id": args[0]}

    monkeypatch.setattr(report_stage, "build_report", fake)
    return seen


ARGV = ["report", "v1", "--probe", "p.json", "--detections", "d.parquet", "--tracks", "t.parquet"]
ARGV += ["--render-stats", "r.json", "-o", "out.json"]


def test_a_standalone_report_scores_with_the_configs_render_and_iou(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "my.yaml"
    config.write_text(
        yaml.safe_dump({"inputs": [str(tmp_path)], "render": {"box_scale": 2.0}, "report": {"iou": 0.3}})
    )
    seen = _captured(monkeypatch)
    assert cli.main([*ARGV, "--config", str(config)]) == 0
    assert seen["render"] == RenderConfig(box_scale=2.0) and seen["args"][7] == 0.3


def test_the_rules_params_win(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    seen = _captured(monkeypatch)
    assert cli.main([*ARGV, "--params", '{"iou": 0.7}', "--render-params", '{"shape": "rectangle"}']) == 0
    assert seen["render"] == RenderConfig(shape="rectangle") and seen["args"][7] == ReportConfig(iou=0.7).iou
    assert seen["args"][0] == "v1" and json.loads((tmp_path / "out.json").read_text()) == {"id": "v1"}
