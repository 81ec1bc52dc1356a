"""The per-video stages, one module per Snakemake rule (``rules/<stage>.smk``), each with the entry
function that the rule's ``faceoff <stage>`` command and the CLI call:

====================  =========================================  ===================================
module                entry                                      writes
====================  =========================================  ===================================
``stages.probe``      :func:`~faceoff.stages.probe.run_probe`    ``probe/{id}.json``
``stages.detect``     :func:`~faceoff.stages.detect.run_detect`  ``detections/{id}.parquet``
``stages.regularize`` ``run_regularize``                         ``tracks/{id}.parquet``
``stages.render``     ``run_render``                             ``render/{id}.mp4`` and ``.json``
``stages.audit``      ``run_audit``                              ``audit/``, ``qa/``, ``anonymized/``
``stages.report``     ``run_report``                             ``reports/{id}.json``
``stages.summary``    ``run_summary``                            ``summary.html``, ``summary.csv``
====================  =========================================  ===================================

The helpers they use live in their own modules (decode, encode, tracking, follow, zoom, detectors,
anonymize, audit, delivery, boxes, ...). Importing this package imports no stage (and so no torch).
"""
