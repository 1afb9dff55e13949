"""Individual fits of every candidate (docs/method.md §9 step 3).

Every candidate is fitted alone with the peak-matching loss: ``n_init`` starting points
(the policy's proposals, drawn for all candidates in one batch, or uniform draws
within the bounds), the best of them refined by SLSQP. The policy is used only when
the bounds lie inside the bounds it was trained on (Table 1); elsewhere (e.g. the
cold-core preset) random starts cover the space. The fits are independent: they run
in this process or as tasks on a Dask client, and each is stored in the work
directory as soon as it finishes.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import numpy as np

from ..fit_settings import INITS
from ..model import LTEModel
from ..observation import Observation
from ..policy.loader import load_policy
from .candidates import Candidate
from .store import FitStore

__all__ = [
    "ANCHORED_FRACTION",
    "FIT_MAXITER",
    "INITS",
    "N_ANCHORED_WITH_POLICY",
    "fit_candidate",
    "load_policy",
    "policy_starts",
    "random_starts",
    "run_fits",
]

FIT_MAXITER: int = 200
"""SLSQP iteration limit of one individual fit."""
ANCHORED_FRACTION: float = 0.5
"""Fraction of the random starts placed on the candidate's anchors (T_ex, v_off)."""
N_ANCHORED_WITH_POLICY: int = 10
"""Anchored random starts added to the policy's proposals."""


def policy_starts(
    policy, obs: Observation, candidates: Sequence[Candidate], n_init: int, seed: int
) -> np.ndarray:
    """Policy proposals for all candidates in one batch: (n_candidates, n_init, 5) fit space."""
    draws = np.asarray(
        policy.propose(obs, [c.lines for c in candidates], n_init, seed=seed), dtype=float
    )
    return draws.reshape(n_init, len(candidates), 5).transpose(1, 0, 2)


def random_starts(
    candidate: Candidate, bounds: np.ndarray, n: int, seed: int, obs: Observation | None = None
) -> np.ndarray:
    """``n`` fit-space starts (n, 5) drawn uniformly within ``bounds``.

    The first :data:`ANCHORED_FRACTION` of them take (T_ex, v_off) from the candidate's
    anchors (its strongest line on an observed peak), so that narrow lines are not
    missed; with ``obs`` their column density is then scaled (optically thin, N ∝ peak)
    so that the model's brightest channel has the anchor's observed peak height.
    """
    rng = np.random.default_rng([int(seed), zlib.crc32(candidate.name.encode())])
    lo, hi = bounds[:, 0], bounds[:, 1]
    x = lo + rng.random((n, 5)) * (hi - lo)
    n_anchor = min(int(round(ANCHORED_FRACTION * n)), n) if len(candidate.anchors) else 0
    if n_anchor:
        pick = candidate.anchors[rng.integers(0, len(candidate.anchors), n_anchor)]
        x[:n_anchor, 1] = pick[:, 0]
        x[:n_anchor, 4] = pick[:, 1]
        if obs is not None:
            model = LTEModel(obs.rest_freqs, [candidate.lines], beam=obs.beam, T_bg=list(obs.T_bg))
            peak = np.max(model.stacked_from_fit(x[:n_anchor, None, :]), axis=1)
            scale = np.log10(pick[:, 2] / np.where(peak > 0, peak, np.nan))
            x[:n_anchor, 2] = np.clip(x[:n_anchor, 2] + np.nan_to_num(scale), lo[2], hi[2])
    return x


def fit_candidate(
    obs: Observation, name: str, lines, starts: np.ndarray, settings: dict
) -> tuple[np.ndarray, float, int]:
    """One individual fit from fit-space ``starts`` (n, 5): (best x (5,), loss, nfev)."""
    from ..fit import fit_spectrum

    res = fit_spectrum(
        obs,
        [name],
        lines=[lines],
        loss=settings["loss"],
        init=np.asarray(starts)[:, None, :],
        bounds=np.asarray(settings["bounds"]),
        errors=False,
        maxiter=FIT_MAXITER,
    )
    return res.x[0], float(res.loss), int(res.nfev)


def _task(obs, name, lines, starts, settings):
    """Dask task: one individual fit on one thread (see cube.worker.single_threaded)."""
    from ..cube.worker import single_threaded

    with single_threaded():
        return name, fit_candidate(obs, name, lines, starts, settings)


def run_fits(
    obs: Observation,
    candidates: Sequence[Candidate],
    starts: dict,
    settings: dict,
    store: FitStore | None,
    client=None,
    on_done: Callable[[], None] | None = None,
) -> dict[str, tuple]:
    """Fit every candidate not yet in ``store``; returns {name: (x, loss, nfev)} for all, in
    the order of ``candidates`` whatever order the fits finish or were stored in (the steps
    after depend on it only through this order, which must not change between runs).

    ``starts``: {name: (n, 5) fit-space starts}; ``client``: a Dask client or None.
    """
    out: dict[str, tuple] = {}
    todo = []
    for c in candidates:
        if store is not None and store.has(c.name):
            out[c.name] = store.read(c.name)
            if on_done:
                on_done()
        else:
            todo.append(c)

    def finish(name, result):
        out[name] = result
        if store is not None:
            store.write(name, *result)
        if on_done:
            on_done()

    if client is None:
        for c in todo:
            finish(c.name, fit_candidate(obs, c.name, c.lines, starts[c.name], settings))
    elif todo:
        from dask.distributed import as_completed

        obs_future = client.scatter(obs, broadcast=True)
        futures = [
            client.submit(_task, obs_future, c.name, c.lines, starts[c.name], settings, pure=False)
            for c in todo
        ]
        for fut in as_completed(futures):
            name, result = fut.result()
            finish(name, result)
    return {c.name: out[c.name] for c in candidates}  # candidate order, not completion order
