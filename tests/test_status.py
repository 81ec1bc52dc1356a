"""`faceoff status` on prepared results folders: done, failed, interrupted and running videos."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from faceoff.cli import main
from faceoff.layout import video_path
from faceoff.status import collect, failure_cause

OUTPUTS = (("probe", ".json"), ("detections", ".parquet"), ("tracks", ".parquet"), ("render", ".json"))
OUTPUTS += (("audit", ".json"), ("reports", ".json"))


def _touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _mark_incomplete(workdir: Path, output: str) -> None:
    """What Snakemake writes when a job starts (file persistence): the output path, base64 encoded."""
    name = base64.urlsafe_b64encode(output.encode()).decode()
    _touch(workdir / ".snakemake" / "incomplete" / name, "{}")


@pytest.fixture(params=[False, True], ids=["flat", "sharded"])
def prepared(request, tmp_path: Path) -> tuple[Path, Path]:
    """results/ with `done` (every stage), `broken` (detect failed), `half` (regularize was running when the
    run was killed) and `slow` (detect was running, 2 shards saved)."""
    sharded = request.param
    res = tmp_path / "results"

    def out(folder: str, vid: str, suffix: str) -> Path:
        return video_path(res, folder, vid, suffix, sharded)

    for folder, suffix in OUTPUTS:
        _touch(out(folder, "done", suffix), '{"id": "done"}')
        _touch(out(f"logs/{'detect' if folder == 'detections' else folder}", "done", ".log"), "ok\n")
    # broken: probed, detect failed with a cause in its log
    _touch(out("probe", "broken", ".json"))
    log = "loading model\nTraceback ...\nfaceoff detect: error: /in/broken.mp4: frame 37 cannot be decoded\n"
    _touch(out("logs/detect", "broken", ".log"), log)
    # half: regularize was running when Snakemake was killed (marker left, output partial or absent)
    for folder, suffix in OUTPUTS[:2]:
        _touch(out(folder, "half", suffix))
    _mark_incomplete(tmp_path, str(out("tracks", "half", ".parquet").relative_to(tmp_path)))
    # slow: detect was running, two shards of 3000 frames saved
    _touch(out("probe", "slow", ".json"))
    parts = out("detections", "slow", ".parquet").parent / ".slow.parquet.parts"
    _touch(parts / "0000000000-0000003000.npz")
    _touch(parts / "0000003000-0000006000.npz")
    _mark_incomplete(tmp_path, str(out("detections", "slow", ".parquet")))  # absolute paths too
    return res, tmp_path


def test_counts_per_stage_after_a_kill(prepared) -> None:
    res, workdir = prepared
    st = collect(res, workdir=workdir).as_dict()
    assert st["videos"] == 4 and st["snakemake"]["running"] is False
    s = st["stages"]
    assert s["probe"] == {"done": 4, "running": 0, "interrupted": 0, "failed": 0, "not_started": 0}
    assert s["detect"] == {"done": 2, "running": 0, "interrupted": 1, "failed": 1, "not_started": 0}
    assert s["regularize"] == {"done": 1, "running": 0, "interrupted": 1, "failed": 0, "not_started": 2}
    assert s["report"] == {"done": 1, "running": 0, "interrupted": 0, "failed": 0, "not_started": 3}
    assert st["failed"] == [
        {
            "id": "broken",
            "stage": "detect",
            "cause": "faceoff detect: error: /in/broken.mp4: frame 37 cannot be decoded",
            "log": st["failed"][0]["log"],
        }
    ]
    assert Path(st["failed"][0]["log"]).name == "broken.log"
    unfinished = {(u["stage"], u["id"]): u for u in st["unfinished"]}
    assert set(unfinished) == {("detect", "slow"), ("regularize", "half")}
    assert unfinished["detect", "slow"]["frames_saved"] == 6000
    assert st["summary"] is False


def test_a_live_snakemake_makes_them_running(prepared) -> None:
    res, workdir = prepared
    # a process whose command line names snakemake, working in the working directory
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)  # snakemake"], cwd=workdir)
    try:
        time.sleep(0.2)
        st = collect(res, workdir=workdir).as_dict()
    finally:
        proc.kill()
        proc.wait()
    assert st["snakemake"] == {"running": True, "pids": [proc.pid]}
    assert st["stages"]["detect"]["running"] == 1 and st["stages"]["detect"]["interrupted"] == 0
    # elsewhere (another working directory) the same markers are not seen
    assert collect(res, workdir=res).as_dict()["stages"]["detect"]["interrupted"] == 0


def test_cli_json_and_config_ids(prepared, capsys, tmp_path: Path) -> None:
    res, workdir = prepared
    videos = tmp_path / "videos"
    for vid in ("done", "broken", "half", "slow", "never"):
        _touch(videos / f"{vid}.mp4")
    cfg = _touch(tmp_path / "my.yaml", yaml.safe_dump({"inputs": [str(videos)], "results": str(res)}))
    assert main(["status", str(res), "--workdir", str(workdir), "--config", str(cfg), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["videos"] == 5 and st["stages"]["probe"]["not_started"] == 1  # `never` has not started
    assert main(["status", str(res), "--workdir", str(workdir)]) == 0
    text = capsys.readouterr().out
    assert "not running; a killed run left 2 unfinished job(s)" in text
    assert "detect     slow: interrupted (6000 frames saved)" in text
    assert "broken: faceoff detect: error: /in/broken.mp4: frame 37" in text


def test_summary_of_a_results_folder_lists_failures_first(prepared, tmp_path: Path) -> None:
    res, workdir = prepared
    html = tmp_path / "s.html"
    assert (
        main(
            [
                "summary",
                str(res),
                "--workdir",
                str(workdir),
                "--html",
                str(html),
                "--csv",
                str(tmp_path / "s.csv"),
            ]
        )
        == 0
    )
    rows = json.loads(html.read_text().split('type="application/json">')[1].split("</script>")[0])
    assert rows[0]["id"] == "broken" and rows[0]["flags"].startswith(
        "failed at detect: faceoff detect: error:"
    )


def test_failure_cause_without_an_error_line(tmp_path: Path) -> None:
    assert failure_cause(_touch(tmp_path / "a.log", "step 1\nKilled\n")) == "Killed"
    assert "empty log" in failure_cause(_touch(tmp_path / "b.log", ""))
    assert "unreadable" in failure_cause(tmp_path / "missing.log")


def test_summary_with_pseudonyms_names_no_cause(prepared, tmp_path: Path) -> None:
    """Log lines name input files; with --redact-paths (pseudonyms) the page only points at the log."""
    res, workdir = prepared
    html = tmp_path / "s.html"
    argv = ["summary", str(res), "--workdir", str(workdir), "--redact-paths"]
    assert main([*argv, "--html", str(html), "--csv", str(tmp_path / "s.csv")]) == 0
    page = html.read_text()
    assert "failed at detect: see its log" in page and "/in/broken.mp4" not in page
