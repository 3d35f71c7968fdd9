"""Process exit codes of ``chatbench run``, ``compare`` and ``capacity`` (standard library only).

CI systems read only the exit code, so each outcome has its own:

- ``EXIT_PASS`` (0): the run finished and every SLO was met (or none was set);
- ``EXIT_NOT_RUN`` (2): the run could not be made or judged: a wrong flag, a broken scenario, an
  unreachable target, a missing results directory (the code every ``ChatbenchError`` exits with);
- ``EXIT_SLO_BREACH`` (3): the run finished but at least one SLO was breached, or ``compare`` found a
  significant regression beyond the tolerance;
- ``EXIT_INCONCLUSIVE`` (4): ``compare`` could not judge: a run's timing may be inflated by the load
  generator itself, or none of the requested metrics had enough values. Neither a pass nor a
  regression: rerun with more load-generator headroom (``--processes``) or a longer run.

Code 1 is left to Python itself (an uncaught exception: a bug in chatbench).
"""

from __future__ import annotations

from bench.errors import ChatbenchError

__all__ = ["EXIT_INCONCLUSIVE", "EXIT_NOT_RUN", "EXIT_PASS", "EXIT_SLO_BREACH"]

EXIT_PASS = 0
EXIT_NOT_RUN = ChatbenchError.exit_code  # 2
EXIT_SLO_BREACH = 3
EXIT_INCONCLUSIVE = 4
