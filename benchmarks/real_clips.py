"""The real-footage dev set: manifest, clip folder, and rebuilding the clips from their origins.

    python benchmarks/real_clips.py build ORIGINS [--out DIR]   # cut the clips, check every sha256
    python benchmarks/real_clips.py check [--out DIR]           # are the clips there and unchanged?
    python benchmarks/real_clips.py dark [--out DIR] [--luma L]  # dark copies of the clips (below)
    python benchmarks/real_clips.py lit [--out DIR] [--top T]    # dark copies, a lit band at the top
    python benchmarks/real_clips.py noisy [--out DIR] [--noise N]  # noisy copies at their own light

``benchmarks/real_clips.json`` names each clip's origin (public repository, path, commit, the origin
file's sha256 and licence as its repository states it) and how the clip is cut from it: ``copy``
keeps the origin's bytes, ``x264`` re-encodes a frame range (``trim`` by decoded frame number) with
the manifest's ffmpeg arguments. Only our manifest, annotations and scripts are in git; the footage
is fetched by whoever measures (``git clone`` the origin repositories, ``git -C REPO show
COMMIT:PATH > ORIGINS/REPO_OWNER+NAME/PATH``; see docs/recall.md) and lives in
``$FACEOFF_REAL_CLIPS`` (default ``~/.cache/faceoff/real-clips``) as ``{clip_id}.mp4``.

No fetchable clip is really dark, so ``dark`` derives a dark stage from each clip (:func:`darken`): the
same frames and timestamps (so the same annotations score them), the light scaled down to a mean luma
of ``DARK_LUMA`` and sensor noise added, in ``~/.cache/faceoff/real-clips-dark``; point
``$FACEOFF_REAL_CLIPS`` there to score them (``benchmarks/recall.py --suite real``). ``lit`` makes the
dark copies with the top ``LIT_TOP`` of the picture at its own light (a dark scene with a lit part: a
stage, a window, an operating room's lit field), in ``~/.cache/faceoff/real-clips-lit``. ``noisy`` makes
copies at the clips' own light with heavy sensor noise (a camera at high gain), in
``~/.cache/faceoff/real-clips-noisy``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST = Path(__file__).with_name("real_clips.json")
ANNOTATIONS = Path(__file__).parent / "real" / "annotations"
ENV_VAR = "FACEOFF_REAL_CLIPS"
DARK_LUMA = 32.0
"""Mean luma (16-235) of a clip's dark copy: a dim stage (goldeneye-cut, the darkest clip, has 48)."""
DARK_NOISE = 5
"""Strength of the dark copy's temporal luma noise (ffmpeg's ``noise`` filter): a sensor's gain."""
LIT_TOP = 0.2
"""``lit``: the share of the picture's height at the top that a lit copy keeps at its own light."""
LIT_EDGE = 0.05
"""The share of the height over which a lit copy's band blends into its dark part."""
NOISY_NOISE = 14
"""Strength of the noisy copy's noise (``noisy``: the clips at their own light, noise of about 8 levels
standard deviation after the x264 pass: a camera at high gain)."""


def clips_dir() -> Path:
    """The folder holding ``{clip_id}.mp4``: ``$FACEOFF_REAL_CLIPS`` or ``~/.cache/faceoff/real-clips``."""
    return Path(os.environ.get(ENV_VAR) or Path.home() / ".cache" / "faceoff" / "real-clips").expanduser()


def load_manifest(path: Path = MANIFEST) -> list[dict[str, Any]]:
    """The manifest's clips, in order."""
    return json.loads(path.read_text())["clips"]


def clip_path(clip: dict[str, Any], folder: Path | None = None) -> Path:
    return (folder or clips_dir()) / f"{clip['clip_id']}.mp4"


def annotation_path(clip: dict[str, Any]) -> Path:
    return ANNOTATIONS / f"{clip['clip_id']}.parquet"


def missing_clips(folder: Path | None = None) -> list[str]:
    """Clip ids whose video is absent from the folder (empty when the dev set is usable)."""
    return [c["clip_id"] for c in load_manifest() if not clip_path(c, folder).exists()]


def origin_file(origins: Path, clip: dict[str, Any]) -> Path:
    o = clip["origin"]
    return origins / o["repository"].replace("/", "+") / o["path"]


def cut(src: Path, dst: Path, clip: dict[str, Any]) -> None:
    """Write the clip ``dst`` from its origin file ``src`` as the manifest says."""
    from faceoff.ffmpeg import run_ffmpeg

    how = clip["cut"]
    if how["method"] == "copy":
        shutil.copyfile(src, dst)
        return
    first, last = how["first_frame"], how["last_frame"]
    trim = f"trim=start_frame={first}:end_frame={last + 1},setpts=PTS-STARTPTS"
    run_ffmpeg(["-threads", "1", "-i", src, "-vf", trim, *how["ffmpeg_args"], dst], dst)


def build(origins: Path, folder: Path) -> list[str]:
    """Cut every clip into ``folder``; the problems found (origin or clip sha256, frame count)."""
    from faceoff.probe import probe_video, sha256_file

    folder.mkdir(parents=True, exist_ok=True)
    problems = []
    for clip in load_manifest():
        src = origin_file(origins, clip)
        if sha256_file(src) != clip["origin"]["sha256"]:
            problems.append(f"{clip['clip_id']}: origin {src} does not have the manifest's sha256")
            continue
        dst = clip_path(clip, folder)
        tmp = dst.with_suffix(".part.mp4")
        cut(src, tmp, clip)
        tmp.replace(dst)
        problems += check_clip(clip, probe_video(dst))
    return problems


def check_clip(clip: dict[str, Any], info) -> list[str]:
    """What differs between a probed clip and its manifest entry."""
    want = {
        "frames": clip["frames"],
        "width": clip["width"],
        "height": clip["height"],
        "start_time": clip["start_time"],
    }
    got = {"frames": info.frame_count, "width": info.width, "height": info.height}
    got["start_time"] = round(info.start_time, 4)
    out = [f"{clip['clip_id']}: {k} is {got[k]}, manifest says {v}" for k, v in want.items() if got[k] != v]
    if info.sha256 != clip["sha256"]:
        out.append(
            f"{clip['clip_id']}: sha256 {info.sha256} differs from the manifest's (another ffmpeg/x264 "
            "build re-encodes differently; the frame count and size above still hold)"
        )
    return out


def darken(
    src: Path, dst: Path, luma: float = DARK_LUMA, noise: int = DARK_NOISE, lit_top: float = 0.0
) -> float:
    """Write ``dst``, a dark copy of the video ``src``: every pixel's light scaled about black by one
    gain so that the mean luma (16 at black) is ``luma`` (a darker clip is left as it is), temporal
    luma noise of ``noise`` added (a fixed seed), x264 crf 16; the same frames and timestamps, checked.
    ``lit_top`` > 0 keeps that share of the picture's height at the top at its own light (a lit band:
    a stage's lights, windows, a lit wall), blending into the dark part over :data:`LIT_EDGE` of the
    height; the gain is then the one of the whole copy. Returns the gain."""
    from faceoff.decode import iter_frames
    from faceoff.ffmpeg import run_ffmpeg
    from faceoff.probe import probe_video

    info = probe_video(src)
    mean = np.mean([frames.mean() for _, frames in iter_frames(src, info, gray=True)])
    gain = min(1.0, (luma - 16.0) / max(float(mean) - 16.0, 1e-6))  # luma is 16 at black (limited range)
    g = f"{gain:.4f}"
    if lit_top > 0:  # the band's weight: 1 above lit_top, 0 from lit_top + LIT_EDGE down, linear between
        w = f"clip(({lit_top + LIT_EDGE:.4f}-Y/H)/{LIT_EDGE:.4f},0,1)"
        lum, chroma = f"16+(p(X,Y)-16)*({w}+(1-{w})*{g})", f"128+(p(X,Y)-128)*({w}+(1-{w})*{g})"
        scale = f"geq=lum='{lum}':cb='{chroma}':cr='{chroma}'"
    else:
        scale = f"lutyuv=y='16+(val-16)*{g}':u='128+(val-128)*{g}':v='128+(val-128)*{g}'"
    vf = f"{scale},noise=c0s={noise}:c0f=t:c0_seed=20,setpts=PTS-STARTPTS"
    args = ["-threads", "1", "-i", src, "-vf", vf, "-an", "-sn", "-dn", "-map_metadata", "-1"]
    args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "16", "-pix_fmt", "yuv420p"]
    args += ["-fps_mode", "passthrough", "-output_ts_offset", f"{info.start_time:.6f}", dst]
    run_ffmpeg(args, dst)
    got = probe_video(dst)
    if got.frame_count != info.frame_count or not np.allclose(got.pts_time, info.pts_time, atol=1e-6):
        raise RuntimeError(f"{dst}: frames or timestamps differ from {src}'s")
    return gain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="cut the clips from the origin files")
    b.add_argument("origins", type=Path, help="folder with OWNER+NAME/PATH of every origin file")
    b.add_argument("--out", type=Path, default=None)
    c = sub.add_parser("check", help="probe the clips and compare with the manifest")
    c.add_argument("--out", type=Path, default=None)
    d = sub.add_parser("dark", help="dark copies of the clips, for $FACEOFF_REAL_CLIPS")
    d.add_argument("--out", type=Path, default=Path.home() / ".cache" / "faceoff" / "real-clips-dark")
    d.add_argument("--luma", type=float, default=DARK_LUMA, help="mean luma of the copies (16-235)")
    lit = sub.add_parser("lit", help="dark copies with a lit band at the top, for $FACEOFF_REAL_CLIPS")
    lit.add_argument("--out", type=Path, default=Path.home() / ".cache" / "faceoff" / "real-clips-lit")
    lit.add_argument("--top", type=float, default=LIT_TOP, help="share of the height kept lit at the top")
    n = sub.add_parser("noisy", help="noisy copies of the clips at their own light, for $FACEOFF_REAL_CLIPS")
    n.add_argument("--out", type=Path, default=Path.home() / ".cache" / "faceoff" / "real-clips-noisy")
    n.add_argument("--noise", type=int, default=NOISY_NOISE, help="strength of the temporal luma noise")
    args = parser.parse_args()
    if args.cmd in ("dark", "lit", "noisy"):
        args.out.mkdir(parents=True, exist_ok=True)
        for clip in load_manifest():
            if args.cmd == "dark":
                gain = darken(clip_path(clip), clip_path(clip, args.out), args.luma)
            elif args.cmd == "lit":
                gain = darken(clip_path(clip), clip_path(clip, args.out), lit_top=args.top)
            else:  # a mean luma above any clip's: the gain stays 1
                gain = darken(clip_path(clip), clip_path(clip, args.out), 255.0, args.noise)
            print(f"{clip['clip_id']}: light x {gain:.3f}")
        return
    folder = args.out or clips_dir()
    if args.cmd == "build":
        problems = build(args.origins, folder)
    else:
        from faceoff.probe import probe_video

        problems = [f"{cid}: missing" for cid in missing_clips(folder)]
        for clip in load_manifest():
            if clip_path(clip, folder).exists():
                problems += check_clip(clip, probe_video(clip_path(clip, folder)))
    print("\n".join(problems) or f"all {len(load_manifest())} clips in {folder} match the manifest")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
