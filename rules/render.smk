rule render:
    input:
        video=get_video,
        probe=path_of("probe", ".json"),
        tracks=path_of("tracks", ".parquet"),
        corrections=get_corrections,
        checkpoint=DETECT_CHECKPOINT,  # the audit's detector checks each rendered frame
    output:
        # temp: the audit delivers a copy to anonymized/ and Snakemake then removes this one
        video=temp(path_of("render", ".mp4")),
        stats=path_of("render", ".json"),
        # what is hidden: the tracks with the reviewer's corrections applied (a copy without any)
        corrected=path_of("tracks_corrected", ".parquet"),
    params:
        section=stage_params("render"),
        corrections=corrections_option,
        audit=stage_params("audit"),
        detect=stage_params("detect"),
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
        gpu=GPU_JOBS,
        shell_exec=gpu_slot_shell,
    conda:
        "../environment.yml"
    shell:
        "faceoff render {input.video:q} --probe {input.probe:q} --tracks {input.tracks:q}"
        " -o {output.video:q} --stats {output.stats:q} --log {log.ffmpeg:q}"
        " --corrected {output.corrected:q} {params.corrections}"
        " --audit-params {params.audit:q} --detect-params {params.detect:q} --threads {threads}"
        " --params {params.section:q} > {log.main:q} 2>&1"
