rule audit:
    input:
        video=path_of("render", ".mp4"),
        probe=path_of("probe", ".json"),
        tracks=path_of("tracks", ".parquet"),
        checkpoint=DETECT_CHECKPOINT,
    output:
        audit=path_of("audit", ".json"),
        sheet=path_of("qa", ".png"),
        delivered=path_of("anonymized", ".mp4"),
    params:
        section=stage_params("audit"),
        render=stage_params("render"),
        detect=stage_params("detect"),
        hash=HASHES["audit"],
    log:
        path_of("logs/audit", ".log"),
    benchmark:
        path_of("benchmarks/audit", ".tsv")
    threads: workflow.cores
    resources:
        mem_mb=mem_mb_of("audit"),
        runtime=runtime_of("audit"),
        gpu=GPU_JOBS,
        shell_exec=gpu_slot_shell,
    conda:
        "../environment.yml"
    shell:
        "faceoff audit {input.video:q} --probe {input.probe:q} --tracks {input.tracks:q}"
        " -o {output.audit:q} --sheet {output.sheet:q} --deliver {output.delivered:q}"
        " --render-params {params.render:q} --detect-params {params.detect:q} --threads {threads}"
        " --params {params.section:q} > {log:q} 2>&1"
