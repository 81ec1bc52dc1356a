rule render:
    input:
        video=get_video,
        probe=path_of("probe", ".json"),
        tracks=path_of("tracks", ".parquet"),
    output:
        # temp: the audit delivers a copy to anonymized/ and Snakemake then removes this one
        video=temp(path_of("render", ".mp4")),
        stats=path_of("render", ".json"),
    params:
        section=stage_params("render"),
        hash=HASHES["render"],
    log:
        main=path_of("logs/render", ".log"),
        ffmpeg=path_of("logs/render", ".ffmpeg.log"),
    benchmark:
        path_of("benchmarks/render", ".tsv")
    threads: workflow.cores
    resources:
        mem_mb=mem_mb_of("render"),
        runtime=runtime_of("render"),
    conda:
        "../environment.yml"
    shell:
        "faceoff render {input.video:q} --probe {input.probe:q} --tracks {input.tracks:q}"
        " -o {output.video:q} --stats {output.stats:q} --log {log.ffmpeg:q}"
        " --params {params.section:q} > {log.main:q} 2>&1"
