"""Keeps Python's full garbage collections short while a server runs in the process.

A full (oldest-generation) collection walks every tracked object of the process. In a notebook
kernel or a benchmark that is everything the session has imported and made (pandas, the
notebook's data...), ~170,000 objects in the benchmark, and each such collection stopped the
server's event loop for 40-60 ms: every participant's frames froze for that long. While a server
runs, the objects that existed when it started are frozen (`gc.freeze`): collections skip them
and walk only what was made since, a few ms at most. When the last server of the process stops
they are unfrozen, so cycles among them are collected again then.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_servers = 0


def hold() -> None:
    """A server started: freeze the objects that exist now (the first of several servers does it)."""
    global _servers
    with _lock:
        _servers += 1
        if _servers == 1:
            gc.collect()  # (garbage that exists now is freed first, not frozen)
            gc.freeze()


def release() -> None:
    """A server stopped: when no server runs any more, the frozen objects are collected as usual again."""
    global _servers
    with _lock:
        if _servers == 0:
            return
        _servers -= 1
        if _servers == 0:
            gc.unfreeze()
