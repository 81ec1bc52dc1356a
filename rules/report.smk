rule report:
    input:
        probe=path_of("probe", ".json"),
        detections=path_of("detections", ".parquet"),
        tracks=path_of("tracks_corrected", ".parquet"),
        render=path_of("render", ".json"),
        audit=path_of("audit", ".json"),
        sheet=path_of("qa", ".png"),
        delivered=path_of("anonymized", ".mp4"),
        annotations=get_annotations,
    output:
        report=report(
            path_of("reports", ".json"),
            caption="../workflow/report/report.rst",
            category="Per-video reports",
            labels={"video": "{id}"},
        ),
        page=path_of("reports", ".html"),
        # written here, not by a job of its own: no extra job per video in a large archive
        review=report(
            path_of("review", ".html"),
            caption="../workflow/report/review.rst",
            category="Review pages",
            labels={"video": "{id}"},
        ),
    params:
        section=stage_params("report"),
        render=stage_params("render"),
        hashes=json.dumps(HASHES, sort_keys=True),
        annotations=annotation_option,
        index=f"{RESULTS}/summary.html",
    log:
        path_of("logs/report", ".log"),
    benchmark:
        path_of("benchmarks/report", ".tsv")
    resources:
        mem_mb=mem_mb_of("report"),
        runtime=runtime_of("report"),
    conda:
        "../environment.yml"
    shell:
        "faceoff report {wildcards.id:q} --probe {input.probe:q} --detections {input.detections:q}"
        " --tracks {input.tracks:q} --render-stats {input.render:q} {params.annotations}"
        " --audit {input.audit:q} --sheet {input.sheet:q} --delivered {input.delivered:q}"
        " --render-params {params.render:q} --hashes {params.hashes:q} --params {params.section:q}"
        " -o {output.report:q} --page {output.page:q} --index {params.index:q}"
        " --review {output.review:q} > {log:q} 2>&1"


rule summary:
    input:
        # the summary reads every report under results/reports (a list of 10^5 paths does not fit a command line)
        reports=per_video("reports", ".json"),
    output:
        html=report(
            f"{RESULTS}/summary.html",
            caption="../workflow/report/summary.rst",
            category="Summary",
        ),
        csv=f"{RESULTS}/summary.csv",
    params:
        results=summary_folder,
        redact=REDACT_PATHS,
    log:
        f"{RESULTS}/logs/summary.log",
    benchmark:
        f"{RESULTS}/benchmarks/summary.tsv"
    resources:
        mem_mb=mem_mb_of("summary"),
        runtime=runtime_of("summary"),
    conda:
        "../environment.yml"
    shell:
        "faceoff summary {params.results:q} {params.redact} --html {output.html:q} --csv {output.csv:q}"
        " > {log:q} 2>&1"
