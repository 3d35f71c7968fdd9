"""chatbench: load and latency benchmarking for LLM chat servers.

The data flows one way, and the sub-packages show it:

    scenario file -> bench.scenario (request bodies) -> bench.load (Locust users, streaming client)
                  -> bench.records (one record per request, on disk)
                  -> bench.analysis (pandas metrics) -> bench.report (tables, plots, HTML/Markdown/JSON)

``bench.mock`` is the embedded mock LLM server (the default target and the ground truth of the tests);
``bench.gates`` turns a finished run into CI verdicts (SLOs, JUnit, exit codes), ``bench.compare`` compares two
runs, ``bench.capacity`` sweeps load levels and plans capacity; ``bench.instrument`` checks chatbench's own
timing against the mock's ground truth (``chatbench calibrate``).
"""

__version__ = "0.1.0"
