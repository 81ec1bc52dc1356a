rule report:
    input:
        probe=f"{RESULTS}/probe/{{id}}.json",
        detections=f"{RESULTS}/detections/{{id}}.parquet",
        tracks=f"{RESULTS}/tracks_corrected/{{id}}.parquet",
        render=f"{RESULTS}/render/{{id}}.json",
        audit=f"{RESULTS}/audit/{{id}}.json",
        sheet=f"{RESULTS}/qa/{{id}}.png",
        delivered=f"{RESULTS}/anonymized/{{id}}.mp4",
        annotations=get_annotations,
    output:
        report=report(
            f"{RESULTS}/reports/{{id}}.json",
            caption="../workflow/report/report.rst",
            category="Per-video reports",
            labels={"video": "{id}"},
        ),
        # written here, not by a job of its own: no extra job per video in a large archive
        review=report(
            f"{RESULTS}/review/{{id}}.html",
            caption="../workflow/report/review.rst",
            category="Review pages",
            labels={"video": "{id}"},
        ),
    params:
        section=stage_params("report"),
        render=stage_params("render"),
        hashes=json.dumps(HASHES, sort_keys=True),
        annotations=annotation_option,
    log:
        f"{RESULTS}/logs/report/{{id}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/report/{{id}}.tsv"
    resources:
        mem_mb=mem_mb_of("report"),
        runtime=runtime_of("report"),
    conda:
        "../environment.yml"
    shell:
        "faceoff report {wildcards.id:q} --probe {input.probe:q} --detections {input.detections:q}"
        " --tracks {input.tracks:q} --render-stats {input.render:q} {params.annotations}"
        " --audit {input.audit:q} --sheet {input.sheet:q} --render-params {params.render:q}"
        " --hashes {params.hashes:q} --params {params.section:q} -o {output.report:q}"
        " --review {output.review:q} --video {input.delivered:q} > {log:q} 2>&1"


rule summary:
    input:
        reports=per_video(f"{RESULTS}/reports/{{id}}.json"),
        detections=per_video(f"{RESULTS}/detections/{{id}}.parquet"),
        tracks=per_video(f"{RESULTS}/tracks/{{id}}.parquet"),
    output:
        html=report(
            f"{RESULTS}/summary.html",
            caption="../workflow/report/summary.rst",
            category="Summary",
        ),
        csv=f"{RESULTS}/summary.csv",
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
        "faceoff summary --reports {input.reports:q} --detections {input.detections:q}"
        " --tracks {input.tracks:q} --html {output.html:q} --csv {output.csv:q} > {log:q} 2>&1"
