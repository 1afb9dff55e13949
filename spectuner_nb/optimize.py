"""Bounded optimisers with forward-model accounting (docs/method.md §4).

Every optimiser here minimises a *batched* objective ``fun(X) -> f`` with
``X`` of shape (n_batch, n_dim) and ``f`` of shape (n_batch,), inside box
bounds (n_dim, 2). Internally the box is mapped onto the unit cube, so the
optimisers see parameters of comparable scale (T_ex spans 1–1000 K while
log10 η spans 3 dex). :class:`CountedObjective` counts forward-model
evaluations (nfev, one per row of ``X``): the paper's cost axis.

Gradients for L-BFGS-B, TNC and SLSQP are the 3-point finite differences of
the paper (2·n_dim model evaluations per gradient, issued as one batched
call), an exact ``value_and_grad(x) -> (f, g)`` supplied by the caller, or the
same 3-point differences taken on a ``local_model(x)`` the caller builds once per
gradient (e.g. the loss of the model linearised with its exact Jacobian). The
last two are counted as one evaluation in ``nfev`` and in ``njev``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .errors import FitError

__all__ = [
    "LOCAL_METHODS",
    "GRADIENT_METHODS",
    "NM_STEP",
    "FD_STEP",
    "OptimizeResult",
    "UnitBox",
    "CountedObjective",
    "fd_value_and_grad",
    "reflect_unit",
    "minimize_local",
]

LOCAL_METHODS: tuple[str, ...] = ("nelder-mead", "cobyla", "cobyqa", "l-bfgs-b", "tnc", "slsqp")
"""Local optimisers accepted by :func:`minimize_local` (lower case)."""
GRADIENT_METHODS: frozenset[str] = frozenset({"l-bfgs-b", "tnc", "slsqp"})
"""Local optimisers that use a gradient."""
OPTIMIZERS: tuple[str, ...] = LOCAL_METHODS + ("pso", "none")
"""Accepted ``optimizer`` values of :func:`~spectuner_nb.fit.fit_spectrum`; "none" returns the
best initial sample (e.g. the policy alone)."""

BatchObjective = Callable[[np.ndarray], np.ndarray]
ValueAndGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]
LocalModel = Callable[[np.ndarray], BatchObjective | None]

NM_STEP: float = 0.1
"""Edge of the initial Nelder-Mead simplex in unit-box coordinates."""
_NON_FINITE: float = 1e300
"""What a scalar objective returns instead of a non-finite value (scipy needs finite ones)."""
FD_STEP: float = 1e-6
"""Finite-difference step in unit-cube coordinates (about (machine ε)^(1/3) · range/100)."""
MAX_PASSES: int = 5
"""Most passes of a gradient optimiser (see :func:`minimize_local`)."""
STALE_SCALE: float = 2.0
"""Without the check, a pass that lowers the loss by more than this factor is followed by
another (its tolerance, relative to its starting value, was too loose where it ended)."""
CONVERGED_RTOL: float = 1e-6
"""A gradient optimiser has converged when a pass restarted from its best point lowers the
loss by no more than this fraction of it (see :func:`minimize_local`)."""


@dataclass
class OptimizeResult:
    """Outcome of one optimisation.

    Attributes
    ----------
    x
        Best parameters found (n_dim,), in the caller's units.
    fun
        Objective at ``x``.
    nfev
        Forward-model evaluations (rows passed to the objective, plus exact
        gradient calls).
    njev
        Exact-gradient evaluations (also counted in ``nfev``).
    nit
        Iterations reported by the optimiser.
    success, message
        As reported by the optimiser.
    time
        Wall time, s.
    history
        Optional per-iteration best values (PSO).
    """

    x: np.ndarray
    fun: float
    nfev: int
    njev: int = 0
    nit: int = 0
    success: bool = True
    message: str = ""
    time: float = 0.0
    history: list[float] = field(default_factory=list)


class UnitBox:
    """Affine map between box bounds (n_dim, 2) and the unit cube."""

    def __init__(self, bounds: np.ndarray) -> None:
        b = np.asarray(bounds, dtype=float)
        if b.ndim != 2 or b.shape[1] != 2 or np.any(~np.isfinite(b)) or np.any(b[:, 1] <= b[:, 0]):
            raise FitError(f"bounds must be finite (n_dim, 2) with lower < upper, got {b}")
        self.lower = b[:, 0]
        self.span = b[:, 1] - b[:, 0]

    @property
    def n_dim(self) -> int:
        """Number of parameters."""
        return self.lower.size

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        """Caller units → unit cube (no clipping)."""
        return (np.asarray(x, dtype=float) - self.lower) / self.span

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Unit cube → caller units."""
        return self.lower + np.asarray(u, dtype=float) * self.span


class CountedObjective:
    """A batched objective that counts evaluations and remembers the best point seen.

    Parameters
    ----------
    fun
        ``fun(X) -> f`` with X (n_batch, n_dim) in caller units.
    box
        The bounds as a :class:`UnitBox`; ``__call__`` takes unit-cube points.
    """

    def __init__(self, fun: BatchObjective, box: UnitBox) -> None:
        self.fun = fun
        self.box = box
        self.nfev = 0
        self.njev = 0
        self.best_x: np.ndarray | None = None
        self.best_f = np.inf

    def _record(self, u: np.ndarray, f: np.ndarray) -> None:
        finite = np.where(np.isfinite(f), f, np.inf)
        i = int(np.argmin(finite))
        if finite[i] < self.best_f:
            self.best_f = float(finite[i])
            self.best_x = np.array(u[i], dtype=float)

    def batch(self, u: np.ndarray) -> np.ndarray:
        """Objective of unit-cube points (n_batch, n_dim); non-finite values become +inf."""
        u = np.atleast_2d(np.asarray(u, dtype=float))
        f = np.asarray(self.fun(self.box.from_unit(np.clip(u, 0.0, 1.0))), dtype=float).ravel()
        if f.size != u.shape[0]:
            raise FitError(f"objective returned {f.size} values for {u.shape[0]} points")
        self.nfev += u.shape[0]
        f = np.where(np.isfinite(f), f, np.inf)
        self._record(u, f)
        return f

    def __call__(self, u: np.ndarray) -> float:
        """Objective of one unit-cube point (non-finite values become a huge finite one)."""
        value = float(self.batch(u[None, :])[0])
        return value if np.isfinite(value) else _NON_FINITE


def fd_value_and_grad(
    batch: BatchObjective, u: np.ndarray, step: float = FD_STEP, f0: float | None = None
) -> tuple[float, np.ndarray]:
    """Value and 3-point finite-difference gradient in unit coordinates (one batched call).

    ``batch(U) -> f`` evaluates unit-cube points (e.g. :meth:`CountedObjective.batch`).
    Central differences, switched to one-sided 3-point stencils
    (f(u), f(u±h), f(u±2h)) at the bounds; 2·n_dim + 1 evaluations, or 2·n_dim
    when the value ``f0`` at ``u`` is given.
    """
    n = u.size
    points = [] if f0 is not None else [u]
    signs = np.where(u + step > 1.0, -1.0, np.where(u - step < 0.0, 1.0, 0.0))
    for i in range(n):
        e = np.zeros(n)
        if signs[i] == 0.0:
            e[i] = step
            points += [u + e, u - e]
        else:
            e[i] = signs[i] * step
            points += [u + e, u + 2.0 * e]
    f = np.asarray(batch(np.asarray(points)), dtype=float)
    if f0 is None:
        f0, f = f[0], f[1:]
    if f0 >= _NON_FINITE:  # the objective maps non-finite values to +inf or _NON_FINITE
        return _NON_FINITE, np.zeros(n)
    pairs = f.reshape(n, 2)
    central = (pairs[:, 0] - pairs[:, 1]) / (2.0 * step)
    one_sided = (-3.0 * f0 + 4.0 * pairs[:, 0] - pairs[:, 1]) / (2.0 * step * signs + (signs == 0))
    grad = np.where(signs == 0.0, central, one_sided)
    return float(f0), np.where(np.isfinite(grad), grad, 0.0)


class _LazyFDGrad:
    """The value wherever the optimiser asks for one; the finite-difference gradient only
    where it asks for a gradient (SLSQP's line search evaluates ≈ 2 trial points per
    accepted one: computing a stencil at each would cost 2·n_dim extra evaluations there).

    With ``local_model``, the stencil is evaluated on ``local_model(x)`` (one counted
    evaluation) instead of the objective itself; when it returns None, on the objective.
    """

    def __init__(self, obj: CountedObjective, local_model: LocalModel | None = None) -> None:
        self.obj = obj
        self.local_model = local_model
        self.u: np.ndarray | None = None
        self.value = 0.0

    def fun(self, u: np.ndarray) -> float:
        if self.u is None or not np.array_equal(u, self.u):
            self.value = self.obj(np.array(u, dtype=float))
            self.u = np.array(u, dtype=float)
        return self.value

    def jac(self, u: np.ndarray) -> np.ndarray:
        u = np.array(u, dtype=float)
        f0 = self.fun(u)
        box = self.obj.box
        approx = None
        if f0 < _NON_FINITE and self.local_model is not None:
            approx = self.local_model(box.from_unit(np.clip(u, 0.0, 1.0)))
        if approx is None:
            return fd_value_and_grad(self.obj.batch, u, f0=f0)[1]
        self.obj.nfev += 1
        self.obj.njev += 1
        # the surrogate equals the objective at u (T(z) + J·0), so f0 is its centre value
        return fd_value_and_grad(
            lambda pts: approx(box.from_unit(np.clip(pts, 0.0, 1.0))), u, f0=f0
        )[1]


class _GradCache:
    """Evaluate value and gradient together once per point (scipy asks for them separately)."""

    def __init__(self, fn: Callable[[np.ndarray], tuple[float, np.ndarray]]) -> None:
        self.fn = fn
        self.u: np.ndarray | None = None
        self.value = 0.0
        self.grad: np.ndarray | None = None

    def _eval(self, u: np.ndarray) -> None:
        if self.u is None or not np.array_equal(u, self.u):
            self.value, self.grad = self.fn(np.array(u, dtype=float))
            self.u = np.array(u, dtype=float)

    def fun(self, u: np.ndarray) -> float:
        self._eval(u)
        return self.value

    def jac(self, u: np.ndarray) -> np.ndarray:
        self._eval(u)
        assert self.grad is not None  # set by _eval
        return self.grad


def reflect_unit(v: np.ndarray) -> np.ndarray:
    """Mirror any point into the unit box (triangle wave of period 2; identity on [0, 1])."""
    return 1.0 - np.abs(np.mod(v, 2.0) - 1.0)


def _inward_simplex(u0: np.ndarray, step: float) -> np.ndarray:
    """Initial Nelder-Mead simplex: u0 plus ``step`` along each axis, pointing into the box.

    scipy's default (5 % of each coordinate) is tiny near 0 and leaves the box near 1.
    """
    steps = np.where(u0 + step <= 1.0, step, -step)
    return np.vstack([u0, u0 + np.diag(steps)])


def _gradient_passes(
    obj: CountedObjective,
    cache: _GradCache | _LazyFDGrad,
    u0: np.ndarray,
    f0: float,
    method: str,
    maxiter: int,
    kwargs: dict,
    check: bool = True,
):
    """Run a scipy gradient method in passes; returns (last scipy result, total iterations).

    scipy's gradient methods stall on objectives of order 1e5 (e.g. χ² with many
    channels), so each pass divides the loss by its value at the pass's start. Their
    stopping tolerances are then relative to that value, and SLSQP also stops when one
    step changes the loss by less than its tolerance: in a long curved valley (log N
    against T_ex of optically thick lines) its first, steepest-descent step from a new
    start can be that small far from the minimum. So a pass's own report of success is
    checked: an L-BFGS-B pass (a unit-length first step, a relative stopping tolerance of
    2.2e-9) from the best point seen, rescaled. If it lowers the loss by more than
    :data:`CONVERGED_RTOL` of its value the fit was not converged, and passes continue from
    there, up to :data:`MAX_PASSES` and ``maxiter`` iterations in all. ``success`` of the
    result is True only when a check found nothing to gain. With ``check=False`` a pass's
    own report is taken (and a pass that lowered the loss by over :data:`STALE_SCALE` is
    followed by another).
    """
    from scipy.optimize import minimize

    def run(name: str, u: np.ndarray, f_start: float, budget: int):
        scale = 1.0 / max(abs(f_start), 1.0)
        options = {"maxfun": budget} if name == "tnc" else {"maxiter": budget}
        res = minimize(
            lambda v: cache.fun(v) * scale,
            u,
            jac=lambda v: cache.jac(v) * scale,
            method=name.upper(),
            options=options,
            **kwargs,
        )
        return res, int(getattr(res, "nit", 0) or 0)

    u, f_start, nit, n_pass, converged = u0, float(f0), 0, 0, False
    while n_pass < MAX_PASSES and nit < maxiter:
        n_pass += 1
        res, n = run(method, u, f_start, max(maxiter - nit, 1))
        nit += n
        if obj.best_x is None or (not res.success and obj.best_f >= f_start):
            break  # no finite value seen, or failed without progress: nothing to restart from
        u, f_before, f_start = obj.best_x, f_start, obj.best_f
        if res.success and not check:
            converged = f_before <= STALE_SCALE * max(abs(f_start), 1.0)
            if converged:
                break
        elif res.success:
            _, n = run("l-bfgs-b", u, f_start, max(maxiter - nit, 1))
            nit += n
            converged = f_start - obj.best_f <= CONVERGED_RTOL * max(abs(f_start), 1.0)
            if converged or obj.best_x is None:
                break
            u, f_start = obj.best_x, obj.best_f
    res.success = converged
    if not converged:
        why = (
            "the iteration limit"
            if nit >= maxiter
            else f"the loss still fell after {n_pass} passes"
            if n_pass >= MAX_PASSES
            else "the optimiser's own report"
        )
        res.message = (
            f"{res.message} (stopped before converging: {why}; {n_pass} pass(es), {nit} iterations)"
        )
    return res, nit


def minimize_local(
    fun: BatchObjective,
    x0: np.ndarray,
    bounds: np.ndarray,
    method: str = "slsqp",
    *,
    value_and_grad: ValueAndGrad | None = None,
    local_model: LocalModel | None = None,
    maxiter: int = 1000,
    tol: float | None = None,
    f0: float | None = None,
    check: bool = True,
) -> OptimizeResult:
    """Minimise ``fun`` from ``x0`` within ``bounds`` with a scipy local optimiser.

    Parameters
    ----------
    fun
        Batched objective ``fun(X) -> f``, X (n_batch, n_dim) in caller units.
    x0
        Start (n_dim,), clipped into the bounds.
    bounds
        (n_dim, 2) lower/upper bounds.
    method
        One of :data:`LOCAL_METHODS` (case-insensitive).
    value_and_grad
        Exact ``(f, ∂f/∂x)`` at one point (caller units); used by the gradient
        methods instead of 3-point finite differences.
    local_model
        ``local_model(x)`` (caller units) returns a batched objective that agrees with
        ``fun`` near x to second order, or None; the gradient methods take their 3-point
        differences on it (one call per gradient, counted as one evaluation) instead of
        on ``fun``. The optimiser's steps and the result still use ``fun``.
    maxiter, tol
        Passed to scipy.
    f0
        The objective at ``x0`` when the caller has it already (saves one evaluation;
        it is not counted again in ``nfev``).
    check
        Gradient methods: check each reported convergence with an L-BFGS-B pass and
        continue while it still lowers the loss (see ``_gradient_passes``); ``success`` then
        means converged. False: trust the optimiser's report (cheaper on losses that are
        only piecewise smooth, such as peak matching).

    Returns
    -------
    OptimizeResult
        The best point seen during the run (not only the last iterate).
    """
    from scipy.optimize import Bounds, minimize

    method = method.lower()
    if method not in LOCAL_METHODS:
        raise FitError(f"unknown optimizer {method!r}; choose from {', '.join(LOCAL_METHODS)}")
    box = UnitBox(bounds)
    obj = CountedObjective(fun, box)
    u0 = np.clip(box.to_unit(np.asarray(x0, dtype=float).ravel()), 0.0, 1.0)
    if u0.size != box.n_dim:
        raise FitError(f"x0 has {u0.size} parameters, bounds have {box.n_dim}")
    start = time.perf_counter()
    kwargs: dict = {"bounds": Bounds(np.zeros(box.n_dim), np.ones(box.n_dim)), "tol": tol}
    options: dict = {"maxiter": maxiter}
    if method in GRADIENT_METHODS:
        if f0 is None or not np.isfinite(f0):
            f0 = obj(u0)
        else:
            obj._record(u0[None, :], np.array([f0], dtype=float))
        if value_and_grad is not None:

            def exact(u: np.ndarray) -> tuple[float, np.ndarray]:
                f, g = value_and_grad(box.from_unit(np.clip(u, 0.0, 1.0)))
                obj.nfev += 1
                obj.njev += 1
                obj._record(u[None, :], np.asarray([f], dtype=float))
                if not np.isfinite(f):
                    return _NON_FINITE, np.zeros(u.size)
                return float(f), np.asarray(g, dtype=float) * box.span

            cache: _GradCache | _LazyFDGrad = _GradCache(exact)
        else:
            cache = _LazyFDGrad(obj, local_model)
        res, nit = _gradient_passes(obj, cache, u0, f0, method, maxiter, kwargs, check)
    else:
        if method == "nelder-mead":
            # unbounded simplex on a mirrored box: clipping at a bound would collapse it
            options.update(
                maxfev=maxiter * box.n_dim,
                adaptive=box.n_dim > 5,
                initial_simplex=_inward_simplex(u0, NM_STEP),
            )
            res = minimize(
                lambda v: obj(reflect_unit(v)), u0, method="Nelder-Mead", options=options, tol=tol
            )
        else:  # COBYLA/COBYQA: trust region of a tenth of the unit box, not all of it
            options.update({"rhobeg" if method == "cobyla" else "initial_tr_radius": 0.1})
            res = minimize(obj, u0, method=method.upper(), options=options, **kwargs)
        nit = int(getattr(res, "nit", 0) or 0)
    elapsed = time.perf_counter() - start
    if obj.best_x is None:
        raise FitError(f"{method}: the objective never returned a finite value")
    return OptimizeResult(
        x=box.from_unit(obj.best_x),
        fun=obj.best_f,
        nfev=obj.nfev,
        njev=obj.njev,
        nit=nit,
        success=bool(res.success),
        message=str(res.message),
        time=elapsed,
    )
