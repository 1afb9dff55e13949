"""Resumable, chunked storage of per-pixel results in a work directory.

Layout of ``workdir``::

    manifest.json          the run settings, the pixel list and the chunk layout
    chunks/c000012.npz     the results of chunk 12 (one array per quantity,
                           first axis = the chunk's pixels, plus their indices
                           and the run identity)
    .lock                  held (flock) by the process using the directory

Every file is written to a unique temporary name in the same directory, flushed
to disk and renamed (``os.replace`` is atomic on POSIX), so a reader sees either
a complete chunk or none, whatever moment the process is killed (kill -9
included). The run identity (a hash of the manifest) is stored in every chunk:
on resume, chunks of another run, damaged chunks and temporary leftovers are
removed (and recomputed), and the manifest must describe the same run. While a
store is open its directory is locked, so a second run on it (resumed or
restarted) is refused instead of deleting the first one's files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write
from ..errors import CubeError, ResultsError, WorkdirBusyError

__all__ = ["MANIFEST", "ResultStore"]

MANIFEST = "manifest.json"
LOCK_FILE = ".lock"
RESTART_HINT = "use another workdir, or start afresh (resume=False; --restart on the command line)"
_PIXEL_KEY = "pixel"
_RUN_KEY = "run_id"
UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)
"""What reading a damaged or truncated .npz file raises."""
log = logging.getLogger(__name__)


class WorkdirLock:
    """An exclusive ``flock`` on ``workdir/.lock``, released by :meth:`release` or when
    the process ends (kill -9 included). Raises :class:`WorkdirBusyError` if held."""

    def __init__(self, workdir: Path) -> None:
        import fcntl

        self._fcntl = fcntl
        self.path = Path(workdir) / LOCK_FILE
        self._fh = open(self.path, "a+")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.seek(0)
            owner = self._fh.read().strip() or "?"
            self._fh.close()
            raise WorkdirBusyError(
                f"{workdir} is in use by another run (process {owner}); wait for it to "
                "end or use another workdir"
            ) from None
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(str(os.getpid()))
        self._fh.flush()

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if not self._fh.closed:
            self._fcntl.flock(self._fh, self._fcntl.LOCK_UN)
            self._fh.close()


class ResultStore:
    """Chunk files of one cube fit in ``workdir``.

    Parameters
    ----------
    workdir
        Directory (created).
    config
        JSON-serialisable description of the run (settings, data fingerprint).
    pixels
        Flat pixel indices to fit, in processing order, shape (n,).
    chunks
        (start, stop) slices of ``pixels``, one per chunk, covering it exactly once.
    resume
        Keep the chunks of a previous run with the same config; otherwise start afresh.

    The directory stays locked until :meth:`close` (or the end of a ``with`` block).
    """

    def __init__(
        self,
        workdir: str | Path,
        config: dict,
        pixels: np.ndarray,
        chunks: Iterable[tuple[int, int]],
        *,
        resume: bool = True,
    ) -> None:
        self.workdir = Path(workdir)
        self.chunk_dir = self.workdir / "chunks"
        self.pixels = np.asarray(pixels, dtype=np.int64)
        self.chunks = [(int(a), int(b)) for a, b in chunks]
        self._check_layout()
        manifest = {
            "config": config,
            "pixels": self.pixels.tolist(),
            "chunks": [list(c) for c in self.chunks],
        }
        manifest = json.loads(json.dumps(manifest))  # normalise types for comparison
        self.run_id = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:20]
        if self.workdir.exists() and not self.workdir.is_dir():
            raise CubeError(f"workdir {self.workdir} exists and is not a directory")
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CubeError(f"cannot create workdir {self.workdir}: {exc}") from exc
        self._lock = WorkdirLock(self.workdir)
        try:
            self._open(manifest, resume)
        except BaseException:
            self._lock.release()
            raise

    def _open(self, manifest: dict, resume: bool) -> None:
        path = self.workdir / MANIFEST
        if path.exists() and resume:
            try:
                old = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise ResultsError(f"{path} is unreadable: {exc}; {RESTART_HINT}") from exc
            if old != manifest:
                old_config = old.get("config", {}) if isinstance(old, dict) else {}
                diff = sorted(
                    k for k in manifest["config"] if old_config.get(k) != manifest["config"][k]
                )
                raise CubeError(
                    f"{self.workdir} holds a different run (differs in: "
                    f"{', '.join(diff) or 'pixels/chunks'}); {RESTART_HINT}"
                )
        else:
            if self.chunk_dir.exists():
                shutil.rmtree(self.chunk_dir)
            atomic_write(path, lambda fh: fh.write(json.dumps(manifest).encode()))
        self.chunk_dir.mkdir(parents=True, exist_ok=True)
        for leftover in self.chunk_dir.glob(".*.tmp*"):
            leftover.unlink(missing_ok=True)
        self._done = set()
        for i in range(len(self.chunks)):
            if self._path(i).exists():
                try:
                    self.read(i)
                    self._done.add(i)
                except (ResultsError, *UNREADABLE) as exc:
                    log.warning("recomputing chunk %d: %s", i, exc)
                    self._path(i).unlink(missing_ok=True)

    def close(self) -> None:
        """Release the work-directory lock."""
        self._lock.release()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_layout(self) -> None:
        covered = np.zeros(self.pixels.size, int)
        for a, b in self.chunks:
            if not 0 <= a < b <= self.pixels.size:
                raise CubeError(f"chunk ({a}, {b}) outside 0..{self.pixels.size}")
            covered[a:b] += 1
        if np.any(covered != 1) or np.unique(self.pixels).size != self.pixels.size:
            raise CubeError("chunks must cover every pixel exactly once")

    def _path(self, index: int) -> Path:
        return self.chunk_dir / f"c{index:06d}.npz"

    def chunk_pixels(self, index: int) -> np.ndarray:
        """Flat pixel indices of chunk ``index``."""
        a, b = self.chunks[index]
        return self.pixels[a:b]

    def done(self) -> list[int]:
        """Indices of the chunks of this run already on disk (complete, readable files)."""
        return sorted(self._done)

    def pending(self) -> list[int]:
        """Indices of the chunks still to compute, in order."""
        return [i for i in range(len(self.chunks)) if i not in self._done]

    def write(self, index: int, arrays: dict[str, np.ndarray]) -> None:
        """Store the results of chunk ``index`` atomically (first axis = its pixels)."""
        pix = self.chunk_pixels(index)
        for key, arr in arrays.items():
            if np.shape(arr)[:1] != (pix.size,):
                raise ResultsError(
                    f"chunk {index}: {key} has shape {np.shape(arr)}, first axis must be {pix.size}"
                )
        payload: dict[str, Any] = {_PIXEL_KEY: pix, _RUN_KEY: np.array(self.run_id), **arrays}
        atomic_write(self._path(index), lambda fh: np.savez(fh, **payload))
        self._done.add(index)

    def read(self, index: int) -> dict[str, np.ndarray]:
        """The arrays of chunk ``index`` (checked against the manifest and the run identity)."""
        path = self._path(index)
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
        if str(out.pop(_RUN_KEY, "")) != self.run_id:
            raise ResultsError(f"{path} belongs to another run")
        if not np.array_equal(out.pop(_PIXEL_KEY), self.chunk_pixels(index)):
            raise ResultsError(f"{path} does not hold the pixels of chunk {index}")
        return out

    def read_all(self) -> dict[str, np.ndarray]:
        """All chunks concatenated in pixel-list order; every chunk must be done."""
        missing = self.pending()
        if missing:
            raise ResultsError(f"{len(missing)} chunks not computed yet in {self.workdir}")
        parts = [self.read(i) for i in range(len(self.chunks))]
        order = np.argsort([a for a, _ in self.chunks], kind="stable")
        return {k: np.concatenate([parts[i][k] for i in order]) for k in parts[0]}

    def pixel_order(self) -> np.ndarray:
        """Flat pixel indices in the order of :meth:`read_all`."""
        order = np.argsort([a for a, _ in self.chunks], kind="stable")
        return np.concatenate([self.chunk_pixels(i) for i in order])

    @staticmethod
    def snapshot(workdir: str | Path) -> tuple[np.ndarray, dict[str, np.ndarray], int | None]:
        """What a running or finished fit in ``workdir`` has stored so far, read without
        taking part in it: (flat pixel indices, arrays concatenated over the complete chunks,
        total number of pixels of the run or None before its manifest exists)."""
        workdir = Path(workdir)
        try:
            total: int | None = len(json.loads((workdir / MANIFEST).read_text())["pixels"])
        except (OSError, ValueError, KeyError):
            total = None
        parts = []
        for path in sorted((workdir / "chunks").glob("c*.npz")):
            try:
                with np.load(path, allow_pickle=False) as z:
                    parts.append({k: z[k] for k in z.files})
            except (OSError, ValueError):
                continue  # removed by a restart between listing and reading
        if not parts:
            return np.zeros(0, np.int64), {}, total
        arrays = {
            k: np.concatenate([p[k] for p in parts])
            for k in parts[0]
            if k != _PIXEL_KEY and np.ndim(parts[0][k]) > 0
        }  # per-pixel arrays only
        return np.concatenate([p[_PIXEL_KEY] for p in parts]), arrays, total
