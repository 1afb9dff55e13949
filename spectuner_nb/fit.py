"""fit_spectrum: fit LTE models of one or more species to one observation.

The inference of docs/method.md §7: draw ``n_init`` initial parameter sets (the start
strategy of :mod:`~spectuner_nb.starts`: the policy's proposals, uniform draws within the
bounds, or given by the caller), evaluate the loss
of all of them in one batched model call, start the local optimiser from the
best, and return the better of the optimum and the best sample, with nfev
counted over both stages. ``optimizer="pso"`` runs the particle swarm instead
(``n_trial`` independent trials; the paper's reference).

Parameters live in fit space (``parameters.FIT_NAMES``): log10 η, T_ex (K),
log10 N_tot (cm⁻²), log10 Δv (km/s), v_off (km/s), bounded by the paper's
Table 1 unless ``bounds`` says otherwise. Each species may have several
velocity components (``n_components``); parameters named in ``shared`` take
one value for all species and components (e.g. ``shared=("v_off",)``).

The objective is a :class:`~spectuner_nb.problem.FitProblem`; the start points come
from :mod:`~spectuner_nb.starts`. The settings and their defaults are those of
:mod:`~spectuner_nb.fit_settings` (:data:`~spectuner_nb.fit_settings.DEFAULTS`),
checked before anything is computed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from .fit_settings import (
    DEFAULTS,
    GRADIENTS,
    LOSSES,
    FitSettings,
    bounds_array,
)
from .observation import Observation
from .optimize import GRADIENT_METHODS, OPTIMIZERS, minimize_local
from .parameters import FIT_NAMES, at_bound
from .problem import FitProblem
from .pso import pso_trials
from .results import FitResult
from .sanity import check_fittable
from .starts import initial_points, resolve_init

__all__ = ["LOSSES", "GRADIENTS", "OPTIMIZERS", "FitProblem", "fit_spectrum"]


def _bounds_array(bounds, n_entries: int) -> np.ndarray:
    """Fit-space bounds (n_entries, 5, 2); see :func:`~spectuner_nb.fit_settings.bounds_array`."""
    return bounds_array(bounds, n_entries)


def _gradient_kind(gradient: str, loss: str) -> str:
    """The gradient a gradient optimiser gets: "exact", "jacobian" or "3-point"."""
    if gradient == "auto":
        return "exact" if loss == "chi2" else "jacobian"
    return gradient


def check_fit_settings(
    *, loss: str, optimizer: str, n_init, gradient: str = "auto", seed=None, maxiter=1000, n_trial=3
) -> str:
    """Validate the plain settings of :func:`fit_spectrum` (raises :class:`FitError` naming
    the setting); returns the optimizer name in lower case.

    Kept for a release; use :meth:`~spectuner_nb.fit_settings.FitSettings.validate`.
    """
    return (
        FitSettings(
            loss=loss,
            optimizer=optimizer,
            n_init=n_init,
            gradient=gradient,
            seed=seed,
            maxiter=maxiter,
            n_trial=n_trial,
            init="random",
            bounds=None,
        )
        .validate()
        .optimizer
    )


def fit_spectrum(
    obs: Observation,
    species: str | Sequence[str],
    *,
    catalog=None,
    loss: str = DEFAULTS.loss,
    optimizer: str = DEFAULTS.optimizer,
    init=DEFAULTS.init,
    n_init: int = DEFAULTS.n_init,
    bounds=DEFAULTS.bounds,
    seed: int | None = DEFAULTS.seed,
    n_components: int | Sequence[int] = 1,
    shared: Sequence[str] = (),
    gradient: str = DEFAULTS.gradient,
    n_trial: int = DEFAULTS.n_trial,
    maxiter: int = DEFAULTS.maxiter,
    errors: bool = True,
    lines=None,
    base=None,
    check_convergence: bool | None = None,
) -> FitResult:
    """Fit the LTE model of ``species`` to ``obs``.

    Parameters
    ----------
    obs
        The observation (:class:`~spectuner_nb.observation.Observation`).
    species
        One species name or several (any spelling the catalog resolves).
    catalog
        Transition cache; default :func:`spectuner_nb.catalog.default_cache`.
    loss
        "pm" (peak matching, docs/method.md §3) or "chi2" (noise-weighted χ²).
    optimizer
        "slsqp" (default), "nelder-mead", "l-bfgs-b", "tnc", "cobyla", "cobyqa", "pso", or
        "none" (no optimiser: the best of the initial samples, e.g. the policy alone).
    init
        "auto" (default: the policy's proposals when a checkpoint loads and the bounds
        lie inside Table 1, else uniform draws), "random" (``n_init`` uniform draws
        within the bounds), "policy" (the trained policy's ``n_init`` proposals;
        :class:`~spectuner_nb.errors.CheckpointError` when none loads), any object with
        a ``propose`` method (:class:`~spectuner_nb.starts.Proposer`) or a fit-space
        array (n_entries, 5) / (n, n_entries, 5) of starting points.
    n_init
        Number of initial samples (1 … 10 000); the best one starts the local optimiser.
    bounds
        Fit-space bounds: "hot_core" (default, Table 1), None (Table 1), a preset name of
        :data:`~spectuner_nb.parameters.BOUND_PRESETS` ("hot_core", "cold_core") or
        "auto" (:func:`~spectuner_nb.parameters.choose_preset` from the line widths),
        a (5, 2) or (n_entries, 5, 2) array, or a dict overriding Table 1 by name,
        e.g. ``{"v_off": (-5, 5)}``.
    seed
        Seed of the random draws (random init, PSO, the policy's sampling); None: fresh
        entropy.
    n_components
        Velocity components per species (int or one per species).
    shared
        Fit parameters that take one value for all entries, e.g. ``("v_off",)``.
    gradient
        For L-BFGS-B/TNC/SLSQP: "auto" (exact for χ², "jacobian" for peak matching),
        "exact" (χ² only), "jacobian" (3-point differences of the loss of the model
        linearised with its exact Jacobian: one Jacobian pass per gradient instead of
        2·n_free model evaluations, see :meth:`FitProblem.linearised`) or "3-point"
        (finite differences of the model itself, as the paper).
    n_trial
        PSO trials (``optimizer="pso"``).
    maxiter
        Iteration limit of the local optimiser; PSO iteration cap.
    errors
        Estimate Laplace errors (curvature of χ² at the optimum, for either loss).
    lines
        Pre-fetched line lists, one per species (e.g. reused across cube pixels).
    base
        A fixed model spectrum per window (K), e.g. the species already accepted,
        added to the fitted species' model before the loss (intensities add,
        docs/method.md §2): χ², its gradient and peak matching all see model + base,
        and so does :attr:`FitResult.model`.
    check_convergence
        Gradient optimisers: check a reported convergence with an L-BFGS-B pass from the
        best point and go on while it lowers the loss
        (:func:`~spectuner_nb.optimize.minimize_local`), so that ``meta["success"]``
        means converged. None (default): for χ² only (peak matching is piecewise smooth;
        a check there costs 2.4× the evaluations).

    Returns
    -------
    FitResult
    """
    t0 = time.perf_counter()
    settings = FitSettings(
        loss=loss,
        init=init,
        n_init=n_init,
        optimizer=optimizer,
        bounds=bounds,
        seed=seed,
        gradient=gradient,
        maxiter=maxiter,
        n_trial=n_trial,
    ).validate()
    optimizer, n_init, seed = settings.optimizer, settings.n_init, settings.seed
    maxiter, n_trial = settings.maxiter, settings.n_trial
    problem = FitProblem(
        obs,
        species,
        catalog=catalog,
        loss=loss,
        n_components=n_components,
        shared=shared,
        bounds=bounds,
        lines=lines,
        base=base,
    )
    start = resolve_init(settings.init, bounds=problem.bounds)
    check_fittable(
        obs,
        problem.species_in,
        problem.species_lines,
        t_ex_max=float(problem.bounds[:, 1, 1].max()),
    )
    rng = np.random.default_rng(seed)
    timings = {"setup": time.perf_counter() - t0}
    meta: dict = {
        "seed": seed,
        "n_free": problem.n_free,
        "shared": [FIT_NAMES[j] for j in problem.shared],
    }

    t1 = time.perf_counter()
    if optimizer == "pso":
        x0 = None
        init_label = "none"
        if not (isinstance(start, str) and start == "random"):
            x0, init_label = initial_points(problem, obs, start, n_init, rng, seed)
        best, _ = pso_trials(
            problem, problem.z_bounds, n_trial=n_trial, seed=seed, x0=x0, max_iter=maxiter
        )
        z_best, f_best = best.x, best.fun
        nfev_init, nfev_local, njev = 0, best.nfev, 0
        timings["init"] = 0.0
        timings["local"] = time.perf_counter() - t1
        meta.update(message=best.message, n_trial=n_trial, gradient="none")
    else:
        z0, init_label = initial_points(problem, obs, start, n_init, rng, seed)
        z0 = np.clip(z0, problem.z_bounds[:, 0], problem.z_bounds[:, 1])
        f0 = problem(z0)
        i0 = int(np.argmin(np.where(np.isfinite(f0), f0, np.inf)))
        nfev_init = z0.shape[0]
        timings["init"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        z_best, f_best = z0[i0], float(f0[i0])
        nfev_local, njev = 0, 0
        meta.update(best_init_loss=f_best, gradient="none", message="best initial sample")
        if optimizer != "none":
            grad_kind = _gradient_kind(gradient, loss)
            res = minimize_local(
                problem,
                z0[i0],
                problem.z_bounds,
                optimizer,
                value_and_grad=problem.chi2_value_and_grad if grad_kind == "exact" else None,
                local_model=problem.linearised if grad_kind == "jacobian" else None,
                maxiter=maxiter,
                f0=f_best,
                check=loss == "chi2" if check_convergence is None else bool(check_convergence),
            )
            if res.fun <= f_best:
                z_best, f_best = res.x, res.fun
            nfev_local, njev = res.nfev, res.njev
            meta.update(message=res.message, success=res.success, nit=res.nit)
            if optimizer in GRADIENT_METHODS:
                meta["gradient"] = grad_kind
        timings["local"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    z_best = np.clip(z_best, problem.z_bounds[:, 0], problem.z_bounds[:, 1])
    x_best = problem.expand(z_best)
    spectra = problem.spectra(z_best[None])
    pm = problem._pm(spectra)
    chi2 = float(problem._chi2(problem._obs_y, spectra, obs.rms)[0])
    x_err = np.full_like(x_best, np.nan)
    if errors:  # curvature of χ² at the optimum of either loss
        x_err = problem.laplace_errors(z_best)[problem.idx]
    timings["errors"] = time.perf_counter() - t3
    meta["model_failures"] = problem.model_failures
    timings["total"] = time.perf_counter() - t0
    extrap = np.array(
        [
            bool(np.any(ll.partition.is_extrapolated(x_best[k, 1])))
            for k, ll in enumerate(problem.lines)
        ]
    )
    flags_bound = np.array(
        [at_bound(x_best[k], problem.bounds[k]) for k in range(problem.n_entries)]
    )
    return FitResult(
        species=problem.species,
        component=problem.component,
        x=x_best,
        x_err=x_err,
        theta_b_sq=problem.theta_b_sq,
        loss_name=loss,
        loss=float(f_best),
        peak_term=float(np.asarray(pm.peak_term)[0]),
        has_peak=bool(np.asarray(pm.has_peak)[0]),
        chi2=chi2,
        nfev=int(nfev_init + nfev_local),
        nfev_init=int(nfev_init),
        nfev_local=int(nfev_local),
        njev=int(njev),
        timings=timings,
        optimizer=optimizer,
        init=init_label,
        model=[s[0] for s in spectra],
        at_bound=flags_bound,
        extrapolated_q=extrap,
        bounds=problem.bounds,
        obs=obs,
        meta=meta,
    )
