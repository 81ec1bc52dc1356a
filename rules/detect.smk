rule detect:
    input:
        video=get_video,
        # ancient: a probe rerun for a changed `shots` section (the cuts) does not redo detection, which
        # reads only the frame index; a changed video still reruns detect (the video is an input too)
        probe=ancient(path_of("probe", ".json")),
        checkpoint=DETECT_CHECKPOINT,
    output:
        path_of("detections", ".parquet"),
    params:
        section=stage_params("detect"),
        hash=HASHES["detect"],
    log:
        path_of("logs/detect", ".log"),
    benchmark:
        path_of("benchmarks/detect", ".tsv")
    threads: workflow.cores
    resources:
        mem_mb=mem_mb_of("detect"),
        runtime=runtime_of("detect"),
        gpu=GPU_JOBS,
        shell_exec=gpu_slot_shell,
    conda:
        "../environment.yml"
    shell:
        "faceoff detect {input.video:q} --probe {input.probe:q} -o {output:q}"
        " --threads {threads} --params {params.section:q} > {log:q} 2>&1"
