"""CPU priority for affbot's background processes (click writer, delivery).

On a small machine the tracking server, the click writer and the outbox dispatcher share
the cores. Redirects are answered while a person waits; a batch of clicks or a paced
broadcast can wait a few milliseconds without anyone noticing. So the background
processes ask the kernel to prefer everything else: ``nice`` 10, and on Linux
``SCHED_BATCH``, which also stops them from preempting the server when they wake up.
"""

from __future__ import annotations

import contextlib
import os

NICENESS = 10


def run_as_background() -> None:
    """Lower this process's CPU priority (best effort: a refusal changes nothing else)."""
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    batch = getattr(os, "SCHED_BATCH", None)
    if batch is not None:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, batch, os.sched_param(0))
