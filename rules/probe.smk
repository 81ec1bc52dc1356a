rule probe:
    input:
        get_video,
    output:
        path_of("probe", ".json"),
    log:
        path_of("logs/probe", ".log"),
    benchmark:
        path_of("benchmarks/probe", ".tsv")
    resources:
        mem_mb=mem_mb_of("probe"),
        runtime=runtime_of("probe"),
    conda:
        "../environment.yml"
    params:
        options=PROBE_OPTIONS,
        section=stage_params("shots"),
        hash=HASHES["shots"],
    shell:
        "faceoff probe {input:q} -o {output:q} {params.options} --params {params.section:q} > {log:q} 2>&1"
