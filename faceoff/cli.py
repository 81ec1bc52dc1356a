"""The ``faceoff`` command: ``faceoff run`` (the whole workflow), and one subcommand per stage, each
usable standalone on one video.

The Snakemake rules call the stage subcommands; a stage's parameters come from ``--params`` (JSON of its
config section, as the rules pass it), from ``--config`` (a YAML config file), or the defaults.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from faceoff import __version__
from faceoff.config import (
    AdaptConfig,
    AuditConfig,
    Config,
    DetectConfig,
    RegularizeConfig,
    RenderConfig,
    ReportConfig,
    Section,
    ShotsConfig,
    TrainConfig,
    export_schema,
    load_config,
    parse_section,
    validate_config,
)
from faceoff.errors import FaceOffError
from faceoff.memory import limit_heap_growth


def _section(args: argparse.Namespace, kind: type[Section], name: str, params: str | None = None) -> Section:
    """Section ``name`` of the run: from ``params`` (JSON, as the rules pass it) when given, else from the
    ``--config`` file, else the defaults. The command's own section takes ``--params``."""
    raw = args.params if params is None and name == args.command else params
    if raw is not None:
        return parse_section(kind, raw)
    cfg = _workflow(args)
    return getattr(cfg, name) if cfg is not None else kind()


def _probe_info(args: argparse.Namespace):
    from faceoff.probe import probe_video, read_probe

    return read_probe(args.probe) if args.probe else probe_video(args.video)


def cmd_run(args: argparse.Namespace) -> int:
    from faceoff.run import execute, plan_run

    plan = plan_run(
        args.paths, args.results, args.config, args.cores, args.profile, args.dry_run, args.unlock
    )
    return execute(plan)


def cmd_probe(args: argparse.Namespace) -> None:
    from faceoff.stages.probe import run_probe

    cfg = _section(args, ShotsConfig, "shots", args.params)
    info = run_probe(args.video, args.output, cfg, redact_path=args.redact_path)
    print(
        f"{args.output}: {info.frame_count} frames, {info.width}x{info.height},"
        f" vfr={info.variable_frame_rate}, {len(info.cuts or [])} shot cuts"
    )


def cmd_detect(args: argparse.Namespace) -> None:
    from faceoff.stages.detect import run_detect

    cfg = _section(args, DetectConfig, "detect")
    df = run_detect(args.video, _probe_info(args), cfg, args.output, threads=args.threads)
    print(f"{args.video}: {len(df)} boxes on {df['frame_index'].nunique()} frames -> {args.output}")


def cmd_regularize(args: argparse.Namespace) -> None:
    from faceoff.probe import read_probe
    from faceoff.stages.regularize import run_regularize

    cfg = _section(args, RegularizeConfig, "regularize")
    tracks = run_regularize(args.detections, read_probe(args.probe), cfg, args.output, video=args.video)
    print(f"{args.detections}: {len(tracks)} track boxes -> {args.output}")


def cmd_render(args: argparse.Namespace) -> None:
    from faceoff.stages.render import run_render

    cfg = _section(args, RenderConfig, "render")
    stats_out = args.stats or str(Path(args.output).with_suffix(".json"))
    stats = run_render(
        args.video,
        _probe_info(args),
        args.tracks,
        cfg,
        args.output,
        stats_out,
        args.log,
        corrections=args.corrections,
        corrected=args.corrected,
        audit=_section(args, AuditConfig, "audit", args.audit_params),
        detect=_section(args, DetectConfig, "detect", args.detect_params),
        threads=args.threads,
    )
    print(
        f"{args.video}: {stats['frames_written']} frames, {stats['boxes_hidden']} boxes hidden"
        f" -> {args.output}"
    )


def cmd_audit(args: argparse.Namespace) -> None:
    from faceoff.probe import read_probe
    from faceoff.stages.audit import run_audit

    result = run_audit(
        args.video,
        read_probe(args.probe),
        args.tracks,
        args.detections,
        args.render_stats,
        _section(args, RenderConfig, "render", args.render_params),
        _section(args, AuditConfig, "audit"),
        _section(args, DetectConfig, "detect", args.detect_params),
        args.output,
        args.sheet,
        args.deliver,
    )
    print(f"{args.video}: audit findings={result['n_findings']} -> delivered {args.deliver}")


def cmd_report(args: argparse.Namespace) -> None:
    from faceoff.stages.report import run_report

    hashes = json.loads(args.hashes) if args.hashes else {}
    run_report(
        args.id,
        args.probe,
        args.detections,
        args.tracks,
        args.render_stats,
        args.annotations,
        hashes,
        args.output,
        _section(args, ReportConfig, "report"),
        _section(args, RenderConfig, "render", args.render_params),
        audit_json=args.audit,
        contact_sheet=args.sheet,
        review=args.review,
        delivered=args.delivered,
        page=args.page,
        index=args.index,
    )
    print(f"{args.id}: report -> {args.output}" + (f", review page -> {args.review}" if args.review else ""))


def cmd_export_cvat(args: argparse.Namespace) -> None:
    from faceoff.cvat import export_cvat
    from faceoff.probe import read_probe

    counts = export_cvat(
        args.tracks, read_probe(args.probe), args.output, audit_json=args.audit, labels_out=args.labels
    )
    print(f"{args.tracks}: {counts['tracks']} tracks, {counts['findings']} finding tracks -> {args.output}")


def cmd_summary(args: argparse.Namespace) -> None:
    from faceoff.stages.summary import run_summary

    sources = {"results": args.results, "reports": args.reports}
    n = run_summary(args.html, args.csv, **sources, workdir=args.workdir, redact_causes=args.redact_paths)
    print(f"summary of {n} videos -> {args.html}, {args.csv}")


def cmd_status(args: argparse.Namespace) -> None:
    from faceoff.samples import workflow_samples
    from faceoff.status import collect, format_status

    ids = list(workflow_samples(load_config(args.config))) if args.config else None
    status = collect(args.results, workdir=args.workdir, video_ids=ids)
    print(json.dumps(status.as_dict(), indent=2) if args.json else format_status(status))


def cmd_demo(args: argparse.Namespace) -> None:
    from faceoff.synth.demo import write_demo

    for path in write_demo(args.folder):
        print(path)


def _workflow(args: argparse.Namespace) -> Config | None:
    """The workflow's config: ``--workflow-config`` (JSON, as the train and adapt rules pass it: the
    videos are resolved here, not listed on a command line that cannot hold an archive), else the
    ``--config`` file, else None."""
    raw = getattr(args, "workflow_config", None)
    if raw is None:
        return load_config(args.config) if args.config is not None else None
    if args.config is not None:
        raise FaceOffError("give --config or --workflow-config, not both")
    try:
        return validate_config(json.loads(raw))
    except json.JSONDecodeError as err:
        raise FaceOffError(f"--workflow-config is not JSON: {err}") from None


def _config_videos(cfg: Config | None) -> dict[str, str]:
    """``{id: path}`` of the workflow config's inputs, as the workflow names them (pseudonyms when on),
    when no videos are named on the command line."""
    from faceoff.samples import workflow_samples

    if cfg is None:
        raise FaceOffError("name the videos, or give --config with inputs (and annotations for train)")
    return workflow_samples(cfg)


def cmd_train(args: argparse.Namespace) -> None:
    from faceoff.training import AnnotatedVideo, find_annotations, train_detector

    cfg = _section(args, TrainConfig, "train")
    if args.videos:
        if len(args.annotations or []) != len(args.videos):
            raise FaceOffError("give one --annotations file per video, in the same order")
        items = [AnnotatedVideo(v, a) for v, a in zip(args.videos, args.annotations, strict=True)]
    else:
        workflow = _workflow(args)
        folder = workflow.annotations if workflow is not None else None
        if not folder:
            raise FaceOffError(
                "no annotations: give --videos and --annotations, or a config with `annotations`"
            )
        items = find_annotations(_config_videos(workflow), folder)
    if not items:
        raise FaceOffError("no annotated video to train on")
    card = train_detector(items, cfg, args.output, redact_paths=args.redact_paths)
    kept = card["validation_metrics"]
    print(
        f"{len(items)} videos: {card['detector']} ({card['architecture']}) epoch {card['kept_epoch']} kept, "
        f"validation AP {kept['ap']}, recall {kept['recall']} -> {args.output}"
    )


def cmd_adapt(args: argparse.Namespace) -> None:
    from faceoff.adapt import adapt

    cfg = _section(args, AdaptConfig, "adapt")
    detect = _section(args, DetectConfig, "detect", args.detect_params)
    regularize = _section(args, RegularizeConfig, "regularize", args.regularize_params)
    workflow = _workflow(args)
    if args.videos:
        ids = args.ids or [Path(v).stem for v in args.videos]
        if len(ids) != len(args.videos) or len(set(ids)) != len(ids):
            raise FaceOffError("--ids: one unique id per video")
        videos = list(zip(ids, args.videos, strict=True))
    else:
        videos = list(_config_videos(workflow).items())
    probes = args.probes
    if probes is None and args.workflow_config is not None:  # the probe stage's, under the results layout
        from faceoff.layout import is_sharded, video_path

        sharded = is_sharded(workflow.layout, len(videos))
        probes = [str(video_path(workflow.results, "probe", i, ".json", sharded)) for i, _ in videos]
    if probes and len(probes) != len(videos):
        raise FaceOffError("--probes: one probe JSON per video, in the same order")
    card = adapt(
        videos,
        args.output,
        cfg=cfg,
        detect=detect,
        regularize=regularize,
        probes=probes,
        threads=args.threads,
        redact_paths=args.redact_paths,
    )
    print(
        f"{len(videos)} videos: kept round {card['rounds_accepted']} ({card['stop_reason']}) -> {args.output}"
    )


def cmd_schema(args: argparse.Namespace) -> None:
    export_schema(args.output)
    print(args.output)


def _params_options(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--params", help="JSON of this stage's config section (as the workflow passes it)")
    group.add_argument("--config", help="YAML config file to take this stage's section from")


def _model_output_options(p: argparse.ArgumentParser) -> None:
    """The options ``train`` and ``adapt`` share: where the checkpoint goes, path redaction, the config."""
    p.add_argument("-o", "--output", required=True, help="checkpoint .pt (model card: the .json beside it)")
    p.add_argument(
        "--redact-paths", action="store_true", help="the model card names no file paths (pseudonyms)"
    )
    p.add_argument(
        "--workflow-config",
        help="JSON of the workflow's config (as the rules pass it): the videos are its inputs, and adapt "
        "reads their probes under its results",
    )
    _params_options(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faceoff", description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--version", action="version", version=f"faceoff {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "run",
        help="the whole workflow on your videos (files, folders, globs), from any folder",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="De-identify videos: the whole workflow (the Snakemake workflow that `snakemake --cores\n"
        "all` runs), in this folder. The same command from the same folder resumes and redoes only what\n"
        "changed. Exits non-zero when a video failed, naming it and its log.",
        epilog="examples:\n  faceoff run clip.mp4\n"
        "  faceoff run /data/or-videos '/archive/**/*.mov' -o /scratch/faceoff-results\n"
        "  faceoff run --config my.yaml --profile slurm",
    )
    p.add_argument(
        "paths", nargs="*", metavar="PATH", help="video files, folders (searched recursively), glob patterns"
    )
    p.add_argument("-o", "--results", help="results folder (default: the config's `results`: ./results)")
    p.add_argument("--config", help="YAML config merged over the defaults (PATH and -o override its keys)")
    p.add_argument("--cores", help="CPU cores (default: all, or the profile's)")
    p.add_argument(
        "--profile", help="Snakemake profile: a folder, or the workflow's own: local, multi-gpu, slurm"
    )
    p.add_argument("-n", "--dry-run", action="store_true", help="list the jobs that would run; run nothing")
    p.add_argument(
        "--unlock", action="store_true", help="remove the lock a killed run left here; run nothing"
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("probe", help="index a video and write its probe JSON")
    p.add_argument("video")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--redact-path", action="store_true", help="do not record the input path (pseudonyms)")
    _params_options(p)
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("detect", help="detect faces on every frame -> Parquet box table")
    p.add_argument("video")
    p.add_argument("--probe", help="probe JSON (probed on the fly if omitted)")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--threads", type=int, help="CPU threads when detect.threads is not set")
    _params_options(p)
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("regularize", help="temporal regularisation of detections -> Parquet tracks table")
    p.add_argument("detections")
    p.add_argument("--probe", required=True)
    p.add_argument("--video", help="the detected video (read when regularize.follow_frames > 0)")
    p.add_argument("-o", "--output", required=True)
    _params_options(p)
    p.set_defaults(func=cmd_regularize)

    p = sub.add_parser(
        "render", help="anonymize every tracked box, re-detect on each rendered frame, encode the video"
    )
    p.add_argument("video")
    p.add_argument("--tracks", required=True)
    p.add_argument("--probe", help="probe JSON (probed on the fly if omitted)")
    p.add_argument("-o", "--output", required=True, help="output .mp4")
    p.add_argument("--stats", help="render stats JSON (default: next to the output)")
    p.add_argument("--log", help="file for ffmpeg's messages")
    p.add_argument("--corrections", help="a reviewer's corrections (CVAT XML, COCO JSON, Parquet)")
    p.add_argument("--corrected", help="write the tracks with the corrections applied here, hide those")
    p.add_argument("--audit-params", help="JSON of the audit section (the check of each rendered frame)")
    p.add_argument("--detect-params", help="JSON of the detect section (detector, runtime, device, zoom)")
    p.add_argument("--threads", type=int, help="CPU threads when detect.threads is not set")
    _params_options(p)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser(
        "audit", help="the render's frame check, uncovered detections, QA contact sheet, then delivery"
    )
    p.add_argument("video", help="the rendered video")
    p.add_argument("--probe", required=True, help="probe JSON of the source video")
    p.add_argument("--tracks", required=True)
    p.add_argument("--detections", required=True, help="the detect stage's table")
    p.add_argument("--render-stats", required=True, help="the render stage's JSON")
    p.add_argument("-o", "--output", required=True, help="audit JSON")
    p.add_argument("--sheet", required=True, help="contact sheet PNG")
    p.add_argument("--deliver", required=True, help="where the video goes when it may be delivered")
    p.add_argument("--render-params", help="JSON of the render section used")
    p.add_argument("--detect-params", help="JSON of the detect section (detector name, threshold)")
    _params_options(p)
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("report", help="per-video report JSON (recall when annotations are given)")
    p.add_argument("id")
    p.add_argument("--probe", required=True)
    p.add_argument("--detections", required=True)
    p.add_argument("--tracks", required=True)
    p.add_argument("--render-stats", required=True)
    p.add_argument("--annotations")
    p.add_argument("--hashes", help="JSON of stage name -> params hash")
    p.add_argument("--render-params", help="JSON of the render section (coverage is scored with it)")
    p.add_argument("--audit", help="audit JSON")
    p.add_argument("--sheet", help="contact sheet PNG")
    p.add_argument("--delivered", help="the delivered video (linked from the detail page)")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--page", help="also write the video's detail page (HTML with its timeline) here")
    p.add_argument("--index", help="the summary page the detail page links back to")
    p.add_argument("--review", help="also write the review page (HTML, plays the --delivered video) here")
    _params_options(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export-cvat", help="tracks (and audit findings) as CVAT for video 1.1 XML")
    p.add_argument("tracks", help="tracks table (tracks/ or tracks_corrected/{id}.parquet)")
    p.add_argument("--probe", required=True, help="probe JSON of the source video")
    p.add_argument("--audit", help="audit JSON: its findings under the label 'finding'")
    p.add_argument("--labels", help="also write the CVAT task's labels JSON here")
    p.add_argument("-o", "--output", required=True, help="XML to load over the source video in CVAT")
    p.set_defaults(func=cmd_export_cvat)

    p = sub.add_parser("summary", help="summary index page and CSV over all videos, from the report JSONs")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "results", nargs="?", help="results folder: every report in it, and its failed videos first"
    )
    source.add_argument("--reports", nargs="+", help="report JSONs (instead of a results folder)")
    p.add_argument("--workdir", default=".", help="Snakemake's working directory (its .snakemake folder)")
    p.add_argument(
        "--redact-paths", action="store_true", help="no failure causes from logs (they name input files)"
    )
    p.add_argument("--html", required=True)
    p.add_argument("--csv", required=True)
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("status", help="per stage: videos done, running, failed (with cause), not started")
    p.add_argument("results", help="the results folder")
    p.add_argument("--workdir", default=".", help="Snakemake's working directory (default: here)")
    p.add_argument("--config", help="the workflow config: count its videos that have not started too")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("demo", help="generate the built-in demo videos (deterministic)")
    p.add_argument("folder", nargs="?", default="demo/videos")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "train", help="train or fine-tune a detector from annotated videos -> checkpoint + card"
    )
    p.add_argument("--videos", nargs="+", help="videos (default: the config's inputs with annotations)")
    p.add_argument(
        "--annotations", nargs="+", help="one annotation file per video (Parquet, COCO, CVAT, MOT)"
    )
    _model_output_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("adapt", help="self-train CenterFace on the archive's own videos -> checkpoint + card")
    p.add_argument("videos", nargs="*", help="videos (default: the config's inputs)")
    p.add_argument("--ids", nargs="+", help="one id per video (default: file stems)")
    p.add_argument("--probes", nargs="+", help="probe JSONs, one per video (default: probed here)")
    p.add_argument("--detect-params", help="JSON of the detect section (width, threshold, runtime)")
    p.add_argument("--regularize-params", help="JSON of the regularize section (how tracks are linked)")
    p.add_argument("--threads", type=int, help="CPU threads when detect.threads is not set")
    _model_output_options(p)
    p.set_defaults(func=cmd_adapt)

    p = sub.add_parser("schema", help="export the config JSON schema")
    p.add_argument("output", nargs="?", default="workflow/schemas/config.schema.json")
    p.set_defaults(func=cmd_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "run" and not any(e.startswith("-") for e in extra):
        args.paths += extra  # `faceoff run a.mp4 -o out b.mp4`: paths after an option
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    limit_heap_growth()  # flat memory over long videos (see faceoff/memory.py)
    try:
        rc = args.func(args)
    except FaceOffError as err:
        print(f"faceoff {args.command}: error: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - last resort: name the input, keep the traceback
        traceback.print_exc()
        target = getattr(args, "video", None) or getattr(args, "detections", None) or ""
        print(
            f"faceoff {args.command}: error: {target}: unexpected {type(err).__name__}: {err}",
            file=sys.stderr,
        )
        return 1
    return rc or 0


if __name__ == "__main__":
    sys.exit(main())
