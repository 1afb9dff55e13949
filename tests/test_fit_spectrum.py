"""fit_spectrum: parameter recovery on mocks, nfev accounting, exact gradient, results I/O."""

from __future__ import annotations

import numpy as np
import pytest
from fit_helpers import real_catalog, w3h2o_cube

from spectuner_nb import losses
from spectuner_nb.errors import CheckpointError, FitError
from spectuner_nb.fit import FitProblem, fit_spectrum
from spectuner_nb.mock import mock_spectrum
from spectuner_nb.observation import Observation
from spectuner_nb.optimize import CountedObjective, UnitBox, fd_value_and_grad
from spectuner_nb.results import FitResult
from spectuner_nb.xclass import read_molfit


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    return real_catalog(tmp_path_factory.mktemp("cat") / "cat.sqlite")


@pytest.fixture(scope="module")
def mock(catalog):
    """HC3N in band 6: one window of 256 channels on a line, high S/N."""
    return mock_spectrum(
        ["HC3N"], band=6, n_windows=1, n_channels=256, rms=0.05, catalog=catalog, seed=2
    )


@pytest.fixture(scope="module")
def near_truth_fit(mock, catalog):
    start = mock.params_fit + np.array([0.15, 30.0, 0.3, 0.1, 0.8])
    return fit_spectrum(mock.obs, mock.species, catalog=catalog, loss="chi2", init=start)


def test_local_fit_recovers_the_truth(mock, near_truth_fit):
    r = near_truth_fit
    assert r.chi2 / mock.obs.n_channels < 1.3  # fits down to the noise
    truth = mock.params_fit[0]
    assert r.x[0, 4] == pytest.approx(truth[4], abs=0.1)  # v_off, km/s
    assert r.x[0, 3] == pytest.approx(truth[3], abs=0.05)  # log10 Δv
    assert r.meta["gradient"] == "exact" and r.njev > 0
    err = r.x_err[0]
    assert np.all(np.isfinite(err[3:])) and np.all(err[3:] > 0)
    assert abs(r.x[0, 4] - truth[4]) < 5 * err[4]  # Laplace errors of a sensible size


def test_nfev_counts_both_stages(mock, catalog):
    r = fit_spectrum(
        mock.obs,
        mock.species,
        catalog=catalog,
        loss="pm",
        optimizer="nelder-mead",
        init="random",
        n_init=20,
        seed=1,
        maxiter=60,
    )
    assert r.nfev_init == 20 and r.nfev == r.nfev_init + r.nfev_local
    assert r.nfev_local > 0 and r.init == "random"
    assert set(r.timings) >= {"setup", "init", "local", "total"}
    # the result is never worse than the best initial sample
    assert r.loss <= r.meta["best_init_loss"]


def test_seeded_random_init_is_reproducible(mock, catalog):
    kw = dict(catalog=catalog, loss="chi2", init="random", n_init=10, seed=5)
    a = fit_spectrum(mock.obs, mock.species, **kw)
    b = fit_spectrum(mock.obs, mock.species, **kw)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.nfev == b.nfev


def test_exact_chi2_gradient_and_value(mock, catalog):
    problem = FitProblem(mock.obs, mock.species, catalog=catalog, loss="chi2")
    z = mock.params_fit[0] + np.array([0.1, -20.0, 0.2, 0.05, 0.5])
    f, g = problem.chi2_value_and_grad(z)
    spectra = problem.spectra(z[None])
    # the value comes from the Jacobian's Gauss-Legendre pass, the spectra from the
    # midpoint-corrected forward pass: the same model to < 1e-5 of the peak
    assert f == pytest.approx(
        float(losses.chi2(list(mock.obs.intensities), spectra, list(mock.obs.rms))[0]), rel=1e-9
    )
    box = UnitBox(problem.z_bounds)
    f_fd, g_fd = fd_value_and_grad(CountedObjective(problem, box).batch, box.to_unit(z))
    np.testing.assert_allclose(g * box.span, g_fd, rtol=2e-3, atol=1e-6 * abs(f))


def test_exact_gradient_saves_model_calls(mock, catalog):
    start = mock.params_fit + np.array([0.15, 30.0, 0.3, 0.1, 0.8])
    exact = fit_spectrum(mock.obs, mock.species, catalog=catalog, loss="chi2", init=start)
    fd = fit_spectrum(
        mock.obs, mock.species, catalog=catalog, loss="chi2", init=start, gradient="3-point"
    )
    assert fd.meta["gradient"] == "3-point" and fd.njev == 0
    assert exact.nfev * 3 < fd.nfev
    assert exact.chi2 <= fd.chi2 * 1.01


def test_linearised_pm_gives_the_finite_difference_gradient(mock, catalog):
    """3-point differences of the linearised model's loss = those of the model itself."""
    problem = FitProblem(mock.obs, mock.species, catalog=catalog, loss="pm")
    z = mock.params_fit[0] + np.array([0.05, -10.0, 0.1, 0.02, 0.3])
    box = UnitBox(problem.z_bounds)
    local = problem.linearised(z)
    assert local(z[None])[0] == pytest.approx(problem(z[None])[0], rel=1e-5)
    u = box.to_unit(z)
    _, g_model = fd_value_and_grad(CountedObjective(problem, box).batch, u)
    _, g_lin = fd_value_and_grad(lambda pts: local(box.from_unit(pts)), u)
    assert np.any(g_model != 0)
    np.testing.assert_allclose(g_lin, g_model, rtol=1e-3, atol=1e-3 * np.abs(g_model).max())
    # second order: a step of 1e-3 of each range moves the loss like the model does
    dz = 1e-3 * box.span
    assert local((z + dz)[None])[0] == pytest.approx(problem((z + dz)[None])[0], rel=1e-3)


def test_jacobian_gradient_for_peak_matching(mock, catalog):
    start = mock.params_fit + np.array([0.15, 30.0, 0.3, 0.1, 0.8])
    auto = fit_spectrum(mock.obs, mock.species, catalog=catalog, loss="pm", init=start)
    fd = fit_spectrum(
        mock.obs, mock.species, catalog=catalog, loss="pm", init=start, gradient="3-point"
    )
    assert auto.meta["gradient"] == "jacobian" and auto.njev > 0
    assert fd.meta["gradient"] == "3-point" and fd.njev == 0
    assert auto.nfev * 2 < fd.nfev
    assert auto.loss <= fd.loss + 1e-2 * abs(fd.loss)  # a flat valley: both end in it
    assert auto.x[0, 4] == pytest.approx(mock.params_fit[0, 4], abs=0.1)


def test_pso_reference_fit(catalog):
    m = mock_spectrum(
        ["HC3N"], band=6, n_windows=1, n_channels=128, rms=0.05, catalog=catalog, seed=0
    )
    r = fit_spectrum(
        m.obs,
        m.species,
        catalog=catalog,
        loss="chi2",
        optimizer="pso",
        n_trial=1,
        init="random",
        seed=3,
    )
    assert r.optimizer == "pso" and r.nfev >= 28 * 101 and r.nfev_init == 0
    assert r.x[0, 4] == pytest.approx(m.params_fit[0, 4], abs=0.3)
    assert r.has_peak


def test_shared_velocity_and_components(catalog):
    m = mock_spectrum(["HC3N", "OCS"], band=6, n_windows=2, n_channels=128, catalog=catalog, seed=4)
    problem = FitProblem(
        m.obs, m.species, catalog=catalog, loss="chi2", shared=("v_off",), n_components=[2, 1]
    )
    assert problem.n_entries == 3 and problem.n_free == 3 * 4 + 1
    assert problem.component == [0, 1, 0]
    x = problem.expand(problem.sample_uniform(np.random.default_rng(0), 4))
    assert x.shape == (4, 3, 5) and np.all(x[:, :, 4] == x[:, :1, 4])
    np.testing.assert_allclose(problem.expand(problem.reduce(x)), x)
    r = fit_spectrum(
        m.obs,
        m.species,
        catalog=catalog,
        loss="chi2",
        shared=("v_off",),
        n_components=[2, 1],
        init="random",
        n_init=5,
        seed=0,
        maxiter=5,
    )
    assert r.species == ["HC3N;v=0;", "HC3N;v=0;", "OCS;v=0;"]
    assert np.ptp(r.x[:, 4]) == 0.0


def test_result_views_and_round_trips(near_truth_fit, tmp_path):
    r = near_truth_fit
    table = r.to_table()
    assert table["theta"].unit == "arcsec" and table["N_tot"].unit == "1 / cm2"
    assert table["T_ex"][0] == pytest.approx(r.params[0, 1])
    assert "HC3N" in repr(r) and "nfev" in repr(r)
    path = tmp_path / "fit.json"
    r.to_json(path)
    again = FitResult.from_json(path)
    np.testing.assert_array_equal(again.x, r.x)
    assert again.nfev == r.nfev and again.obs.n_channels == r.obs.n_channels
    molfit = read_molfit(r.to_molfit(tmp_path / "fit.molfit"))
    np.testing.assert_array_equal(molfit["HC3N;v=0;"].params(), r.params)
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    html = file_html(r.plot(), INLINE, "fit")
    assert "observed" in html


def test_policy_init_is_clear_when_unavailable(mock, catalog):
    try:
        r = fit_spectrum(
            mock.obs, mock.species, catalog=catalog, init="policy", n_init=8, loss="chi2", maxiter=3
        )
    except CheckpointError as exc:
        assert "checkpoint" in str(exc)
    else:
        assert r.init == "policy" and r.nfev_init == 8


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"loss": "l2"}, "loss"),
        ({"optimizer": "adam"}, "optimizer"),
        ({"gradient": "exact", "loss": "pm"}, "exact gradient"),
        ({"gradient": "analytic"}, "gradient must be one of"),
        ({"bounds": np.zeros((3, 2))}, "bounds"),
        ({"bounds": {"v_off": (5, -5)}}, "lower < upper"),
        ({"bounds": {"speed": (0, 1)}}, "unknown bound"),
        ({"init": "magic"}, "init"),
        ({"init": np.zeros((2, 5))}, "init array"),
        ({"shared": ("colour",)}, "cannot share"),
        ({"n_init": 0}, "n_init"),
    ],
)
def test_bad_arguments(mock, catalog, kwargs, message):
    with pytest.raises(FitError, match=message):
        fit_spectrum(mock.obs, mock.species, catalog=catalog, **kwargs)


def test_w3h2o_pixel_fit(catalog):
    obs = Observation.from_cube_pixel(w3h2o_cube(), 15, 15, v_lsr=-48.5)
    r = fit_spectrum(obs, ["HC3N"], catalog=catalog, loss="pm", n_init=50, seed=0)
    assert r.has_peak and r.peak_term < 0  # the HC3N 24–23 line is matched
    assert abs(r.params[0, 4]) < 5.0  # near the systemic velocity
    assert 1.0 < r.params[0, 3] < 15.0  # a hot-core line width


def test_model_failures_become_infinite_loss(mock, catalog, monkeypatch):
    problem = FitProblem(mock.obs, mock.species, catalog=catalog, loss="pm")
    real = problem.model.stacked_from_fit

    def fragile(x):
        if np.any(np.asarray(x)[..., 1] < 2.0):  # a kernel that cannot handle T_ex < 2 K
            raise ZeroDivisionError("division by zero")
        return real(x)

    monkeypatch.setattr(problem.model, "stacked_from_fit", fragile)
    z = np.array([[-1.0, 1.0, 15.0, 0.5, 0.0], [-1.0, 100.0, 15.0, 0.5, 0.0]])
    loss = problem(z)
    assert loss[0] == np.inf and np.isfinite(loss[1]) and problem.model_failures == 1
