# FaceOff: de-identify operating-room video.
#   snakemake --cores all                      # default config: the built-in demo
#   snakemake --cores all --configfile my.yaml # your videos (set `inputs` and `results`)
import os

from snakemake.utils import min_version

min_version("9.0")


# The default config sits beside this Snakefile, so `--directory` and `-s` work from anywhere.
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


include: "rules/common.smk"
include: "rules/probe.smk"
include: "rules/detect.smk"
include: "rules/regularize.smk"
include: "rules/render.smk"
include: "rules/audit.smk"
include: "rules/report.smk"
include: "rules/train.smk"


rule all:
    input:
        all_outputs(),
    default_target: True
