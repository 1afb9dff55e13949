"""Ctrl-C with a local Dask cluster: one clean stop instead of a traceback per worker.

A terminal's Ctrl-C sends SIGINT to every process of the foreground group, the Dask
worker processes included; a worker still starting up prints its own KeyboardInterrupt
traceback. :func:`sigint_ignored` ignores SIGINT while the cluster starts: the worker
processes inherit the ignored signal (Python keeps an ignored SIGINT ignored) and never
react to a Ctrl-C; this process stops on the next one, and closing the cluster stops the
workers. A Ctrl-C pressed during the few seconds the workers take to start is dropped.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["sigint_ignored"]


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT in this process (and so in the processes it starts) for the block,
    then restore the previous handler. A no-op outside the main thread, where signal
    handlers cannot be set."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
