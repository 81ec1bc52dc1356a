# Shared setup: validate the config, resolve the input videos, and the input functions of the rules.
import json
import os
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from faceoff.config import validate_config
from faceoff.corrections import corrections_index
from faceoff.errors import FaceOffError
from faceoff.samples import pseudonymize_samples, resolve_samples

try:
    CFG = validate_config(config)
    SAMPLES = resolve_samples(CFG)
    if CFG.pseudonymize.enabled:
        SAMPLES = pseudonymize_samples(SAMPLES, CFG.pseudonymize.key_file, CFG.pseudonymize.mapping)
except FaceOffError as err:
    raise WorkflowError(f"FaceOff configuration: {err}") from None

if CFG.annotations and not Path(CFG.annotations).is_dir():
    logger.warning(f"FaceOff: annotations folder {CFG.annotations!r} does not exist: no recall is computed")

RESULTS = CFG.results.rstrip("/")
# With pseudonyms, the probe (and so reports and the summary) does not record the input path.
PROBE_OPTIONS = "--redact-path" if CFG.pseudonymize.enabled else ""
envvars:
    "PATH",


# Jobs run the `faceoff` command of the environment Snakemake itself runs in (venv need not be active).
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
HASHES = CFG.stage_hashes()
# A trained/adapted detector's weights: detect and audit depend on them (built by `train`/`adapt` if missing).
DETECT_CHECKPOINT = [CFG.detect.checkpoint] if CFG.detect.checkpoint else []


wildcard_constraints:
    id="[^/]+",


def stage_params(name):
    """JSON of a stage's validated config section (the rules pass it to `faceoff`)."""
    return json.dumps(getattr(CFG, name).model_dump(mode="json"), sort_keys=True)


def get_video(wildcards):
    return SAMPLES[wildcards.id]


ANNOTATION_SUFFIXES = (".parquet", ".json", ".xml", ".txt", ".csv")


def get_annotations(wildcards):
    """The video's ground truth when the annotations folder has one (Parquet, COCO, CVAT or MOT)."""
    if CFG.annotations:
        for suffix in ANNOTATION_SUFFIXES:
            path = Path(CFG.annotations) / f"{wildcards.id}{suffix}"
            if path.is_file():
                return [str(path)]
    return []


def annotation_option(wildcards, input):
    return f"--annotations {shlex.quote(input.annotations[0])}" if input.annotations else ""


# A reviewer's corrections (README "Review and correct"), listed once at load: an input of render only for
# the videos that have one, so adding or changing one reruns that video's render, audit and report only.
try:
    CORRECTIONS = corrections_index(CFG.corrections, list(SAMPLES))
except FaceOffError as err:
    raise WorkflowError(f"FaceOff configuration: {err}") from None


def get_corrections(wildcards):
    return [CORRECTIONS[wildcards.id]] if wildcards.id in CORRECTIONS else []


def corrections_option(wildcards, input):
    return f"--corrections {shlex.quote(input.corrections[0])}" if input.corrections else ""


def per_video(pattern):
    return expand(pattern, id=list(SAMPLES))


def all_outputs():
    return [
        *per_video(f"{RESULTS}/anonymized/{{id}}.mp4"),
        *per_video(f"{RESULTS}/reports/{{id}}.json"),
        f"{RESULTS}/summary.html",
        f"{RESULTS}/summary.csv",
    ]


include: "resources.smk"
