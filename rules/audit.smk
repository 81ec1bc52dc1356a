rule audit:
    input:
        video=path_of("render", ".mp4"),
        probe=path_of("probe", ".json"),
        tracks=path_of("tracks_corrected", ".parquet"),
        detections=path_of("detections", ".parquet"),
        stats=path_of("render", ".json"),
    output:
        audit=path_of("audit", ".json"),
        sheet=report(
            path_of("qa", ".png"),
            caption="../workflow/report/qa.rst",
            category="QA contact sheets",
            labels={"video": "{id}"},
        ),
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
    resources:
        mem_mb=mem_mb_of("audit"),
        runtime=runtime_of("audit"),
    conda:
        "../environment.yml"
    shell:
        "faceoff audit {input.video:q} --probe {input.probe:q} --tracks {input.tracks:q}"
        " -o {output.audit:q} --sheet {output.sheet:q} --deliver {output.delivered:q}"
        " --detections {input.detections:q} --render-stats {input.stats:q}"
        " --render-params {params.render:q} --detect-params {params.detect:q}"
        " --params {params.section:q} > {log:q} 2>&1"
