# What each job asks a scheduler for (used only by the rules' `resources:`): memory (`mem_mb`) and
# `runtime` (minutes) as functions of the probed video and the retry attempt (faceoff/resources.py), a
# GPU for the stages that run the detector, and on a local multi-GPU run the GPU-slot shell that gives
# each GPU job its own device (faceoff/gpu_slots.py). docs/hpc.md explains how to run on SLURM.
import faceoff.resources as faceoff_resources

GPU_STAGES = ("detect", "render")
# detect and render (which re-detects on each rendered frame) ask for one GPU unless the detector runs on the CPU.
GPU_JOBS = 0 if CFG.detect.device == "cpu" else 1


def _probe_json(wildcards):
    return path_of("probe", ".json").format(shard=shard(wildcards.id), id=wildcards.id)


def _request(stage, wildcards, threads, attempt):
    if stage == "summary":
        return faceoff_resources.estimate("summary", None, attempt=attempt, n_videos=len(SAMPLES))
    probe = None if stage == "probe" else _probe_json(wildcards)
    facts = faceoff_resources.video_facts(probe, SAMPLES.get(wildcards.id))
    return faceoff_resources.estimate(
        stage,
        facts,
        threads=threads,
        gpu=bool(GPU_JOBS) and stage in GPU_STAGES,
        attempt=attempt,
        detect_width=CFG.detect.width,
        audit_width=CFG.audit.width,
        detect_batch=CFG.detect.batch_size,
        render_batch=CFG.render.batch_size,
        audit_batch=CFG.audit.batch_size,
        follow_frames=CFG.regularize.follow_frames,
    )


def mem_mb_of(stage):
    def mem_mb(wildcards, threads, attempt):
        return _request(stage, wildcards, threads, attempt).mem_mb

    return mem_mb


def runtime_of(stage):
    def runtime(wildcards, threads, attempt):
        return _request(stage, wildcards, threads, attempt).runtime

    return runtime
def gpu_slot_shell(wildcards):
    """On a local run given `--resources gpu=N`, GPU jobs run through scripts/gpu-slot-shell.

    Not on a cluster (remote jobs, or groups as the SLURM profile sets): the scheduler assigns GPUs."""
    limit = workflow.global_resources.get("gpu").value
    grouped = getattr(workflow.group_settings, "overwrite_groups", None)
    local = workflow.local_exec and not workflow.remote_exec and not grouped
    if GPU_JOBS and isinstance(limit, int) and limit > 0 and local:
        return faceoff_resources.shell_for_gpu_jobs(workflow.basedir)
    return None
