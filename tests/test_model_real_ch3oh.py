"""LTE model on real CH3OH lines (CDMS 032504) in the paper's G327 windows."""

from __future__ import annotations

import numpy as np
import pytest

from spectuner_nb.catalog import partition_for_tag, read_spcat
from spectuner_nb.catalog.spcat import to_linelist
from spectuner_nb.losses import PeakMatchingLoss
from spectuner_nb.model import LTEModel
from spectuner_nb.settings import shared_data_dir

G327 = [(215565.0, 217273.0), (217572.0, 219271.0), (229611.0, 231319.0)]
H_K_MHZ = 6.62607015e-34 * 1e6 / 1.380649e-23


@pytest.fixture(scope="module")
def ch3oh():
    shared = shared_data_dir(required=False)
    path = None if shared is None else shared / "catalogs" / "cdms_jpl" / "c032504.cat"
    if path is None or not path.exists():
        pytest.skip("shared CDMS c032504.cat not available")
    full = to_linelist(read_spcat(path), partition_for_tag(32504).partition, species="CH3OH")
    return full.in_windows(G327, pad_kms=0.0)


@pytest.fixture(scope="module")
def windows():
    return [np.linspace(lo, hi, n) for (lo, hi), n in zip(G327, (2918, 2904, 2918), strict=True)]


def test_g327_has_the_papers_59_lines(ch3oh):
    assert len(ch3oh) == 59


def test_thin_limit_integrated_intensity_on_real_lines(ch3oh, windows):
    t_ex, n_tot, beam = 150.0, 1e13, (0.4, 0.3)
    model = LTEModel(windows, [ch3oh], beam=beam, cmb=False)
    spectra = model([[0.5, t_ex, n_tot, 5.0, 0.0]])
    nu = np.asarray(ch3oh.freq)
    tau_hat = (
        35.76033
        * n_tot
        * np.asarray(ch3oh.A_ul)
        * np.asarray(ch3oh.g_u)
        / (float(ch3oh.partition(t_ex)) * nu**2)
        * np.exp(-np.asarray(ch3oh.E_low) / t_ex)
        * -np.expm1(-H_K_MHZ * nu / t_ex)
    )
    s_ex = H_K_MHZ * nu / np.expm1(H_K_MHZ * nu / t_ex)
    eta = 0.25 / (0.25 + 0.12)
    # Lines ≥ 6 σ from an edge keep their whole profile inside a window.
    inner = np.zeros(nu.size, bool)
    for lo, hi in G327:
        inner |= (nu > lo + 5.0) & (nu < hi - 5.0)
    expected = np.sum(eta * s_ex * tau_hat)
    got = sum(s.sum() * (w[1] - w[0]) for s, w in zip(spectra, windows, strict=True))
    edge = np.sum((eta * s_ex * tau_hat)[~inner])
    assert abs(got - expected) <= 1e-4 * expected + edge


def test_real_lines_jacobian_and_loss_run(ch3oh, windows):
    model = LTEModel(windows, [ch3oh], beam=(0.4, 0.3))
    x = np.array([[-0.5, 150.0, 17.0, 0.6, 0.5]])
    spectra, jacs = model.jacobian_fit(x)
    h = 1e-4
    xp, xm = x.copy(), x.copy()
    xp[0, 2] += h
    xm[0, 2] -= h
    fd = [(a - b) / (2 * h) for a, b in zip(model.from_fit(xp), model.from_fit(xm), strict=True)]
    for j, f in zip(jacs, fd, strict=True):
        assert np.max(np.abs(j[:, 2] - f)) < 1e-5 * np.abs(f).max()
    rng = np.random.default_rng(0)
    obs = [s + rng.normal(0, 0.1, s.size) for s in spectra]
    res = PeakMatchingLoss(windows, obs, 0.1)(model.from_fit(np.stack([x, x + [0, 0, 1, 0, 0]])))
    assert res.has_peak.all() and res.loss[0] < res.loss[1]
