"""Packaging: environment.yml and pyproject.toml declare the same dependencies with the same version
ranges (the conda environment holds the dependencies and the `test` and `slurm` extras); the built wheel,
installed into a fresh environment, runs the workflow from any folder (`faceoff run`)."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from faceoff.probe import probe_video
from faceoff.synth.clips import write_clip
from faceoff.synth.demo import demo_frames

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
    """Regularize, audit and report jobs stay small: torch (about 600 MiB resident) loads only where a
    detector runs (detect, and render when it re-detects its frames: imported then, not with the module)."""
    modules = "faceoff.cli, faceoff.config, " + ", ".join(
        f"faceoff.stages.{stage}" for stage in ("probe", "regularize", "render", "audit", "report", "summary")
    )
    code = f"import sys, {modules}; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment with the built wheel installed (not editable): FaceOff's dependencies
    are this environment's (a .pth line), so nothing is downloaded; the checkout is not importable."""
    root = tmp_path_factory.mktemp("wheel")
    # as `python -m build` does: the source distribution (MANIFEST.in), then the wheel from it, in a
    # clean folder (an in-tree build/ may hold stale modules)
    sdist = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from setuptools import build_meta as b; print(b.build_sdist({str(root)!r}))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            root,
            root / sdist,
        ],
        check=True,
    )
    env = root / "venv"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next(root.glob("faceoff-*.whl"))
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed", wheel],
        check=True,
        env=_clean_env(env),
    )
    return env


def _clean_env(env: Path) -> dict[str, str]:
    """The environment of a user of ``env``: its bin first on PATH, no PYTHONPATH to the checkout."""
    out = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**out, "PATH": f"{env / 'bin'}{os.pathsep}{out.get('PATH', '')}", "MALLOC_ARENA_MAX": "2"}


def _faceoff(env: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [env / "bin" / "faceoff", "run", *args],
        cwd=cwd,
        env=_clean_env(env),
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def first_run(installed, tmp_path_factory):
    """``faceoff run`` from an empty folder on 16 frames of the demo clip (two masked people)."""
    here = tmp_path_factory.mktemp("anywhere")
    videos = tmp_path_factory.mktemp("videos")
    frames, _ = demo_frames()
    write_clip(videos / "or_demo.mp4", frames[50:66], fps=25)
    args = ["-o", "out", "--cores", "2", str(videos)]
    return here, videos, args, _faceoff(installed, args, here)


@pytest.mark.slow
def test_wheel_ships_the_workflow(installed, tmp_path):
    code = "import faceoff.workflow_files as w; print(w.workflow_root()); print(w.profile_path('slurm'))"
    proc = subprocess.run(
        [installed / "bin" / "python", "-c", code],
        cwd=tmp_path,
        env=_clean_env(installed),
        capture_output=True,
        text=True,
        check=True,
    )
    root, slurm = proc.stdout.split()
    assert Path(root) == Path(root).parent.parent / "faceoff" / "_workflow"
    assert not Path(root).is_relative_to(ROOT) and (Path(root) / "Snakefile").is_file()
    shipped = sorted(p.relative_to(root) for p in Path(root).rglob("*") if p.is_file())
    tracked = subprocess.run(
        [
            "git",
            "ls-files",
            "Snakefile",
            "rules",
            "config",
            "workflow",
            "environment.yml",
            "scripts/gpu-slot-shell",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert shipped == sorted(map(Path, tracked))
    assert Path(slurm) == Path(root) / "workflow" / "profiles" / "slurm"
    assert os.access(Path(root) / "scripts" / "gpu-slot-shell", os.X_OK)


@pytest.mark.slow
def test_run_from_any_folder_delivers(first_run):
    here, videos, _, proc = first_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = here / "out"
    assert probe_video(out / "anonymized" / "or_demo.mp4").frame_count == 16
    report = json.loads((out / "reports" / "or_demo.json").read_text())
    assert report["source"]["frames"] == 16
    assert "or_demo" in (out / "summary.csv").read_text()
    assert f"or_demo: {Path('out', 'anonymized', 'or_demo.mp4')}" in proc.stdout
    assert f"summary: {Path('out', 'summary.html')}" in proc.stdout
    assert "8/8 jobs (100%), 1/1 videos delivered" in proc.stderr
    assert sorted(p.name for p in videos.iterdir()) == ["or_demo.mp4"]  # nothing written beside the input


@pytest.mark.slow
def test_rerun_redoes_nothing(installed, first_run):
    here, _, args, first = first_run
    assert first.returncode == 0
    outputs = sorted(p for p in (here / "out").rglob("*") if p.is_file() and "logs" not in p.parts)
    before = {p: p.stat().st_mtime_ns for p in outputs}
    proc = _faceoff(installed, args, here)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "nothing to do" in proc.stderr
    assert {p: p.stat().st_mtime_ns for p in outputs} == before
    assert "1 of 1 video(s) delivered" in proc.stdout


@pytest.mark.slow
def test_failed_video_is_named_with_its_log(installed, first_run, tmp_path):
    here, videos, args, first = first_run
    assert first.returncode == 0
    broken = tmp_path / "in"
    broken.mkdir()
    (broken / "broken.mp4").write_text("this is not a video")
    delivered = here / "out" / "anonymized" / "or_demo.mp4"
    before = delivered.stat().st_mtime_ns
    proc = _faceoff(installed, [*args, str(broken)], here)
    assert proc.returncode == 1
    log = Path("out", "logs", "probe", "broken.log")
    assert f"failed: broken at probe: faceoff probe: error: {broken / 'broken.mp4'}" in proc.stdout
    assert f"log: {log}" in proc.stdout and (here / log).is_file()
    assert "1 of 2 video(s) delivered" in proc.stdout
    assert delivered.stat().st_mtime_ns == before


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no such folder or file"),
        ("empty folder", "the folder holds no video"),
        ("results inside input", "lies inside this input"),
        ("same stem", "duplicate video id 'or_demo'"),
    ],
)
def test_bad_input_stops_before_any_work(installed, first_run, tmp_path, case, message):
    _, videos, _, _ = first_run
    (tmp_path / "empty").mkdir()
    (tmp_path / "other").mkdir()
    shutil.copy(videos / "or_demo.mp4", tmp_path / "other" / "or_demo.mov")
    args = {
        "missing": [str(tmp_path / "nope.mp4")],
        "empty folder": [str(videos), str(tmp_path / "empty")],
        "results inside input": [str(videos), "-o", str(videos / "results")],
        "same stem": [str(videos), str(tmp_path / "other")],
    }[case]
    here = tmp_path / "here"
    here.mkdir()
    proc = _faceoff(installed, args, here)
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert proc.stderr.startswith("faceoff run: error: ")
    assert list(here.iterdir()) == [] and not (videos / "results").exists()
