"""The summary job on N synthetic reports: its time, peak memory, and the index page's size; the page is
then opened in headless Chromium (a screenshot, and the table's rows counted after its script ran).

    .venv/bin/python benchmarks/summary_scale.py [--videos 10000] [--workdir /tmp/faceoff-summary]
                                                 [--layout sharded|flat] [--screenshot summary.png]

Each report is a full report JSON as the report stage writes it (source facts, timing, versions, audit
with findings on 2 % of the videos, recall and coverage with uncovered frames on the annotated half),
about 3-4 KB. The summary runs as the workflow runs it: ``faceoff summary RESULTS`` in a child process
(finding the reports, checking the logs for failures, reading every report, writing CSV and index).
Targets: at most 60 s and an index of at most 10 MB for 10,000 videos.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from faceoff.layout import video_path
from faceoff.report import versions


def synthetic_report(results: Path, vid: str, rng: random.Random, sharded: bool) -> dict:
    """One report as the report stage writes it (numbers random, structure real)."""
    frames = rng.randint(750, 90_000)
    annotated = rng.random() < 0.5
    findings = rng.randint(1, 40) if rng.random() < 0.02 else 0
    path = lambda folder, suffix: str(video_path(results, folder, vid, suffix, sharded))  # noqa: E731
    timing = {s: {"seconds": rng.uniform(1, 600), "frames_per_second": rng.uniform(5, 400)} for s in
              ("probe", "detect", "regularize", "render")}  # fmt: skip
    r = {
        "id": vid,
        "source": {
            "path": f"/archive/{vid}.mp4",
            "sha256": f"{rng.getrandbits(256):064x}",
            "frames": frames,
            "width": 1920,
            "height": 1080,
            "rotation": 0,
            "fps": 25.0,
            "duration": frames / 25,
            "vfr": False,
            "codec": "h264",
            "pix_fmt": "yuv420p",
            "size_bytes": frames * 8000,
            "streams": {"video": 1, "audio": 1},
        },  # fmt: skip
        "frames_with_faces": {"detections": frames // 2, "tracks": frames // 2 + 100},
        "fraction_frames_with_faces": {"detections": 0.5, "tracks": 0.51},
        "boxes": {"detections": frames, "tracks": frames + 300},
        "tracks": {"count": rng.randint(1, 60), "boxes_by_source": {"detected": frames, "interpolated": 300}},
        "timing": {**timing, "total_seconds": sum(t["seconds"] for t in timing.values())},
        "params_hashes": {"detect": "a" * 16, "regularize": "b" * 16, "render": "c" * 16},
        "config_hashes": {"detect": "a" * 16, "regularize": "b" * 16, "render": "c" * 16},
        "params_mismatch": [],
        "provenance": {"detector": "centerface", "weights_sha256": "d" * 64},
        "versions": versions(),
        "output": {
            "path": path("render", ".mp4"),
            "exists": False,
            "frames_written": frames,
            "frames_match_source": True,
            "delivered": path("anonymized", ".mp4"),
        },  # fmt: skip
        "audit": {
            "enabled": True,
            "passed": True,
            "threshold": 0.3,
            "n_findings": findings,
            "frames_with_findings": findings,
            "first_findings": [
                {"frame_index": i, "score": 0.4, "x1": 1, "y1": 2, "x2": 30, "y2": 40}
                for i in range(min(findings, 10))
            ],
            "contact_sheet": path("qa", ".png"),
        },  # fmt: skip
    }
    if annotated:
        cov = rng.uniform(0.85, 1.0)
        uncovered = sorted(rng.sample(range(frames), 20))
        r["recall"] = {k: {"n_gt": 1000, "tp": int(1000 * cov), "fp": 30, "recall": cov, "precision": 0.97,
                           "iou": 0.5} for k in ("detections", "tracks")}  # fmt: skip
        r["coverage"] = {k: {"n_gt": 1000, "covered": int(1000 * cov), "coverage": cov, "threshold": 0.9,
                             "longest_uncovered_run": 4, "uncovered_frames": uncovered}
                         for k in ("detections", "tracks")}  # fmt: skip
    return r


def make_reports(results: Path, n: int, sharded: bool) -> None:
    rng = random.Random(0)
    if results.exists():
        shutil.rmtree(results)
    for i in range(n):
        vid = f"or_{i:06d}"
        out = video_path(results, "reports", vid, ".json", sharded)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(synthetic_report(results, vid, rng, sharded), indent=2))


def run_summary(results: Path) -> tuple[float, float, float]:
    """``faceoff summary RESULTS`` as the workflow runs it: seconds, CPU seconds and peak RSS (MiB)."""
    cmd = [sys.executable, "-m", "faceoff", "summary", str(results)]
    cmd += ["--html", str(results / "summary.html"), "--csv", str(results / "summary.csv")]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=results.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"faceoff summary failed: {proc.stdout.read().decode()[-3000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def chromium(page: Path, screenshot: Path) -> dict:
    """Open the page in headless Chromium: a screenshot, and the table's rows after the script ran."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        return {"chromium": "not installed (Debian package chromium)"}
    base = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000"]
    start = time.perf_counter()
    shot = subprocess.run([*base, f"--screenshot={screenshot}", "--window-size=1400,1000", page.as_uri()],
                          capture_output=True, timeout=300)  # fmt: skip
    shot_s = time.perf_counter() - start
    start = time.perf_counter()
    dom = subprocess.run([*base, "--dump-dom", page.as_uri() + "#look=1&sort=coverage"], capture_output=True,
                         text=True, timeout=300).stdout  # fmt: skip
    dom_s = time.perf_counter() - start
    body = re.search(r'<tbody id="body">(.*?)</tbody>', dom, re.S)
    count = re.search(r'<span id="count"[^>]*>(.*?)</span>', dom)
    return {
        "screenshot": str(screenshot)
        if shot.returncode == 0 and screenshot.is_file()
        else shot.stderr[-500:],
        "screenshot_s": shot_s,
        "dom_s": dom_s,
        "rows_shown": body.group(1).count("<tr>") if body else 0,
        "count_text": count.group(1) if count else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=10_000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/faceoff-summary"))
    ap.add_argument("--layout", choices=("sharded", "flat"), default="sharded")
    ap.add_argument("--screenshot", type=Path, help="PNG of the index page (default: in the workdir)")
    ap.add_argument(
        "--keep", action="store_true", help="reuse the reports of an earlier run of the same size"
    )
    args = ap.parse_args()
    results = args.workdir.resolve() / "results"
    t = time.perf_counter()
    have = sum(1 for _ in (results / "reports").rglob("*.json")) if args.keep else -1
    if have != args.videos:
        make_reports(results, args.videos, args.layout == "sharded")
    made = time.perf_counter() - t
    sizes = [p.stat().st_size for p in (results / "reports").rglob("*.json")]
    seconds, cpu, rss = run_summary(results)
    page = results / "summary.html"
    browser = chromium(page, args.screenshot or args.workdir.resolve() / "summary.png")
    print(
        f"# summary scale · {platform.machine()}, {os.cpu_count()} cores · Python {platform.python_version()}"
    )
    mean_kb = sum(sizes) / max(len(sizes), 1) / 1024
    print(f"reports: {args.videos} ({args.layout} layout, mean {mean_kb:.1f} KB, made in {made:.1f} s)")
    print(
        f"summary job (faceoff summary RESULTS): {seconds:.1f} s (target <= 60 s), peak memory {rss:.0f} MiB"
    )
    print(f"  its CPU time (user + system; less disturbed by a shared CPU): {cpu:.1f} s")
    print(f"  load average (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"index page: {page.stat().st_size / 1e6:.2f} MB (target <= 10 MB); "
          f"summary.csv: {(results / 'summary.csv').stat().st_size / 1e6:.2f} MB")  # fmt: skip
    for key, value in browser.items():
        print(f"chromium {key}: {value:.1f}" if isinstance(value, float) else f"chromium {key}: {value}")


if __name__ == "__main__":
    main()
