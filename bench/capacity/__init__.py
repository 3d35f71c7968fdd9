"""``chatbench capacity``: step figures, knee, highest load within the SLOs, replicas for a target.

``plan`` computes from the records of each step (``StepResult``, ``find_knee``, ``max_load_within_slo``,
``plan_replicas``); ``sweep`` is the load driver that runs the steps one after another (``run_sweep``)
and re-analyses a finished sweep (``reanalyze``). The writers are in ``bench.report.capacity_report``.
Imports only the standard library here.
"""
