"""Subcommands of the ``spectuner-nb`` command line, one module each (see cli.py).

Shared here: argparse types that refuse a bad number at parse time, with the
setting's limits in the message; opening a ``--cache`` that must already exist; connecting
to a ``--scheduler`` with a short timeout.
"""

from __future__ import annotations

import argparse

__all__ = ["SCHEDULER_TIMEOUT_S", "connect_scheduler", "count", "open_cache"]

SCHEDULER_TIMEOUT_S: float = 10.0
"""How long to wait for a ``--scheduler`` to answer, s."""


def count(minimum: int = 1, maximum: int | None = None):
    """An argparse ``type``: a whole number within [``minimum``, ``maximum``]."""

    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise argparse.ArgumentTypeError(f"{value} must be at least {minimum}{upper}")
        return value

    return whole_number


def open_cache(path: str | None, *, write: bool = False):
    """The transition cache named by ``--cache`` (None: the user cache, None returned).

    Reading commands open it read-only (a shared, write-protected cache works); a path
    that does not exist is refused (:class:`~spectuner_nb.errors.CacheAccessError`)
    instead of creating an empty database, unless ``write`` (``catalog import``/``fetch``).
    """
    if not path:
        return None
    from ..catalog.cache import TransitionCache

    return TransitionCache(path) if write else TransitionCache(path, readonly=True)


def connect_scheduler(address: str):
    """A Dask client of the scheduler at ``address``; :class:`~spectuner_nb.errors.CubeError`
    if it does not answer within :data:`SCHEDULER_TIMEOUT_S`."""
    from dask.distributed import Client

    from ..errors import CubeError

    try:
        return Client(address, timeout=f"{SCHEDULER_TIMEOUT_S}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise CubeError(f"cannot reach the Dask scheduler at {address!r} within "
                        f"{SCHEDULER_TIMEOUT_S:g} s: {exc}") from exc
