"""What every task does around its work: log the call, time it, report errors once."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from spectuner_nb.errors import SpectunerError

from .tasklog import TaskLog

__all__ = ["task_context", "clear_output"]


@contextlib.contextmanager
def task_context(name: str, params: dict) -> Iterator[TaskLog]:
    """Log the begin/end lines and the parameters of task ``name`` as CASA tasks do.

    A :class:`SpectunerError` raised inside is posted once as SEVERE and re-raised.
    """
    log = TaskLog(name)
    log.info(f"##### Begin Task: {name} #####")
    log.info(name + "(" + ", ".join(f"{k}={v!r}" for k, v in params.items()) + ")")
    start = time.perf_counter()
    try:
        yield log
    except SpectunerError as exc:
        log.severe(str(exc))
        raise
    finally:
        log.info(f"##### End Task: {name} ({time.perf_counter() - start:.1f} s) #####")


def clear_output(path: Path) -> None:
    """Remove an existing output (file or directory) the user allowed to overwrite."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
