"""Task logging: casalog with the task name as origin when casatools is present.

Without casatools the messages go to the standard :mod:`logging` module,
logger ``spectuner_nb.casa_tasks.<task>``. No log file is opened here.
"""

from __future__ import annotations

import logging

from spectuner_nb.errors import ConfigurationError

from . import casaenv

__all__ = ["TaskLog"]

_LEVELS = {"INFO": logging.INFO, "WARN": logging.WARNING, "SEVERE": logging.ERROR}


def _casalog():
    """The CASA log sink, or None when casatools is absent or unusable."""
    if not casaenv.casatools_installed():
        return None
    try:
        tools = casaenv.casatools()
    except ConfigurationError:
        return None
    sink = getattr(tools, "logger", None)
    return sink if sink is not None else tools.logsink()


class TaskLog:
    """Messages of one task run, tagged with the task name (CASA ``origin``)."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self._sink = _casalog()
        self._logger = logging.getLogger(f"spectuner_nb.casa_tasks.{origin}")

    @property
    def uses_casalog(self) -> bool:
        """True when messages go to casalog."""
        return self._sink is not None

    def post(self, message: str, priority: str = "INFO") -> None:
        """Post ``message`` with CASA priority ``INFO``, ``WARN`` or ``SEVERE``."""
        if self._sink is not None:
            self._sink.origin(self.origin)
            self._sink.post(message, priority, self.origin)
        else:
            self._logger.log(_LEVELS[priority], message)

    def info(self, message: str) -> None:
        """Post an INFO message."""
        self.post(message, "INFO")

    def warn(self, message: str) -> None:
        """Post a WARN message."""
        self.post(message, "WARN")

    def severe(self, message: str) -> None:
        """Post a SEVERE message."""
        self.post(message, "SEVERE")
