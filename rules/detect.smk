rule detect:
    input:
        video=get_video,
        probe=f"{RESULTS}/probe/{{id}}.json",
        checkpoint=DETECT_CHECKPOINT,
    output:
        f"{RESULTS}/detections/{{id}}.parquet",
    params:
        section=stage_params("detect"),
        hash=HASHES["detect"],
    log:
        f"{RESULTS}/logs/detect/{{id}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/detect/{{id}}.tsv"
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
