"""Chaos: lifecycles from several clients while services and NATS are killed, then the count.

``make chaos`` (``python -m bench.chaos``) and the suite's short version
(``tests/e2e/test_chaos.py``) run :func:`~bench.chaos.run.run_chaos`.

- :mod:`~bench.chaos.platform`: the platform as ``make run`` starts and supervises it.
- :mod:`~bench.chaos.client`: a client that retries the way a real one does, safely.
- :mod:`~bench.chaos.faults`: SIGKILLs of services and NATS at random moments, bounded.
- :mod:`~bench.chaos.figures`: accepted, completed, lost, doubled, stuck, orphans; the check.
"""

from .faults import FaultPlan
from .figures import Figures, report
from .run import ChaosPlan, run_chaos

__all__ = ["ChaosPlan", "FaultPlan", "Figures", "report", "run_chaos"]
