"""Resumable, chunked storage of per-pixel results in a work directory.

Layout of ``workdir``::

    manifest.json          the run settings, the pixel list and the chunk layout
    chunks/c000012.npz     the results of chunk 12 (one array per quantity,
                           first axis = the chunk's pixels, plus their indices)

Every file is written to a temporary name in the same directory, flushed to
disk and renamed (``os.replace`` is atomic on POSIX), so a reader sees either
a complete chunk or none, whatever moment the process is killed (kill -9
included). On resume, chunks already on disk are skipped, temporary leftovers
are removed, and the manifest must describe the same run.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import CubeError, ResultsError

MANIFEST = "manifest.json"
_PIXEL_KEY = "pixel"


def _atomic_write(path: Path, write) -> None:
    """Call ``write(file_object)`` on a temporary file, fsync, then rename to ``path``."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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
        path = self.workdir / MANIFEST
        if path.exists() and resume:
            try:
                old = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise ResultsError(f"{path} is unreadable: {exc}; rerun with resume=False") from exc
            if old != manifest:
                diff = sorted(k for k in manifest["config"] if old["config"].get(k) != manifest[
                    "config"][k])
                raise CubeError(
                    f"{self.workdir} holds a different run (differs in: "
                    f"{', '.join(diff) or 'pixels/chunks'}); use another workdir or resume=False"
                )
        else:
            if self.chunk_dir.exists():
                shutil.rmtree(self.chunk_dir)
            self.workdir.mkdir(parents=True, exist_ok=True)
            _atomic_write(path, lambda fh: fh.write(json.dumps(manifest).encode()))
        self.chunk_dir.mkdir(parents=True, exist_ok=True)
        for leftover in self.chunk_dir.glob(".*.tmp*"):
            leftover.unlink(missing_ok=True)

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
        """Indices of the chunks already on disk (complete files only)."""
        return [i for i in range(len(self.chunks)) if self._path(i).exists()]

    def pending(self) -> list[int]:
        """Indices of the chunks still to compute, in order."""
        have = set(self.done())
        return [i for i in range(len(self.chunks)) if i not in have]

    def write(self, index: int, arrays: dict[str, np.ndarray]) -> None:
        """Store the results of chunk ``index`` atomically (first axis = its pixels)."""
        pix = self.chunk_pixels(index)
        for key, arr in arrays.items():
            if np.shape(arr)[:1] != (pix.size,):
                raise ResultsError(f"chunk {index}: {key} has shape {np.shape(arr)}, "
                                   f"first axis must be {pix.size}")
        _atomic_write(self._path(index), lambda fh: np.savez(fh, **{_PIXEL_KEY: pix}, **arrays))

    def read(self, index: int) -> dict[str, np.ndarray]:
        """The arrays of chunk ``index`` (checked against the manifest)."""
        with np.load(self._path(index)) as z:
            out = {k: z[k] for k in z.files}
        if not np.array_equal(out.pop(_PIXEL_KEY), self.chunk_pixels(index)):
            raise ResultsError(f"{self._path(index)} does not hold the pixels of chunk {index}")
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
                with np.load(path) as z:
                    parts.append({k: z[k] for k in z.files})
            except (OSError, ValueError):
                continue  # removed by a restart between listing and reading
        if not parts:
            return np.zeros(0, np.int64), {}, total
        arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != _PIXEL_KEY}
        return np.concatenate([p[_PIXEL_KEY] for p in parts]), arrays, total
