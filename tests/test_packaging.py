"""environment.yml and pyproject.toml declare the same dependencies with the same version ranges.

The conda environment holds the dependencies and the `test` and `slurm` extras."""

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch", "opencv": "opencv-python"}


def _pip_deps() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    reqs = project["dependencies"] + extras["test"] + extras["slurm"]
    return {Requirement(r).name.lower(): str(Requirement(r).specifier) for r in reqs}


def _conda_deps() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            if item.startswith("-e") or item.split("=")[0] in {"python", "pip"}:
                continue
            req = Requirement(item)
            out[CONDA_TO_PIP.get(req.name.lower(), req.name.lower())] = str(req.specifier)
    return out


def test_environment_matches_pyproject():
    assert _conda_deps() == _pip_deps()


def test_stages_without_a_detector_do_not_import_torch():
    """Regularize, render and report jobs stay small: torch (about 600 MiB resident) loads only where a
    detector runs (detect, audit)."""
    modules = "faceoff.cli, faceoff.config, " + ", ".join(
        f"faceoff.stages.{stage}" for stage in ("probe", "regularize", "render", "report", "summary")
    )
    code = f"import sys, {modules}; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
