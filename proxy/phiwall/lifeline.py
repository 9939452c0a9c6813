"""A child process that ends with its parent (Linux), for the inspection workers and their fork server.

Its own module, free of side effects, so both the fork server's preload (phiwall.worker_preload) and each worker's
initializer (phiwall.workers) can call it without importing the other.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys


def die_with_parent() -> None:
    """Linux: this process is killed when the process that started it ends (prctl PR_SET_PDEATHSIG).

    A proxy killed with SIGKILL (a crashed or OOM-killed replica) otherwise leaves its fork server and workers
    behind for ever, half a gigabyte each set, because nothing tells them. Called in the fork server (whose parent
    is the proxy) and in every worker (whose parent is the fork server), so the chain ends with the proxy.
    """
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
