"""Crash-test hook: `KEYTURN_TEST_KILL_AT=<step>` makes the process SIGKILL itself at that step.

A no-op unless the variable is set. It lets tests prove that any instant can be a SIGKILL.
Steps: after_intent, after_mint, after_verify, after_publish, during_revoke.
"""

from __future__ import annotations

import os
import signal

ENV = "KEYTURN_TEST_KILL_AT"


def reached(step: str) -> None:
    if os.environ.get(ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
