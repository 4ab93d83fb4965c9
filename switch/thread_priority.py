"""A background thread's lower CPU priority: the serving threads get the cores first.

The switch's checkpoint thread (WAL copies, the verified checkpoint's tail) does work that can
wait a few milliseconds; the event loop and the commit process cannot, and on two cores they
share them with it (docs/switch.md, "The checkpoint thread's priority"). Linux gives each
thread its own nice value, set with `setpriority(PRIO_PROCESS, thread id)`; elsewhere that
call would lower the whole process, so it is not made.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger("lps.switch")

#: The checkpoint thread's nice value: under CFS it weighs about a tenth of a serving thread
#: when both want a core, and still has a core to itself when the others wait.
BACKGROUND_NICENESS = 10


def lower_this_thread(niceness: int = BACKGROUND_NICENESS) -> bool:
    """Raise the calling thread's nice value to `niceness` (Linux only), never lower it (a
    switch started with `nice` keeps its own); whether the thread now runs at least that low.
    A refusal (a container's policy) is logged and changes nothing: the thread runs on."""
    if not sys.platform.startswith("linux"):
        return False
    thread = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, thread) < niceness:
            os.setpriority(os.PRIO_PROCESS, thread, niceness)
    except OSError as exc:
        log.warning("event=thread_priority_refused niceness=%d error=%r", niceness, exc)
        return False
    return True
