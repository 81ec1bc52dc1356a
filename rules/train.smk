# Opt-in targets, not part of `all` (docs/training.md):
#   snakemake --cores all train   train `train.detector` on the input videos that have annotations
#                                 -> results/models/train/<detector>.pt, .json (model card), .onnx (centerface)
#   snakemake --cores all adapt   self-train CenterFace on all input videos (no annotations needed)
#                                 -> results/models/adapt/centerface.pt, .json, .onnx
# Then detect with the result: set `detect.checkpoint` to the .pt (and `detect.detector: fasterrcnn` for
# a trained Faster R-CNN) and run the workflow as usual.

# The input videos with an annotation file (Parquet, COCO, CVAT or MOT) and those files.
TRAIN_DATA = {i: ANNOTATIONS[i] for i in SAMPLES if i in ANNOTATIONS}
TRAIN_PREFIX = f"{RESULTS}/models/train/{CFG.train.detector}"
# CenterFace checkpoints carry their ONNX graph beside them (the centerface detector runs it)
TRAIN_ONNX = {"onnx": f"{TRAIN_PREFIX}.onnx"} if CFG.train.detector == "centerface" else {}
# adapt takes detection settings from `detect`, but not the detector or its checkpoint (which may well be
# adapt's own output): pointing detect.checkpoint at the adapted model must not re-run adaptation.
ADAPT_DETECT = json.dumps(
    {k: v for k, v in CFG.detect.model_dump(mode="json").items() if k not in ("detector", "checkpoint")},
    sort_keys=True,
)


rule train:
    input:
        videos=[SAMPLES[i] for i in TRAIN_DATA],
        annotations=list(TRAIN_DATA.values()),
    output:
        model=f"{TRAIN_PREFIX}.pt",
        card=f"{TRAIN_PREFIX}.json",
        **TRAIN_ONNX,
    params:
        section=stage_params("train"),
        videos=VIDEOS_CONFIG,
        hash=CFG.train.params_hash(),
        redact=REDACT_PATHS,
    log:
        f"{RESULTS}/logs/train/{CFG.train.detector}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{CFG.train.detector}.tsv"
    threads: workflow.cores
    resources:
        gpu=0 if CFG.train.device == "cpu" else 1,
    conda:
        "../environment.yml"
    shell:
        "faceoff train --workflow-config {params.videos:q}"
        " --params {params.section:q} {params.redact} -o {output.model:q} > {log:q} 2>&1"


rule adapt:
    input:
        videos=list(SAMPLES.values()),
        probes=per_video("probe", ".json"),
    output:
        model=f"{RESULTS}/models/adapt/centerface.pt",
        card=f"{RESULTS}/models/adapt/centerface.json",
        onnx=f"{RESULTS}/models/adapt/centerface.onnx",
    params:
        section=stage_params("adapt"),
        detect=ADAPT_DETECT,
        regularize=stage_params("regularize"),
        videos=VIDEOS_CONFIG,
        hash=CFG.adapt.params_hash(),
        redact=REDACT_PATHS,
    log:
        f"{RESULTS}/logs/adapt/centerface.log",
    benchmark:
        f"{RESULTS}/benchmarks/adapt/centerface.tsv"
    threads: workflow.cores
    resources:
        gpu=0 if CFG.adapt.device == "cpu" else 1,
    conda:
        "../environment.yml"
    shell:
        "faceoff adapt --workflow-config {params.videos:q}"
        " --params {params.section:q} --detect-params {params.detect:q}"
        " --regularize-params {params.regularize:q} --threads {threads} {params.redact}"
        " -o {output.model:q} > {log:q} 2>&1"
