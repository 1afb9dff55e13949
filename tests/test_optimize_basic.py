"""Bounded local optimisers, nfev accounting, finite differences and particle swarm."""

from __future__ import annotations

import numpy as np
import pytest

from spectuner_nb.errors import FitError
from spectuner_nb.optimize import (
    LOCAL_METHODS,
    CountedObjective,
    UnitBox,
    fd_value_and_grad,
    minimize_local,
)
from spectuner_nb.pso import MIN_ITER, N_PARTICLES, pso, pso_trials

CENTRE = np.array([0.3, -1.2, 40.0])
BOUNDS = np.array([[-2.0, 2.0], [-3.0, 3.0], [1.0, 1000.0]])
SCALE = np.array([1.0, 2.0, 300.0])
"""Bowl widths: very different in caller units, similar (0.25–0.33) on the unit box."""


class Quadratic:
    """A quadratic bowl, badly scaled in caller units, that records every batch it is given."""

    def __init__(self):
        self.rows = 0
        self.batches = []

    def __call__(self, x):
        x = np.atleast_2d(x)
        self.rows += x.shape[0]
        self.batches.append(x.shape[0])
        return np.sum(((x - CENTRE) / SCALE) ** 2, axis=1)

    @staticmethod
    def value_and_grad(x):
        r = (x - CENTRE) / SCALE
        return float(np.sum(r**2)), 2.0 * r / SCALE


@pytest.mark.parametrize("method", LOCAL_METHODS)
def test_local_methods_find_the_minimum_and_count_calls(method):
    fun = Quadratic()
    res = minimize_local(fun, np.array([1.5, 2.0, 900.0]), BOUNDS, method)
    assert np.all(np.abs(res.x - CENTRE) <= 2e-3 * (BOUNDS[:, 1] - BOUNDS[:, 0]))
    assert res.fun < 1e-4
    assert res.nfev == fun.rows  # every model evaluation counted, nothing else
    assert res.time > 0


def test_bounds_are_respected():
    fun = Quadratic()
    bounds = np.array([[0.5, 2.0], [-3.0, 3.0], [1.0, 1000.0]])  # minimum outside in x0
    res = minimize_local(fun, np.array([1.5, 0.0, 10.0]), bounds, "slsqp")
    assert res.x[0] == pytest.approx(0.5, abs=1e-6)


def test_exact_gradient_needs_fewer_model_calls():
    fd = minimize_local(Quadratic(), np.array([1.5, 2.0, 900.0]), BOUNDS, "slsqp")
    exact = minimize_local(
        Quadratic(),
        np.array([1.5, 2.0, 900.0]),
        BOUNDS,
        "slsqp",
        value_and_grad=Quadratic.value_and_grad,
    )
    assert np.all(np.abs(exact.x - CENTRE) <= 1e-3 * (BOUNDS[:, 1] - BOUNDS[:, 0]))
    assert exact.njev > 0 and exact.nfev == exact.njev + 1  # + the scaling evaluation
    assert exact.nfev * 3 < fd.nfev


def test_fd_gradient_is_one_batch_of_2n_plus_1_and_accurate():
    fun = Quadratic()
    box = UnitBox(BOUNDS)
    obj = CountedObjective(fun, box)
    for u in (np.array([0.5, 0.5, 0.5]), np.array([0.0, 1.0, 0.3])):  # interior and at bounds
        fun.batches.clear()
        f, g = fd_value_and_grad(obj.batch, u)
        assert fun.batches == [7]
        _, g_exact = Quadratic.value_and_grad(box.from_unit(u))
        np.testing.assert_allclose(g, g_exact * box.span, rtol=1e-5, atol=1e-8)
        assert f == pytest.approx(Quadratic.value_and_grad(box.from_unit(u))[0])


def test_unknown_method_and_bad_bounds():
    with pytest.raises(FitError, match="unknown optimizer"):
        minimize_local(Quadratic(), CENTRE, BOUNDS, "newton")
    with pytest.raises(FitError, match="bounds"):
        minimize_local(Quadratic(), CENTRE, BOUNDS[:, ::-1], "slsqp")


def rastrigin(x):
    x = np.atleast_2d(x) - 1.0
    return 10.0 * x.shape[1] + np.sum(x**2 - 10.0 * np.cos(2.0 * np.pi * x), axis=1)


def test_pso_finds_the_global_minimum_of_rastrigin():
    calls = []

    def fun(x):
        calls.append(x.shape[0])
        return rastrigin(x)

    best, runs = pso_trials(fun, np.array([[-5.12, 5.12]] * 2), n_trial=3, seed=7)
    np.testing.assert_allclose(best.x, [1.0, 1.0], atol=1e-2)
    assert best.fun < 1e-3
    assert set(calls) == {N_PARTICLES}  # the whole swarm in one batched call per iteration
    assert best.nfev == sum(calls) == sum(r.nfev for r in runs)
    assert all(r.nit >= MIN_ITER for r in runs)


def test_pso_stopping_rule_and_seed():
    a = pso(rastrigin, np.array([[-5.12, 5.12]] * 2), seed=3)
    b = pso(rastrigin, np.array([[-5.12, 5.12]] * 2), seed=3)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.nfev == b.nfev == N_PARTICLES * (a.nit + 1)
    hist = np.asarray(a.history)
    assert a.nit >= MIN_ITER
    assert np.all(np.diff(hist) <= 0)
    if a.nit > MIN_ITER:  # stopped by patience: 15 iterations without improvement
        assert hist[-16] - hist[-1] <= 1e-6 * max(1.0, abs(hist[-16]))


def test_pso_uses_given_starting_particles():
    x0 = np.array([[1.0, 1.0]])
    res = pso(rastrigin, np.array([[-5.12, 5.12]] * 2), x0=x0, seed=0, min_iter=1, patience=1)
    assert res.fun == pytest.approx(0.0, abs=1e-12)
