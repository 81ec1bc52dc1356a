rule regularize:
    input:
        video=get_video,
        detections=path_of("detections", ".parquet"),
        probe=path_of("probe", ".json"),
    output:
        path_of("tracks", ".parquet"),
    params:
        section=stage_params("regularize"),
        hash=HASHES["regularize"],
    log:
        path_of("logs/regularize", ".log"),
    benchmark:
        path_of("benchmarks/regularize", ".tsv")
    resources:
        mem_mb=mem_mb_of("regularize"),
        runtime=runtime_of("regularize"),
    conda:
        "../environment.yml"
    shell:
        "faceoff regularize {input.detections:q} --probe {input.probe:q} --video {input.video:q} -o {output:q}"
        " --params {params.section:q} > {log:q} 2>&1"
