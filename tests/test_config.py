"""Config validation: every key checked, errors name the key, the exported schema is current."""

import json
from pathlib import Path

import pytest
import yaml

from faceoff.config import Config, DetectConfig, config_schema, load_config, parse_section, validate_config
from faceoff.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_default_config_file_is_valid():
    cfg = load_config(ROOT / "config" / "config.yaml")
    assert cfg.detect.detector == "centerface"
    assert cfg.inputs == ["demo/videos"]


def test_default_config_file_matches_model_defaults():
    data = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    defaults = Config(inputs=["x"]).model_dump(mode="json")
    for section in ("detect", "regularize", "render", "report", "pseudonymize", "train", "adapt"):
        assert data[section] == defaults[section], section


def test_only_inputs_and_results_is_enough():
    cfg = validate_config({"inputs": ["videos"], "results": "out"})
    assert cfg.results == "out" and cfg.regularize.kernel_radius == 5


@pytest.mark.parametrize(
    "data, key, words",
    [
        ({"inputs": ["v"], "detect": {"treshold": 0.2}}, "detect.treshold", "unknown key"),
        ({"inputs": ["v"], "detect": {"threshold": -0.1}}, "detect.threshold", "greater than"),
        ({"inputs": ["v"], "render": {"method": "smudge"}}, "render.method", "blur"),
        ({"inputs": ["v"], "regularize": {"kernel_radius": -1}}, "regularize.kernel_radius", "greater"),
        ({"inputs": ["v"], "outputs": "x"}, "outputs", "unknown key"),
        ({}, "(top level)", "inputs"),
        ({"samples": "/no/such/sheet.tsv"}, "(top level)", "does not exist"),
    ],
)
def test_errors_name_key_and_problem(data, key, words):
    with pytest.raises(ConfigError) as err:
        validate_config(data)
    text = str(err.value)
    assert key in text and words in text


def test_section_hash_changes_with_values_only():
    a, b = DetectConfig(), DetectConfig(threshold=0.31)
    assert a.params_hash() == DetectConfig().params_hash()
    assert a.params_hash() != b.params_hash()


def test_parse_section_from_json():
    cfg = parse_section(DetectConfig, json.dumps({"threshold": 0.2, "width": 0}))
    assert cfg.threshold == 0.2 and cfg.width == 0
    with pytest.raises(ConfigError, match="batch_size"):
        parse_section(DetectConfig, '{"batch_size": 0}')


def test_exported_schema_is_current():
    on_disk = json.loads((ROOT / "workflow" / "schemas" / "config.schema.json").read_text())
    assert on_disk == json.loads(json.dumps(config_schema())), "run: faceoff schema"


def test_pseudonymize_needs_key_and_mapping_outside_results(tmp_path):
    key = tmp_path / "key"
    key.write_text("secret")
    base = {"inputs": ["v"], "results": str(tmp_path / "r")}
    with pytest.raises(ConfigError, match="key_file"):
        validate_config({**base, "pseudonymize": {"enabled": True, "mapping": str(tmp_path / "m.tsv")}})
    inside = {"enabled": True, "key_file": str(key), "mapping": str(tmp_path / "r" / "m.tsv")}
    with pytest.raises(ConfigError, match="outside the results"):
        validate_config({**base, "pseudonymize": inside})
    ok = {"enabled": True, "key_file": str(key), "mapping": str(tmp_path / "m.tsv")}
    assert validate_config({**base, "pseudonymize": ok}).pseudonymize.enabled


def test_stage_parameters_come_from_their_config_section_alone():
    """One source for every default: the helpers' parameter dataclasses carry none and are built from
    their config section, so the code runs exactly as a user's config says."""
    import dataclasses

    from faceoff.audit import AuditParams
    from faceoff.config import AuditConfig, DetectConfig, RegularizeConfig
    from faceoff.follow import FollowParams
    from faceoff.headtrack import FlowParams
    from faceoff.tracking import TrackParams
    from faceoff.zoom import ZoomParams

    regularize = RegularizeConfig(
        confident_score=0.55,
        extend=3,
        follow_frames=7,
        follow_search=0.7,
        follow_flow_min_share=0.6,
        follow_flow_below=2.0,
    )
    detect = DetectConfig(zoom_scale=3.0, zoom_window=96)
    audit = AuditConfig(width=640)
    built = {
        TrackParams: (TrackParams.from_config(regularize), regularize, ""),
        FollowParams: (FollowParams.from_config(regularize), regularize, "follow_"),
        FlowParams: (FlowParams.from_config(regularize), regularize, "follow_flow_"),
        ZoomParams: (ZoomParams.from_config(detect), detect, "zoom_"),
        AuditParams: (AuditParams.from_config(audit, "centerface"), audit, ""),
    }
    for kind, (params, section, prefix) in built.items():
        for f in dataclasses.fields(kind):
            no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            assert no_default, (kind, f.name)
            if f.name not in ("detector", "flow"):
                assert getattr(params, f.name) == getattr(section, prefix + f.name), (kind, f.name)
    assert built[TrackParams][0].confident_score == 0.55 and built[FollowParams][0].frames == 7
    assert built[FollowParams][0].flow == built[FlowParams][0] and built[FlowParams][0].min_share == 0.6
    assert FollowParams.from_config(RegularizeConfig(follow_flow=False)).flow is None
    assert built[ZoomParams][0].window == 96 and built[AuditParams][0].detector == "centerface"
