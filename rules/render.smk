rule render:
    input:
        video=get_video,
        probe=f"{RESULTS}/probe/{{id}}.json",
        tracks=f"{RESULTS}/tracks/{{id}}.parquet",
        corrections=get_corrections,
    output:
        # temp: the audit delivers a copy to anonymized/ and Snakemake then removes this one
        video=temp(f"{RESULTS}/render/{{id}}.mp4"),
        stats=f"{RESULTS}/render/{{id}}.json",
        # what is hidden: the tracks with the reviewer's corrections applied (a copy without any)
        corrected=f"{RESULTS}/tracks_corrected/{{id}}.parquet",
    params:
        section=stage_params("render"),
        corrections=corrections_option,
        hash=HASHES["render"],
    log:
        main=f"{RESULTS}/logs/render/{{id}}.log",
        ffmpeg=f"{RESULTS}/logs/render/{{id}}.ffmpeg.log",
    benchmark:
        f"{RESULTS}/benchmarks/render/{{id}}.tsv"
    threads: workflow.cores
    resources:
        mem_mb=mem_mb_of("render"),
        runtime=runtime_of("render"),
    conda:
        "../environment.yml"
    shell:
        "faceoff render {input.video:q} --probe {input.probe:q} --tracks {input.tracks:q}"
        " -o {output.video:q} --stats {output.stats:q} --log {log.ffmpeg:q}"
        " --corrected {output.corrected:q} {params.corrections}"
        " --params {params.section:q} > {log.main:q} 2>&1"
