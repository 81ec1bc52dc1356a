rule probe:
    input:
        get_video,
    output:
        f"{RESULTS}/probe/{{id}}.json",
    log:
        f"{RESULTS}/logs/probe/{{id}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/probe/{{id}}.tsv"
    resources:
        mem_mb=mem_mb_of("probe"),
        runtime=runtime_of("probe"),
    conda:
        "../environment.yml"
    params:
        options=PROBE_OPTIONS,
    shell:
        "faceoff probe {input:q} -o {output:q} {params.options} > {log:q} 2>&1"
