"""Atomic writes: one file, or a folder of result files with a SHA-256 index.

:func:`atomic_write` writes one file under a temporary name beside it, flushes it to
disk and renames it (``os.replace`` is atomic on POSIX): a reader sees the old file or
the complete new one, whatever moment the process is killed.

:func:`write_folder` applies the same idea to a folder of several files (a cube's
maps, an identification's tables): the files are written to a staging folder
``.partial-*`` inside the target, the previous index file is removed, the files are
renamed into place, files of the previous result that the new one does not have are
removed, and the new index, listing every file with its SHA-256 under ``"files"``, is
written last. :func:`read_index` accepts a folder only when its index exists and every
file it lists is present with that digest; an interrupted write (no index) or a folder
mixing the files of two results raises :class:`~spectuner_nb.errors.IncompleteResultError`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from .catalog.starter import sha256_file
from .errors import IncompleteResultError, ResultsError

__all__ = ["STAGING_PREFIX", "atomic_write", "read_index", "write_folder"]

STAGING_PREFIX = ".partial-"
"""Name prefix of the staging folder :func:`write_folder` creates inside the target."""


def atomic_write(path: Path, write: Callable) -> None:
    """Call ``write(file_object)`` on a unique temporary file beside ``path``, fsync it,
    then rename it to ``path``: readers see the old file or the complete new one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _listed(folder: Path, index: str) -> list[str]:
    """File names listed in ``folder/index`` (none if it is missing or unreadable)."""
    try:
        return list(json.loads((folder / index).read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return []


def write_folder(
    folder: str | Path,
    write_files: Callable[[Path], list[str]],
    index: str,
    info: dict,
    *,
    what: str = "result",
) -> list[Path]:
    """Write a result folder atomically as a whole (module docstring).

    Parameters
    ----------
    folder
        Target folder (created).
    write_files
        ``write_files(stage) -> names``: writes the result's files into the folder
        ``stage`` and returns their names (plain file names, no sub-folders).
    index
        Name of the index file (e.g. ``"summary.json"``); must not be among ``names``.
    info
        JSON-serialisable content of the index; the ``"files"`` key is added.
    what
        What the folder holds, for error messages.

    Returns
    -------
    list of Path
        The files written, the index last.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for leftover in folder.glob(STAGING_PREFIX + "*"):
            shutil.rmtree(leftover, ignore_errors=True)
        stage = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
    except OSError as exc:
        raise ResultsError(f"cannot write the {what} to {folder}: {exc}") from exc
    try:
        names = list(write_files(stage))
        if index in names:
            raise ResultsError(f"{index} is the index of the {what}, not one of its files")
        for name in names:
            with open(stage / name, "rb") as fh:
                os.fsync(fh.fileno())
        previous = _listed(folder, index)
        (folder / index).unlink(missing_ok=True)
        for name in names:
            os.replace(stage / name, folder / name)
        for name in set(previous) - set(names):
            (folder / name).unlink(missing_ok=True)
        full = {**info, "files": {name: sha256_file(folder / name) for name in names}}
        atomic_write(
            folder / index, lambda fh: fh.write(json.dumps(full, indent=1, default=str).encode())
        )
    except OSError as exc:
        raise ResultsError(f"cannot write the {what} to {folder}: {exc}") from exc
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return [folder / name for name in names] + [folder / index]


def read_index(folder: str | Path, index: str, *, what: str = "result") -> dict:
    """The index of a folder written by :func:`write_folder`, after checking every file it
    lists against its SHA-256.

    Raises
    ------
    IncompleteResultError
        No readable index (nothing written, or a write interrupted before its end), or a
        listed file missing or different (a partial write, or files of two results mixed).
    """
    folder = Path(folder)
    try:
        info = json.loads((folder / index).read_text())
        files = dict(info["files"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IncompleteResultError(
            f"{folder} does not hold a complete {what} ({type(exc).__name__}: {exc}); an "
            f"interrupted write leaves no {index} with file digests: write it again"
        ) from exc
    changed = [
        name
        for name, digest in files.items()
        if not (folder / name).is_file() or sha256_file(folder / name) != digest
    ]
    if changed:
        raise IncompleteResultError(
            f"{folder} holds a partial or mixed {what}: {', '.join(sorted(changed))} differ "
            f"from the files listed in {index}; write it again"
        )
    return info
