rule audit:
    input:
        video=f"{RESULTS}/render/{{id}}.mp4",
        probe=f"{RESULTS}/probe/{{id}}.json",
        tracks=f"{RESULTS}/tracks_corrected/{{id}}.parquet",
        checkpoint=DETECT_CHECKPOINT,
    output:
        audit=f"{RESULTS}/audit/{{id}}.json",
        sheet=report(
            f"{RESULTS}/qa/{{id}}.png",
            caption="../workflow/report/qa.rst",
            category="QA contact sheets",
            labels={"video": "{id}"},
        ),
        delivered=f"{RESULTS}/anonymized/{{id}}.mp4",
    params:
        section=stage_params("audit"),
        render=stage_params("render"),
        detect=stage_params("detect"),
        hash=HASHES["audit"],
    log:
        f"{RESULTS}/logs/audit/{{id}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/audit/{{id}}.tsv"
    threads: workflow.cores
    resources:
        mem_mb=mem_mb_of("audit"),
        runtime=runtime_of("audit"),
        gpu=GPU_JOBS,
        shell_exec=gpu_slot_shell,
    conda:
        "../environment.yml"
    shell:
        "faceoff audit {input.video:q} --probe {input.probe:q} --tracks {input.tracks:q}"
        " -o {output.audit:q} --sheet {output.sheet:q} --deliver {output.delivered:q}"
        " --render-params {params.render:q} --detect-params {params.detect:q} --threads {threads}"
        " --params {params.section:q} > {log:q} 2>&1"
