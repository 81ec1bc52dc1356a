"""`faceoff run`: the checks before any work, the Snakemake command, the progress read from Snakemake's
messages, the workflow's files. The run itself from an installed wheel: tests/test_packaging.py."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest
from snakemake.cli import parse_config

from faceoff.cli import main
from faceoff.config import validate_config
from faceoff.errors import ConfigError, FaceOffError
from faceoff.progress import Progress, StepProgress
from faceoff.run import JobWatch, plan_run
from faceoff.samples import resolve_samples
from faceoff.workflow_files import INSTALLED, profile_path, snakefile, workflow_root

ROOT = Path(__file__).resolve().parents[1]
RECORDED = Path(__file__).parent / "data" / "snakemake"


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def _watch(*names: str) -> JobWatch:
    watch = JobWatch()
    for name in names:
        for line in (RECORDED / name).read_text().splitlines():
            watch.feed(line)
    return watch


def test_checkout_runs_its_own_workflow_files():
    """In a checkout (editable install) the top-level files run, not a stale installed copy."""
    assert workflow_root() == ROOT and snakefile() == ROOT / "Snakefile"
    assert not INSTALLED.exists()  # made only inside a built wheel (setup.py)


def test_profiles_by_name_path_or_unknown(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # another folder: the checkout's relative path is not there
    slurm = ROOT / "workflow" / "profiles" / "slurm"
    assert profile_path("slurm") == str(slurm)
    assert profile_path("workflow/profiles/slurm") == str(slurm)
    (tmp_path / "mine").mkdir()
    assert profile_path("mine") == "mine"  # a folder here wins
    assert profile_path("site-default") == "site-default"  # left to Snakemake's own lookup


def test_plan_passes_the_inputs_as_snakemake_reads_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a, b = _touch(tmp_path / "in" / "a.mp4"), _touch(tmp_path / "b c.mov")
    sheet = tmp_path / "sheet.tsv"
    sheet.write_text(f"id\tpath\nz\t{a}\n")
    my = tmp_path / "my.yaml"
    my.write_text(f"samples: {sheet}\nresults: elsewhere\ndetect: {{width: 0}}\n")
    plan = plan_run([str(tmp_path / "in"), str(b)], results="out", config=str(my))
    assert plan.samples == {"a": str(a), "b c": str(b)}  # the paths replace the config's sample sheet
    argv = plan.argv
    assert argv[argv.index("-s") + 1] == str(ROOT / "Snakefile")
    assert (
        argv[argv.index("--cores") + 1] == "all" and "--keep-going" in argv and "--rerun-incomplete" in argv
    )
    assert argv[argv.index("--configfile") + 1] == str(my)
    entries = argv[argv.index("--config") + 1 :]
    assert parse_config(entries) == {
        "inputs": [str(tmp_path / "in"), str(b)],
        "samples": None,
        "results": "out",
    }
    assert plan.cfg.results == "out" and plan.cfg.detect.width == 0


def test_plan_with_a_profile_leaves_cores_to_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _touch(tmp_path / "v" / "a.mp4")
    plan = plan_run(["v"], profile="slurm", dry_run=True)
    argv = plan.argv
    assert "--cores" not in argv and argv[-1] == "--dry-run" and plan.quiet
    assert plan_run(["v"], unlock=True).argv[-1] == "--unlock"
    assert not plan_run(["v"]).quiet
    assert argv[argv.index("--profile") + 1] == str(ROOT / "workflow" / "profiles" / "slurm")
    assert plan_run(["v"], profile="slurm", cores="8").argv.count("--cores") == 1


def test_plan_takes_the_videos_from_the_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _touch(tmp_path / "v" / "a.mp4")
    (tmp_path / "my.yaml").write_text("inputs: [v]\nresults: r\n")
    plan = plan_run([], config="my.yaml")
    assert list(plan.samples) == ["a"] and "--config" not in plan.argv
    (tmp_path / "none.yaml").write_text("detect: {width: 0}\n")
    with pytest.raises(FaceOffError, match="name the videos"):
        plan_run([], config="none.yaml")
    with pytest.raises(FaceOffError, match="name the videos"):
        plan_run([])


def test_bad_inputs_are_named_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _touch(tmp_path / "v" / "a.mp4")
    _touch(tmp_path / "w" / "a.mkv")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no video")
    cases = {
        ("nope.mp4",): "inputs[0] (nope.mp4): no such folder or file",
        ("v", "-o", "r", "nope.mp4"): "inputs[1] (nope.mp4): no such folder or file",  # paths after options
        ("v", "empty"): "inputs[1] (empty): the folder holds no video",
        ("v", "-o", "v/out"): "inputs[0] (v): the results folder 'v/out' lies inside this input",
        ("v", "w"): "duplicate video id 'a'",
        ("v", "--config", "missing.yaml"): "missing.yaml: cannot read config",
    }
    for args, message in cases.items():
        assert main(["run", *args]) == 1
        err = capsys.readouterr().err
        assert err.startswith("faceoff run: error: ") and message in err, (args, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "v", "w"]  # nothing written


@pytest.mark.parametrize(
    "pattern",
    ["**/*.mp4", "*.mp4", "*/*.mp4", "*/*/*.mp4", "v/**/*.mp4", "[rv]*/an*/*.mp4", "?/*/*/*.mp4", "r/*/*"],
)
def test_a_glob_that_reaches_the_results_videos_is_refused(tmp_path, monkeypatch, pattern):
    """Oracle: glob itself, once the results hold a delivered video (flat and sharded)."""
    monkeypatch.chdir(tmp_path)
    _touch(tmp_path / "v" / "in.mp4")
    results = "v/r" if pattern.startswith("v/") else "r"
    cfg = validate_config({"inputs": [pattern], "results": results})
    delivered = {
        _touch(tmp_path / results / "anonymized" / "x.mp4"),
        _touch(tmp_path / results / "render" / "00" / "y.mp4"),
    }
    reaches = any(Path(p).resolve() in delivered for p in glob.glob(pattern, recursive=True))
    for p in delivered:
        p.unlink()
    if reaches:
        with pytest.raises(ConfigError, match="lies inside this input"):
            resolve_samples(cfg)
    else:  # resolved, or refused for another reason (`*.mp4` matches no file here)
        try:
            assert resolve_samples(cfg) == {"in": "v/in.mp4"}
        except ConfigError as err:
            assert "lies inside" not in str(err)


def test_an_empty_folder_among_inputs_is_an_error_only_when_asked(tmp_path):
    _touch(tmp_path / "v" / "a.mp4")
    (tmp_path / "empty").mkdir()
    cfg = validate_config(
        {"inputs": [str(tmp_path / "v"), str(tmp_path / "empty")], "results": str(tmp_path / "r")}
    )
    assert list(resolve_samples(cfg)) == ["a"]  # the workflow: an archive's empty day is fine
    with pytest.raises(ConfigError, match=r"inputs\[1\].*holds no video"):
        resolve_samples(cfg, each_input=True)


def test_watch_follows_a_recorded_run():
    """Snakemake's messages of a real run of this workflow (one video, 8 jobs)."""
    watch = _watch("success.log")
    assert (watch.steps_done, watch.steps_total) == (8, 8)
    assert watch.planned["audit"] == 1 and watch.audits_done == 1 and not watch.running
    assert watch.text(1) == "1/1 videos delivered"


def test_watch_mid_run_names_the_running_job_and_its_frames(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = (RECORDED / "success.log").read_text().splitlines()
    watch = JobWatch()
    assert watch.text(1) == "1 video(s): planning the jobs"
    for line in lines[: lines.index("localrule render:") + 10]:
        watch.feed(line)
    assert (watch.steps_done, watch.steps_total) == (3, 8)
    assert [(j.rule, j.video, j.log) for j in watch.running.values()] == [
        ("render", "a", "out/logs/render/a.log")
    ]
    assert watch.text(1) == "0/1 videos delivered, running: render a"
    log = tmp_path / "out" / "logs" / "render" / "a.log"
    log.parent.mkdir(parents=True)
    with open(log, "w") as stream:  # the job's own progress lines, as the render stage writes them
        with Progress(300, "render", stream=stream, interval=0) as progress:
            progress.update(120)
        assert watch.text(1) == "0/1 videos delivered, render a: 120/300 frames"


def test_watch_drops_a_failed_job():
    watch = _watch("failure.log")
    assert watch.planned["probe"] == 1 and not watch.running and watch.steps_done == 0


def test_nothing_to_do():
    watch = JobWatch()
    watch.feed("Nothing to be done (all requested files are present and up to date).")
    assert watch.text(3) == "3 video(s): nothing to do, every output is up to date"


def test_step_progress_in_a_log_is_a_plain_line_when_steps_change(tmp_path):
    now, log = [0.0], tmp_path / "run.log"
    with open(log, "w") as stream:
        bar = StepProgress("faceoff run", stream=stream, interval=30, clock=lambda: now[0])
        bar.update(0, 8, "planning")
        for done in range(1, 9):
            now[0] += 10
            bar.update(done, 8, f"step {done}")
            bar.update(done, 8, f"step {done}, frames")  # the text alone changes: no line
        bar.close()
    assert log.read_text().splitlines() == [
        "faceoff run: 0/8 jobs (0%), planning",
        "faceoff run: 3/8 jobs (38%), step 3",
        "faceoff run: 6/8 jobs (75%), step 6",
        "faceoff run: 8/8 jobs (100%), step 8, frames",
    ]


def test_help_says_what_the_command_is(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "one subcommand per stage, each usable standalone on one video." in text
