"""The SLO gate: verdicts, JUnit, exit codes, computed from the raw records of a results directory.

Never from Locust's own statistics: in distributed mode the verdict comes from the merged records of
every worker, with the one percentile definition of ``bench.stats``.

Modules: ``overrides`` (``--slo``/``--no-slo``, standard library only), ``slo`` (verdicts), ``junit`` and
``summary`` (JUnit XML, Markdown), ``gate`` (``gate_run``, called at the end of ``chatbench run``),
``data`` (the values every gate reads, through ``bench.analysis``; ``bench.compare`` and
``bench.capacity`` read them from here too).

This package's ``__init__`` imports only the standard library (the CLI reads the exit codes from it):

    EXIT_PASS = 0          every SLO met (or no SLO to check)
    EXIT_NOT_RUN = 2       the run could not be made or judged (usage, scenario, target or results error)
    EXIT_SLO_BREACH = 3    at least one SLO breached / compare found a significant regression
    EXIT_INCONCLUSIVE = 4  compare could not judge (a run's timing may be inflated, or no metric judged)
"""

from __future__ import annotations

from bench.gates.exit_codes import EXIT_INCONCLUSIVE, EXIT_NOT_RUN, EXIT_PASS, EXIT_SLO_BREACH

__all__ = ["EXIT_INCONCLUSIVE", "EXIT_NOT_RUN", "EXIT_PASS", "EXIT_SLO_BREACH"]
