"""``chatbench compare``: is a candidate run slower than a baseline, beyond noise?

``runs`` holds the per-run samples (``load_sample``), the bootstrap statistics and the verdict per
metric (``compare_samples``, ``compare_runs``); the writers are in ``bench.report.compare_report``.
The values come from the same place the SLO gate reads them (``bench.gates.data``). Imports only the
standard library here.
"""
