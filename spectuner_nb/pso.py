"""Particle swarm optimisation, the paper's global reference optimiser (docs/method.md §4).

Settings of the paper: 28 particles, at least 100 iterations, stop after 15
iterations without improvement of the swarm's best, 3 independent trials for
the reference fits. All particles of an iteration are evaluated in **one**
batched objective call. Constriction-coefficient PSO (Clerc & Kennedy 2002:
inertia 0.7298, cognitive = social = 1.49618), in unit-cube coordinates,
positions clipped at the bounds (velocity component set to zero there).
"""

from __future__ import annotations

import time

import numpy as np

from .errors import FitError
from .optimize import BatchObjective, CountedObjective, OptimizeResult, UnitBox

__all__ = [
    "N_PARTICLES",
    "MIN_ITER",
    "PATIENCE",
    "MAX_ITER",
    "INERTIA",
    "COGNITIVE",
    "SOCIAL",
    "REL_TOL",
    "pso",
    "pso_trials",
]

N_PARTICLES: int = 28
MIN_ITER: int = 100
PATIENCE: int = 15
MAX_ITER: int = 1000
INERTIA: float = 0.7298
COGNITIVE: float = 1.49618
SOCIAL: float = 1.49618
REL_TOL: float = 1e-6
"""An iteration "improves" when the best value drops by more than REL_TOL·max(1, |best|)."""


def pso(
    fun: BatchObjective,
    bounds: np.ndarray,
    *,
    n_particles: int = N_PARTICLES,
    min_iter: int = MIN_ITER,
    patience: int = PATIENCE,
    max_iter: int = MAX_ITER,
    x0: np.ndarray | None = None,
    seed: int | np.random.Generator | None = None,
) -> OptimizeResult:
    """One PSO trial minimising the batched ``fun`` within ``bounds`` (n_dim, 2).

    ``x0`` (k, n_dim) optionally replaces the first k random particles.
    Stops when at least ``min_iter`` iterations are done and the best value
    has not improved for ``patience`` iterations, or after ``max_iter``.
    """
    rng = np.random.default_rng(seed)
    box = UnitBox(bounds)
    obj = CountedObjective(fun, box)
    n_dim = box.n_dim
    if n_particles < 2:
        raise FitError("PSO needs at least 2 particles")
    start = time.perf_counter()
    pos = rng.random((n_particles, n_dim))
    if x0 is not None:
        seeds = np.clip(box.to_unit(np.atleast_2d(x0)), 0.0, 1.0)[:n_particles]
        pos[: len(seeds)] = seeds
    vel = rng.uniform(-0.1, 0.1, (n_particles, n_dim))
    f = obj.batch(pos)
    p_best, p_val = pos.copy(), f.copy()
    g = int(np.argmin(p_val))
    g_best, g_val = p_best[g].copy(), float(p_val[g])
    history = [g_val]
    stale = 0
    it = 0
    while it < max_iter:
        it += 1
        r1 = rng.random((n_particles, n_dim))
        r2 = rng.random((n_particles, n_dim))
        vel = INERTIA * vel + COGNITIVE * r1 * (p_best - pos) + SOCIAL * r2 * (g_best - pos)
        pos = pos + vel
        hit = (pos < 0.0) | (pos > 1.0)
        pos = np.clip(pos, 0.0, 1.0)
        vel[hit] = 0.0
        f = obj.batch(pos)
        better = f < p_val
        p_best[better], p_val[better] = pos[better], f[better]
        g = int(np.argmin(p_val))
        if p_val[g] < g_val - REL_TOL * max(1.0, abs(g_val)):
            stale = 0
        else:
            stale += 1
        if p_val[g] < g_val:
            g_best, g_val = p_best[g].copy(), float(p_val[g])
        history.append(g_val)
        if it >= min_iter and stale >= patience:
            break
    return OptimizeResult(
        x=box.from_unit(g_best),
        fun=g_val,
        nfev=obj.nfev,
        nit=it,
        success=bool(np.isfinite(g_val)),
        message=f"stopped after {it} iterations ({stale} without improvement)",
        time=time.perf_counter() - start,
        history=history,
    )


def pso_trials(
    fun: BatchObjective,
    bounds: np.ndarray,
    *,
    n_trial: int = 3,
    seed: int | None = None,
    **kwargs,
) -> tuple[OptimizeResult, list[OptimizeResult]]:
    """``n_trial`` independent PSO runs (seeds spawned from ``seed``).

    Returns the best run (with ``nfev`` and ``time`` summed over all trials) and
    the list of individual runs.
    """
    if n_trial < 1:
        raise FitError("n_trial must be at least 1")
    children = np.random.SeedSequence(seed).spawn(n_trial)
    runs = [pso(fun, bounds, seed=np.random.default_rng(c), **kwargs) for c in children]
    best = min(runs, key=lambda r: r.fun)
    total = OptimizeResult(
        x=best.x,
        fun=best.fun,
        nfev=sum(r.nfev for r in runs),
        nit=sum(r.nit for r in runs),
        success=best.success,
        message=f"best of {n_trial} PSO trials: {best.message}",
        time=sum(r.time for r in runs),
        history=best.history,
    )
    return total, runs
