rule regularize:
    input:
        video=get_video,
        detections=f"{RESULTS}/detections/{{id}}.parquet",
        probe=f"{RESULTS}/probe/{{id}}.json",
    output:
        f"{RESULTS}/tracks/{{id}}.parquet",
    params:
        section=stage_params("regularize"),
        hash=HASHES["regularize"],
    log:
        f"{RESULTS}/logs/regularize/{{id}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/regularize/{{id}}.tsv"
    resources:
        mem_mb=mem_mb_of("regularize"),
        runtime=runtime_of("regularize"),
    conda:
        "../environment.yml"
    shell:
        "faceoff regularize {input.detections:q} --probe {input.probe:q} --video {input.video:q} -o {output:q}"
        " --params {params.section:q} > {log:q} 2>&1"
