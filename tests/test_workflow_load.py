"""Workflow loading (no job runs): lint, config errors at load, pseudonymous output names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from faceoff.samples import pseudonym

ROOT = Path(__file__).resolve().parents[1]


def _snakemake(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "1", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)


def _setup(tmp_path: Path, **cfg) -> Path:
    videos = tmp_path / "videos"
    videos.mkdir(exist_ok=True)
    (videos / "Doe_Jane_OR3.mp4").write_bytes(b"not read when loading")
    (tmp_path / "my.yaml").write_text(yaml.safe_dump({"inputs": [str(videos)], "results": "res", **cfg}))
    return tmp_path


def test_lint_is_clean(tmp_path):
    proc = _snakemake(_setup(tmp_path), "--configfile", "my.yaml", "--lint")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr


def test_config_error_stops_loading_and_names_the_key(tmp_path):
    proc = _snakemake(_setup(tmp_path, detect={"treshold": 0.1}), "--configfile", "my.yaml", "-n")
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "detect.treshold" in text and "unknown key" in text


def test_pseudonymous_names_and_mapping_outside_results(tmp_path):
    (tmp_path / "key").write_text("s3cret")
    pseudo = {"enabled": True, "key_file": str(tmp_path / "key"), "mapping": str(tmp_path / "map.tsv")}
    proc = _snakemake(_setup(tmp_path, pseudonymize=pseudo), "--configfile", "my.yaml", "-n", "-p")
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    alias = pseudonym("Doe_Jane_OR3", b"s3cret")
    assert f"res/anonymized/{alias}.mp4" in text
    assert "res/anonymized/Doe_Jane_OR3" not in text and "--redact-path" in text
    assert "Doe_Jane_OR3\t" + alias in (tmp_path / "map.tsv").read_text()


def test_probe_redacts_the_input_path(tmp_path, make_clip):
    import json

    from faceoff.cli import main

    clip = make_clip("Doe_Jane.mp4")
    assert main(["probe", str(clip), "-o", str(tmp_path / "p.json"), "--redact-path"]) == 0
    text = (tmp_path / "p.json").read_text()
    assert "Doe_Jane" not in text and json.loads(text)["path"] == "(redacted)"


def test_the_jobs_over_all_videos_name_none_on_their_command_line(tmp_path):
    """adapt and train take every video: their commands carry the config that names them, not the list
    (an archive's paths do not fit one command line)."""
    videos, labels = tmp_path / "videos", tmp_path / "labels"
    videos.mkdir()
    labels.mkdir()
    for i in range(300):
        (videos / f"OR_{i:04d}_Doe_Jane.mp4").write_bytes(b"not read when loading")
        (labels / f"OR_{i:04d}_Doe_Jane.parquet").write_bytes(b"not read when loading")
    cfg = {"inputs": [str(videos)], "results": "res", "annotations": str(labels)}
    (tmp_path / "my.yaml").write_text(yaml.safe_dump(cfg))
    proc = _snakemake(tmp_path, "--configfile", "my.yaml", "-n", "-p", "adapt", "train")
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-3000:]
    for command in ("faceoff adapt", "faceoff train"):
        (line,) = [line for line in text.splitlines() if command in line]
        assert "--workflow-config" in line and "OR_0" not in line and len(line) < 3000, line[:500]
