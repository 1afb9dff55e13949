"""fit_spectrum: fit LTE models of one or more species to one observation.

The inference of docs/method.md §7: draw ``n_init`` initial parameter sets (from the
policy, uniformly within the bounds, or given by the caller), evaluate the loss
of all of them in one batched model call, start the local optimiser from the
best, and return the better of the optimum and the best sample, with nfev
counted over both stages. ``optimizer="pso"`` runs the particle swarm instead
(``n_trial`` independent trials; the paper's reference).

Parameters live in fit space (``parameters.FIT_NAMES``): log10 η, T_ex (K),
log10 N_tot (cm⁻²), log10 Δv (km/s), v_off (km/s), bounded by the paper's
Table 1 unless ``bounds`` says otherwise. Each species may have several
velocity components (``n_components``); parameters named in ``shared`` take
one value for all species and components (e.g. ``shared=("v_off",)``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from . import losses
from ._lte_kernels import linear_rows
from .catalog.names import resolve
from .checks import N_INIT_MAX, as_count, as_seed
from .errors import CatalogError, CheckpointError, FitError, ModelInputError
from .observation import Observation
from .optimize import GRADIENT_METHODS, OPTIMIZERS, minimize_local
from .parameters import (
    FIT_NAMES,
    N_PARAMS,
    TABLE1_BOUNDS,
    at_bound,
    bounds_preset,
    choose_preset,
)
from .pso import pso_trials
from .results import FitResult
from .sanity import check_fittable

__all__ = ["LOSSES", "GRADIENTS", "OPTIMIZERS", "FitProblem", "fit_spectrum"]

LOSSES: tuple[str, ...] = ("pm", "chi2")
GRADIENTS: tuple[str, ...] = ("auto", "exact", "jacobian", "3-point")
"""Accepted ``gradient`` values of :func:`fit_spectrum`."""
_SHARED_ALIASES = {"eta": "log10_eta", "theta": "log10_eta", "N_tot": "log10_N_tot",
                   "delta_v": "log10_delta_v"}


def _bounds_array(bounds, n_entries: int) -> np.ndarray:
    """Fit-space bounds (n_entries, 5, 2) from None, a preset name, (5, 2),
    (n_entries, 5, 2) or a dict."""
    base = np.array(TABLE1_BOUNDS, dtype=float)
    if isinstance(bounds, str):
        try:
            base, bounds = bounds_preset(bounds), None
        except ModelInputError as exc:
            raise FitError(str(exc)) from exc
    if bounds is None:
        out = np.broadcast_to(base, (n_entries, N_PARAMS, 2)).copy()
    elif isinstance(bounds, Mapping):
        for key, (lo, hi) in bounds.items():
            name = _SHARED_ALIASES.get(key, key)
            if name not in FIT_NAMES:
                raise FitError(f"unknown bound {key!r}; use one of {FIT_NAMES}")
            base[FIT_NAMES.index(name)] = (lo, hi)
        out = np.broadcast_to(base, (n_entries, N_PARAMS, 2)).copy()
    else:
        arr = np.asarray(bounds, dtype=float)
        if arr.shape == (N_PARAMS, 2):
            out = np.broadcast_to(arr, (n_entries, N_PARAMS, 2)).copy()
        elif arr.shape == (n_entries, N_PARAMS, 2):
            out = arr.copy()
        else:
            raise FitError(f"bounds must be (5, 2) or ({n_entries}, 5, 2) in fit space, "
                           f"got {arr.shape}")
    if np.any(~np.isfinite(out)) or np.any(out[..., 1] <= out[..., 0]):
        raise FitError("bounds must be finite with lower < upper")
    if np.any(out[:, 0, 1] >= 0.0):
        raise FitError("the log10 η upper bound must be < 0 (η < 1)")
    return out


class FitProblem:
    """The objective of one fit: parameter layout, prepared model and loss.

    Parameters
    ----------
    obs
        The observation.
    species
        Species names (resolved through the catalog's resolver).
    catalog
        A transition cache with ``lines(species, windows)``; default the user cache.
    loss
        "pm" (peak matching) or "chi2" (noise-weighted).
    n_components
        Velocity components per species (int or one per species).
    shared
        Fit parameters shared by all entries ("v_off", "log10_delta_v", "T_ex", …).
    bounds
        Fit-space bounds, see :func:`fit_spectrum`.
    lines
        Pre-fetched line lists, one per species (skips the catalog).
    base
        Fixed spectrum per window (K) added to the model before the loss, or None.
    """

    def __init__(self, obs: Observation, species: Sequence[str], *, catalog=None,
                 loss: str = "pm", n_components: int | Sequence[int] = 1,
                 shared: Sequence[str] = (), bounds=None, lines=None, base=None) -> None:
        from .model import LTEModel

        if not isinstance(obs, Observation):
            raise FitError(f"obs must be an Observation, got {type(obs).__name__}")
        if loss not in LOSSES:
            raise FitError(f"loss must be one of {LOSSES}, got {loss!r}")
        species = [species] if isinstance(species, str) else list(species)
        if not species:
            raise FitError("give at least one species")
        self.obs = obs
        self.loss_name = loss
        self.species_in = [resolve(s) for s in species]
        counts = [n_components] * len(species) if np.ndim(n_components) == 0 else list(
            n_components)
        if len(counts) != len(species) or any(int(c) < 1 for c in counts):
            raise FitError(f"n_components must be ≥ 1, one per species; got {n_components}")
        if lines is None:
            if catalog is None:
                from .catalog import default_cache

                catalog = default_cache()
            try:
                lines = [catalog.lines(s, obs.windows) for s in self.species_in]
            except CatalogError as exc:
                raise FitError(f"cannot get lines: {exc}") from exc
        if len(lines) != len(species):
            raise FitError(f"{len(lines)} line lists for {len(species)} species")
        self.species_lines = list(lines)
        self.species_in = [ll.species or name for ll, name in zip(lines, self.species_in,
                                                                  strict=True)]
        self.species = [s for s, c in zip(self.species_in, counts, strict=True)
                        for _ in range(int(c))]
        self.component = [k for c in counts for k in range(int(c))]
        self.entry_species = [i for i, c in enumerate(counts) for _ in range(int(c))]
        self.lines = [lines[i] for i in self.entry_species]
        self.n_entries = len(self.species)
        self.model = LTEModel(obs.rest_freqs, self.lines, beam=obs.beam, T_bg=list(obs.T_bg))
        self.theta_b_sq = self.model.theta_b_sq_ref
        if isinstance(bounds, str) and bounds == "auto":
            bounds = choose_preset(obs)
        self.bounds = _bounds_array(bounds, self.n_entries)
        self.base = None if base is None else _base_spectrum(base, obs)
        """Fixed spectrum added to the model (n_chan_total,), K, or None."""
        self._base_windows = None if base is None else np.split(
            self.base, np.cumsum([f.size for f in obs.rest_freqs])[:-1])

        shared_idx = []
        for name in shared:
            key = _SHARED_ALIASES.get(name, name)
            if key not in FIT_NAMES:
                raise FitError(f"cannot share {name!r}; use one of {FIT_NAMES}")
            shared_idx.append(FIT_NAMES.index(key))
        self.shared = sorted(set(shared_idx))
        idx = np.empty((self.n_entries, N_PARAMS), dtype=int)
        z_bounds = []
        for j in range(N_PARAMS):
            if j in self.shared:
                idx[:, j] = len(z_bounds)
                z_bounds.append([self.bounds[:, j, 0].max(), self.bounds[:, j, 1].min()])
            else:
                for k in range(self.n_entries):
                    idx[k, j] = len(z_bounds)
                    z_bounds.append(self.bounds[k, j])
        self.idx = idx
        self.z_bounds = np.asarray(z_bounds, dtype=float)
        if np.any(self.z_bounds[:, 1] <= self.z_bounds[:, 0]):
            raise FitError("shared parameters have disjoint bounds across entries")
        self.n_free = len(z_bounds)
        self.model_failures = 0

        self._obs_y = list(obs.intensities)
        self._obs_all = np.concatenate(self._obs_y)
        self._weights = np.concatenate([np.full(y.size, 1.0 / r**2)
                                        for y, r in zip(self._obs_y, obs.rms, strict=True)])
        self._identity_layout = bool(np.array_equal(idx.ravel(), np.arange(self.n_free)))
        self._chi2 = losses.chi2
        self._pm = losses.PeakMatchingLoss(obs.rest_freqs, self._obs_y, obs.rms)

    # ------------------------------------------------------------------ layout
    def expand(self, z: np.ndarray) -> np.ndarray:
        """Free parameters (..., n_free) → fit-space entries (..., n_entries, 5)."""
        return np.asarray(z, dtype=float)[..., self.idx]

    def reduce(self, x: np.ndarray) -> np.ndarray:
        """Fit-space entries (..., n_entries, 5) → free parameters (shared ones averaged)."""
        x = np.asarray(x, dtype=float)
        lead = x.shape[:-2]
        z = np.zeros(lead + (self.n_free,))
        count = np.zeros(self.n_free)
        flat_idx = self.idx.ravel()
        np.add.at(count, flat_idx, 1.0)
        xf = x.reshape(lead + (-1,))
        for col, target in enumerate(flat_idx):
            z[..., target] += xf[..., col]
        return z / count

    def sample_uniform(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` free-parameter vectors drawn uniformly within the bounds (n, n_free)."""
        lo, hi = self.z_bounds[:, 0], self.z_bounds[:, 1]
        return lo + rng.random((n, self.n_free)) * (hi - lo)

    # ------------------------------------------------------------------ objective
    def _entries(self, z: np.ndarray) -> np.ndarray:
        """Free parameters → fit-space entries clipped into each entry's bounds."""
        return np.clip(self.expand(z), self.bounds[..., 0], self.bounds[..., 1])

    def spectra(self, z: np.ndarray) -> list[np.ndarray]:
        """Model spectra per window (n_batch, n_chan) for free parameters (n_batch, n_free),
        the base included."""
        out = self.model.from_fit(self._entries(np.atleast_2d(z)))
        if self.base is None:
            return out
        return [m + b for m, b in zip(out, self._base_windows, strict=True)]

    def loss_of_stacked(self, pred: np.ndarray) -> np.ndarray:
        """The chosen loss of model spectra with the windows concatenated,
        (n_batch, n_chan_total) in K → (n_batch,)."""
        if self.loss_name == "chi2":
            resid = pred - self._obs_all
            return np.einsum("ij,ij,j->i", resid, resid, self._weights)
        return self._pm.stacked(pred).loss

    def _stacked_spectra(self, z: np.ndarray) -> np.ndarray:
        out = self.model.stacked_from_fit(self._entries(z))
        return out if self.base is None else out + self.base

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Loss of free-parameter vectors (n_batch, n_free) → (n_batch,).

        If the compiled model fails on a batch (numerical error in the kernel),
        the rows are evaluated one by one and the failing ones get +inf, so the
        optimiser steers away; :attr:`model_failures` counts them.
        """
        z = np.atleast_2d(z)
        try:
            return self.loss_of_stacked(self._stacked_spectra(z))
        except (ArithmeticError, SystemError):
            out = np.full(z.shape[0], np.inf)
            for i, row in enumerate(z):
                try:
                    out[i] = self.loss_of_stacked(self._stacked_spectra(row[None]))[0]
                except (ArithmeticError, SystemError):
                    self.model_failures += 1
            return out

    def linearised(self, z: np.ndarray) -> Callable[[np.ndarray], np.ndarray] | None:
        """The loss of the model linearised at ``z`` with its exact Jacobian:
        ``f(Z) = loss(T(z) + (Z − z) Jᵀ)`` for free-parameter rows Z (n_batch, n_free).

        Agrees with the loss to second order in Z − z at the cost of one Jacobian pass,
        so 3-point differences of it give the loss gradient without 2·n_free model
        evaluations (:func:`~spectuner_nb.optimize.minimize_local`'s ``local_model``).
        None where the Jacobian is unavailable (a numerical failure of the kernel).
        """
        z = np.asarray(z, dtype=float)
        try:
            spectrum, jac = self.jacobian(z)
        except (ArithmeticError, SystemError):
            return None
        return lambda zs: self.loss_of_stacked(linear_rows(spectrum, jac, np.atleast_2d(zs) - z))

    def jacobian(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Model spectrum over all windows (n_chan_total,), base included, and the exact
        Jacobian ∂T/∂z (n_chan_total, n_free), from one kernel pass
        (:meth:`LTEModel.spectrum_and_jacobian`)."""
        spectrum, jac_x = self.model.spectrum_and_jacobian(self._entries(z))
        if self.base is not None:
            spectrum = spectrum + self.base
        if self._identity_layout:
            return spectrum, jac_x
        jac_z = np.zeros((jac_x.shape[0], self.n_free))
        for col, target in enumerate(self.idx.ravel()):
            jac_z[:, target] += jac_x[:, col]
        return spectrum, jac_z

    def chi2_value_and_grad(self, z: np.ndarray) -> tuple[float, np.ndarray]:
        """Noise-weighted χ² and its exact gradient with respect to z."""
        spectrum, jac = self.jacobian(z)
        return losses.chi2_and_gradient(self._obs_all, self._weights, spectrum, jac)

    def laplace_errors(self, z: np.ndarray, free: np.ndarray | None = None) -> np.ndarray:
        """1σ errors of z from the Gauss-Newton Hessian of χ²: cov = (Jᵀ W J)⁻¹ (n_free,).

        Only free parameters enter the Hessian: those where boolean ``free`` is True
        (default: not at a bound), less those pinned by their bounds — a parameter
        whose bound range is narrower than its own 1σ error is fixed by the bounds,
        not by the data: the one with the largest error/range ratio is held fixed and
        the others recomputed, until none is (docs/method.md §7). The fixed ones, and
        any with a non-positive variance, get NaN.
        """
        _, jac = self.jacobian(z)
        free = (~at_bound(z, self.z_bounds) if free is None else np.asarray(free, bool)).copy()
        span = self.z_bounds[:, 1] - self.z_bounds[:, 0]
        while True:
            out = self._gauss_newton_errors(jac, free)
            ratio = np.where(free, np.nan_to_num(out / span, nan=np.inf), 0.0)
            if not np.any(ratio >= 1.0):
                return out
            free[int(np.argmax(ratio))] = False

    def _gauss_newton_errors(self, jac: np.ndarray, free: np.ndarray) -> np.ndarray:
        out = np.full(self.n_free, np.nan)
        if not free.any():
            return out
        j = jac[:, free]
        fisher = j.T @ (self._weights[:, None] * j)
        try:
            cov = np.linalg.inv(fisher)
        except np.linalg.LinAlgError:
            cov = np.linalg.pinv(fisher)
        diag = np.diag(cov)
        out[free] = np.where(diag > 0, np.sqrt(np.abs(diag)), np.nan)
        return out

    def component_spectra(self, x: np.ndarray) -> list[list[np.ndarray]]:
        """Spectra of each entry alone (others at N_tot = 0): list per entry of lists per window."""
        params = self.model.to_physical(np.asarray(x, dtype=float))
        batch = np.repeat(params[None], self.n_entries, axis=0)
        for k in range(self.n_entries):
            batch[k, np.arange(self.n_entries) != k, 2] = 0.0
        spectra = self.model(batch)
        return [[s[k] for s in spectra] for k in range(self.n_entries)]


def _base_spectrum(base, obs: Observation) -> np.ndarray:
    """A fixed spectrum per window (K) as one concatenated array (n_chan_total,)."""
    parts = [base] if isinstance(base, np.ndarray) and base.ndim == 1 else list(base)
    sizes = [f.size for f in obs.rest_freqs]
    if len(parts) != len(sizes) or any(np.shape(b) != (n,) for b, n in zip(parts, sizes,
                                                                           strict=True)):
        raise FitError(f"base must hold one spectrum per window with {sizes} channels")
    out = np.concatenate([np.asarray(b, dtype=float) for b in parts])
    if not np.all(np.isfinite(out)):
        raise FitError("base holds NaN or infinite values")
    return out


def _initial_points(problem: FitProblem, obs: Observation, init, n_init: int,
                    rng: np.random.Generator, seed: int | None) -> tuple[np.ndarray, str]:
    """Initial free-parameter vectors (n, n_free) and a label for the init method."""
    if isinstance(init, str):
        if init == "random":
            return problem.sample_uniform(rng, n_init), "random"
        if init == "policy":
            return problem.reduce(_policy_samples(problem, obs, n_init, seed)), "policy"
        raise FitError(f"init must be 'policy', 'random' or an array, got {init!r}")
    x = np.asarray(init, dtype=float)
    if x.shape[-2:] != (problem.n_entries, N_PARAMS):
        raise FitError(f"init array must be fit-space ({problem.n_entries}, 5) or "
                       f"(n, {problem.n_entries}, 5), got {x.shape}")
    return problem.reduce(x.reshape(-1, problem.n_entries, N_PARAMS)), "array"


def _policy_samples(problem: FitProblem, obs: Observation, n_init: int,
                    seed: int | None) -> np.ndarray:
    """Policy proposals mapped onto the entries: (n_init, n_entries, 5) fit space."""
    try:
        from .policy import Policy

        policy = Policy.load()
    except (ImportError, AttributeError, CheckpointError, FileNotFoundError) as exc:
        raise FitError(
            f"init='policy' needs a trained policy checkpoint, which is not available "
            f"({exc}); use init='random'"
        ) from exc
    samples = np.asarray(policy.propose(obs, problem.species_lines, n_init,
                                        seed=0 if seed is None else seed), dtype=float)
    if samples.shape[-2:] != (len(problem.species_in), N_PARAMS):
        raise FitError(f"policy returned samples of shape {samples.shape}")
    samples = samples.reshape(-1, len(problem.species_in), N_PARAMS)
    # component c of a species takes the proposals shifted by c, so components start apart
    return np.stack([np.roll(samples[:, s], -c, axis=0)
                     for s, c in zip(problem.entry_species, problem.component, strict=True)],
                    axis=1)


def _gradient_kind(gradient: str, loss: str) -> str:
    """The gradient a gradient optimiser gets: "exact", "jacobian" or "3-point"."""
    if gradient == "auto":
        return "exact" if loss == "chi2" else "jacobian"
    return gradient


def check_fit_settings(*, loss: str, optimizer: str, n_init, gradient: str = "auto",
                       seed=None, maxiter=1000, n_trial=3) -> str:
    """Validate the plain settings of :func:`fit_spectrum` (raises :class:`FitError` naming
    the setting); returns the optimizer name in lower case."""
    if loss not in LOSSES:
        raise FitError(f"loss must be one of {LOSSES}, got {loss!r}")
    name = optimizer.lower() if isinstance(optimizer, str) else optimizer
    if name not in OPTIMIZERS:
        raise FitError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if gradient not in GRADIENTS:
        raise FitError(f"gradient must be one of {GRADIENTS}, got {gradient!r}")
    if gradient == "exact" and loss != "chi2":
        raise FitError("an exact gradient exists for loss='chi2' only")
    as_count(n_init, "n_init", maximum=N_INIT_MAX, error=FitError)
    as_seed(seed, error=FitError)
    as_count(maxiter, "maxiter", error=FitError)
    as_count(n_trial, "n_trial", error=FitError)
    return name


def fit_spectrum(
    obs: Observation,
    species: str | Sequence[str],
    *,
    catalog=None,
    loss: str = "pm",
    optimizer: str = "slsqp",
    init="random",
    n_init: int = 50,
    bounds=None,
    seed: int | None = None,
    n_components: int | Sequence[int] = 1,
    shared: Sequence[str] = (),
    gradient: str = "auto",
    n_trial: int = 3,
    maxiter: int = 1000,
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
        "random" (``n_init`` uniform draws within the bounds), "policy" (the
        trained policy's ``n_init`` proposals) or a fit-space array
        (n_entries, 5) / (n, n_entries, 5) of starting points.
    n_init
        Number of initial samples; the best one starts the local optimiser.
    bounds
        Fit-space bounds: None (Table 1), a preset name of
        :data:`~spectuner_nb.parameters.BOUND_PRESETS` ("hot_core", "cold_core") or
        "auto" (:func:`~spectuner_nb.parameters.choose_preset` from the line widths),
        a (5, 2) or (n_entries, 5, 2) array, or a dict overriding Table 1 by name,
        e.g. ``{"v_off": (-5, 5)}``.
    seed
        Seed of the random draws (random init, PSO).
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
    optimizer = check_fit_settings(loss=loss, optimizer=optimizer, n_init=n_init,
                                   gradient=gradient, seed=seed, maxiter=maxiter, n_trial=n_trial)
    n_init = int(n_init)
    problem = FitProblem(obs, species, catalog=catalog, loss=loss, n_components=n_components,
                         shared=shared, bounds=bounds, lines=lines, base=base)
    check_fittable(obs, problem.species_in, problem.species_lines,
                   t_ex_max=float(problem.bounds[:, 1, 1].max()))
    rng = np.random.default_rng(seed)
    timings = {"setup": time.perf_counter() - t0}
    meta: dict = {"seed": seed, "n_free": problem.n_free,
                  "shared": [FIT_NAMES[j] for j in problem.shared]}

    t1 = time.perf_counter()
    if optimizer == "pso":
        x0 = None
        init_label = "none"
        if not (isinstance(init, str) and init == "random"):
            x0, init_label = _initial_points(problem, obs, init, n_init, rng, seed)
        best, _ = pso_trials(problem, problem.z_bounds, n_trial=n_trial, seed=seed, x0=x0,
                             max_iter=maxiter)
        z_best, f_best = best.x, best.fun
        nfev_init, nfev_local, njev = 0, best.nfev, 0
        timings["init"] = 0.0
        timings["local"] = time.perf_counter() - t1
        meta.update(message=best.message, n_trial=n_trial, gradient="none")
    else:
        z0, init_label = _initial_points(problem, obs, init, n_init, rng, seed)
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
                problem, z0[i0], problem.z_bounds, optimizer,
                value_and_grad=problem.chi2_value_and_grad if grad_kind == "exact" else None,
                local_model=problem.linearised if grad_kind == "jacobian" else None,
                maxiter=maxiter, f0=f_best,
                check=loss == "chi2" if check_convergence is None else bool(check_convergence))
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
    extrap = np.array([bool(np.any(ll.partition.is_extrapolated(x_best[k, 1])))
                       for k, ll in enumerate(problem.lines)])
    flags_bound = np.array([at_bound(x_best[k], problem.bounds[k])
                            for k in range(problem.n_entries)])
    return FitResult(
        species=problem.species, component=problem.component, x=x_best, x_err=x_err,
        theta_b_sq=problem.theta_b_sq, loss_name=loss, loss=float(f_best),
        peak_term=float(np.asarray(pm.peak_term)[0]), has_peak=bool(np.asarray(pm.has_peak)[0]),
        chi2=chi2, nfev=int(nfev_init + nfev_local), nfev_init=int(nfev_init),
        nfev_local=int(nfev_local), njev=int(njev), timings=timings, optimizer=optimizer,
        init=init_label, model=[s[0] for s in spectra], at_bound=flags_bound,
        extrapolated_q=extrap, bounds=problem.bounds, obs=obs, meta=meta,
    )
