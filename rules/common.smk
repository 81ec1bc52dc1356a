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
from faceoff.layout import SHARD_PATTERN, is_sharded, pattern, shard
from faceoff.samples import workflow_samples

try:
    CFG = validate_config(config)
    SAMPLES = workflow_samples(CFG, write_mapping=True)
except FaceOffError as err:
    raise WorkflowError(f"FaceOff configuration: {err}") from None

if CFG.annotations and not Path(CFG.annotations).is_dir():
    logger.warning(f"FaceOff: annotations folder {CFG.annotations!r} does not exist: no recall is computed")

RESULTS = CFG.results.rstrip("/")
# What names the videos, for the jobs that take all of them (train, adapt): they resolve the list
# themselves (faceoff.samples.workflow_samples), as a command line cannot hold an archive's paths.
VIDEOS_CONFIG = json.dumps(
    {
        k: v
        for k, v in CFG.model_dump(mode="json").items()
        if k in ("inputs", "samples", "extensions", "results", "layout", "annotations", "pseudonymize")
    },
    sort_keys=True,
)
# flat: results/<folder>/{id}.<ext>; sharded: results/<folder>/{shard}/{id}.<ext> (faceoff/layout.py)
SHARDED = is_sharded(CFG.layout, len(SAMPLES))
# With pseudonyms, the probe (and so reports and the summary) does not record the input path.
PROBE_OPTIONS = "--redact-path" if CFG.pseudonymize.enabled else ""
# ... nor do the model cards (train, adapt) or the summary (no failure causes: log lines name inputs).
REDACT_PATHS = "--redact-paths" if CFG.pseudonymize.enabled else ""
envvars:
    "PATH",


# Jobs run the `faceoff` command of the environment Snakemake itself runs in (venv need not be active).
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
HASHES = CFG.stage_hashes()
# A trained/adapted detector's weights: detect and render (its frame check) depend on them (built by `train`/`adapt` if missing).
DETECT_CHECKPOINT = [CFG.detect.checkpoint] if CFG.detect.checkpoint else []


wildcard_constraints:
    id="[^/]+",
    shard=SHARD_PATTERN,


def path_of(folder, suffix):
    """The pattern of one video's file in `folder` under the results layout (wildcards id, shard)."""
    return pattern(RESULTS, folder, suffix, SHARDED)


def stage_params(name):
    """JSON of a stage's validated config section (the rules pass it to `faceoff`)."""
    return json.dumps(getattr(CFG, name).model_dump(mode="json"), sort_keys=True)
def get_video(wildcards):
    return SAMPLES[wildcards.id]


ANNOTATION_SUFFIXES = (".parquet", ".json", ".xml", ".txt", ".csv")


def _find_annotations():
    """{id: ground-truth file} from one listing of the annotations folder (first suffix found wins)."""
    if not CFG.annotations or not Path(CFG.annotations).is_dir():
        return {}
    found = {}
    for entry in os.scandir(CFG.annotations):
        stem, suffix = os.path.splitext(entry.name)
        if stem in SAMPLES and suffix in ANNOTATION_SUFFIXES and entry.is_file():
            found.setdefault(stem, []).append(suffix)
    return {
        i: os.path.join(CFG.annotations, i + min(found[i], key=ANNOTATION_SUFFIXES.index)) for i in found
    }


ANNOTATIONS = _find_annotations()
def get_annotations(wildcards):
    """The video's ground truth when the annotations folder has one (Parquet, COCO, CVAT or MOT)."""
    path = ANNOTATIONS.get(wildcards.id)
    return [path] if path else []
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
def summary_folder(wildcards, output):
    """The results folder: `faceoff summary` reads every report in it."""
    return os.path.dirname(output.html)


def per_video(folder, suffix):
    """Every video's file in `folder` (all inputs of the summary and of `adapt`)."""
    return [path_of(folder, suffix).format(shard=shard(i), id=i) for i in SAMPLES]


def all_outputs():
    """The summary; through the reports it needs every video's delivered video (`--batch summary=1/N`)."""
    return [f"{RESULTS}/summary.html", f"{RESULTS}/summary.csv"]


include: "resources.smk"
