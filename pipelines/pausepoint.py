"""Crash tests only: make a sync stop at a named point so a test can kill it there.

``FOOTFALL_TEST_PAUSE_AT=<phase>[:<n>]`` makes the ``n``-th (default first) pass through
``pause_point(<phase>)`` print ``footfall: paused at <phase>`` on stderr and sleep (up to 10
minutes), so ``tests/pipelines/test_reliability_crash.py`` and ``bench/kill_trials.py`` can send SIGKILL at
a known moment. Unset (always, outside those tests) it costs one dictionary look-up. Phases:

- ``land``: inside a batch's landing transaction, every row inserted, before COMMIT;
- ``before_build``: every batch landed and committed, the model build not started;
- ``build``: inside the model build's transaction, every model run, before COMMIT.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter

ENV = "FOOTFALL_TEST_PAUSE_AT"
_passes: Counter = Counter()


def pause_point(phase: str) -> None:
    want = os.environ.get(ENV)
    if not want:
        return
    name, _, nth = want.partition(":")
    if name != phase:
        return
    _passes[phase] += 1
    if _passes[phase] != int(nth or 1):
        return
    sys.stderr.write(f"footfall: paused at {phase}\n")
    sys.stderr.flush()
    time.sleep(600)
