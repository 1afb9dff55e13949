"""Resumable work directory of one identification (docs/method.md §9).

Layout of ``workdir``::

    identity.json        the run identity (a SHA-256 over the observation, the candidates'
                         line lists and partition functions, the settings and the policy
                         checkpoint) and the readable settings; written first
    fits/<key>.npz       one finished individual fit: best fit-space parameters, loss, nfev

Every file is written to a temporary name and renamed (atomic on POSIX), so a
stopped run (kill -9 included) leaves only complete fits. A rerun with
``resume=True`` reuses the fits of the same identity and refuses a directory that
holds another run (:class:`~spectuner_nb.errors.IdentificationError`);
``resume=False`` starts afresh. While a store is open the directory is locked
(:class:`~spectuner_nb.cube.store.WorkdirLock`), so a second run on it raises
:class:`~spectuner_nb.errors.WorkdirBusyError` instead of deleting or mixing the
first one's fits.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..cube.store import RESTART_HINT, UNREADABLE, WorkdirLock
from ..digests import linelist_digest, update_with_array
from ..errors import IdentificationError
from ..observation import Observation

__all__ = [
    "FITS_DIR",
    "FitStore",
    "IDENTITY_FILE",
    "fit_key",
    "run_identity",
]

IDENTITY_FILE = "identity.json"
FITS_DIR = "fits"


def run_identity(obs: Observation, lines: Sequence, settings: dict, policy_id: str | None) -> str:
    """SHA-256 (hex) of everything an individual fit depends on.

    ``lines``: the candidates' LineLists (frequencies, A_ul, E_low, g_u and the partition
    function tables enter); ``settings``: JSON-serialisable fit settings; ``policy_id``:
    the identity of the policy checkpoint (None without policy).
    """
    h = hashlib.sha256()
    for f, y in zip(obs.freqs, obs.intensities, strict=True):
        update_with_array(h, f)
        update_with_array(h, y)
    update_with_array(h, obs.rms)
    update_with_array(h, obs.T_bg)
    update_with_array(h, np.atleast_1d(np.asarray(obs.beam, dtype=float)))
    update_with_array(h, [obs.v_lsr])
    for ll in lines:
        h.update(linelist_digest(ll).encode())
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    h.update(str(policy_id).encode())
    return h.hexdigest()


def fit_key(name: str) -> str:
    """File-safe key of a species name (readable prefix + short hash)."""
    safe = "".join(c if c.isalnum() else "_" for c in name).strip("_")[:40]
    return f"{safe}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


class FitStore:
    """Individual fits of one identification in ``workdir`` (see the module docstring)."""

    def __init__(
        self, workdir: str | Path, identity: str, details: dict, *, resume: bool = True
    ) -> None:
        self.workdir = Path(workdir)
        self.fit_dir = self.workdir / FITS_DIR
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IdentificationError(f"cannot use {self.workdir} as workdir: {exc}") from exc
        self._lock = WorkdirLock(self.workdir)
        try:
            self._open(identity, details, resume)
        except BaseException:
            self._lock.release()
            raise

    def _open(self, identity: str, details: dict, resume: bool) -> None:
        """Check the identity (resume) or start afresh; remove temporary leftovers."""
        path = self.workdir / IDENTITY_FILE
        if path.exists() and resume:
            try:
                old = json.loads(path.read_text())["identity"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise IdentificationError(f"{path} is unreadable ({exc}); {RESTART_HINT}") from exc
            if old != identity:
                raise IdentificationError(
                    f"{self.workdir} holds another identification (different observation, "
                    f"catalog, settings or policy); {RESTART_HINT}"
                )
        else:
            if self.fit_dir.exists():
                shutil.rmtree(self.fit_dir)
            text = json.dumps({"identity": identity, "details": details}, indent=1, default=str)
            atomic_write(path, lambda fh: fh.write(text.encode()))
        self.fit_dir.mkdir(parents=True, exist_ok=True)
        for leftover in [*self.fit_dir.glob(".*.tmp"), *self.workdir.glob(".*.tmp")]:
            leftover.unlink(missing_ok=True)

    def close(self) -> None:
        """Release the work-directory lock (idempotent)."""
        self._lock.release()

    def __enter__(self) -> FitStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _path(self, name: str) -> Path:
        return self.fit_dir / f"{fit_key(name)}.npz"

    def has(self, name: str) -> bool:
        """True when the fit of ``name`` is on disk and readable (a damaged file is removed,
        so the fit is done again)."""
        path = self._path(name)
        if not path.exists():
            return False
        try:
            self.read(name)
        except IdentificationError:
            path.unlink(missing_ok=True)
            return False
        return True

    def write(self, name: str, x: np.ndarray, loss: float, nfev: int) -> None:
        """Store one finished fit atomically (x: fit space (5,))."""
        atomic_write(
            self._path(name),
            lambda fh: np.savez(
                fh,
                species=np.array(name),
                x=np.asarray(x, float),
                loss=np.float64(loss),
                nfev=np.int64(nfev),
            ),
        )

    def read(self, name: str) -> tuple[np.ndarray, float, int]:
        """(x (5,), loss, nfev) of a stored fit."""
        path = self._path(name)
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["species"]) != name:
                    raise IdentificationError(f"{path} holds the fit of {z['species']}")
                return np.array(z["x"], float), float(z["loss"]), int(z["nfev"])
        except UNREADABLE as exc:
            raise IdentificationError(f"cannot read {path}: {exc}") from exc
