rule probe:
    input:
        get_video,
    output:
        f"{RESULTS}/probe/{{id}}.json",
    log:
        f"{RESULTS}/logs/probe/{{id}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/probe/{{id}}.tsv"
    conda:
        "../environment.yml"
    shell:
        "faceoff probe {input:q} -o {output:q} > {log:q} 2>&1"
