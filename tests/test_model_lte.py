"""LTE model: analytic limits, conventions, inputs and the exact Jacobian (docs/method.md §2)."""

from __future__ import annotations

import numpy as np
import pytest

from spectuner_nb._lte_kernels import linear_rows
from spectuner_nb.catalog import LineList, PartitionFunction
from spectuner_nb.errors import ModelInputError
from spectuner_nb.model import LTEModel, channel_edges, lte_spectra
from spectuner_nb.parameters import fit_to_physical, physical_to_fit

H_K_MHZ = 6.62607015e-34 * 1e6 / 1.380649e-23  # h/k, K per MHz
C_KMS = 299792.458
T_CMB = 2.726


def planck(nu, t):
    return H_K_MHZ * nu / np.expm1(H_K_MHZ * nu / t)


def lines_dict(freq, a_ul=None, e_low=None, g_u=None):
    freq = np.atleast_1d(np.asarray(freq, float))
    n = freq.size
    t = np.geomspace(2.0, 1500.0, 30)
    return {
        "freq": freq,
        "A_ul": np.full(n, 3e-5) if a_ul is None else np.asarray(a_ul, float),
        "E_low": np.linspace(10.0, 80.0, n) if e_low is None else np.asarray(e_low, float),
        "g_u": np.full(n, 9.0) if g_u is None else np.asarray(g_u, float),
        "Q_T": (t, 0.5 * t**1.5),
    }


def tau_hat(lines, t_ex, n_tot):
    """Integrated opacity (MHz) with docs/method.md's numerical constant, written independently."""
    nu = lines["freq"]
    q = 0.5 * t_ex**1.5
    return (
        35.76033
        * n_tot
        * lines["A_ul"]
        * lines["g_u"]
        / (q * nu**2)
        * np.exp(-lines["E_low"] / t_ex)
        * (1 - np.exp(-H_K_MHZ * nu / t_ex))
    )


def grid(f0, f1, df):
    return np.arange(f0, f1 + 0.5 * df, df)


def test_channel_edges_half_spacing_outside():
    lo, hi = channel_edges(np.array([1.0, 2.0, 4.0]))
    np.testing.assert_allclose(lo, [0.5, 1.5, 3.0])
    np.testing.assert_allclose(hi, [1.5, 3.0, 5.0])


def test_optically_thin_integrated_intensity():
    lines = lines_dict([230000.0, 230100.0])
    f = grid(229900.0, 230200.0, 0.2)
    t_ex, n_tot, t_bg = 80.0, 1e12, 3.0
    spec = lte_spectra([f], [lines], [[1.5, t_ex, n_tot, 2.0, 0.0]], beam=(1.0, 2.0), T_bg=t_bg)[0]
    eta = 1.5**2 / (1.5**2 + 2.0)
    diff = planck(lines["freq"], t_ex) - t_bg - planck(lines["freq"], T_CMB)
    expected = np.sum(eta * diff * tau_hat(lines, t_ex, n_tot))
    assert abs(spec.sum() * 0.2 / expected - 1) < 1e-4


def test_optically_thick_peak_and_cmb_switch():
    nu0 = 100000.0
    lines = lines_dict([nu0])
    f = grid(nu0 - 20, nu0 + 20, 0.01)
    p = [[2.0, 25.0, 1e20, 10.0, 0.0]]
    for cmb in (True, False):
        spec = lte_spectra([f], [lines], p, beam=(1.0, 1.0), T_bg=4.0, cmb=cmb)[0]
        expected = 0.8 * (planck(nu0, 25.0) - 4.0 - (planck(nu0, T_CMB) if cmb else 0.0))
        assert spec[np.argmin(np.abs(f - nu0))] == pytest.approx(expected, rel=1e-7)


def test_absorption_against_bright_background():
    lines = lines_dict([100000.0])
    f = grid(99990, 100010, 0.01)
    spec = lte_spectra([f], [lines], [[1e4, 10.0, 1e20, 5.0, 0.0]], beam=(1.0, 1.0), T_bg=50.0)[0]
    centre = spec[np.argmin(np.abs(f - 1e5))]
    assert centre == pytest.approx(planck(1e5, 10.0) - 50.0 - planck(1e5, T_CMB), rel=1e-7)


def test_tau_linear_in_column_density_and_opacities_add_within_species():
    lines = lines_dict([100000.0, 100000.0])  # two coincident lines in one species
    f = grid(99990, 100010, 0.05)
    model = LTEModel([f], [lines], beam=(1.0, 1.0))
    p = np.array([[[1.0, 50.0, 1e15, 2.0, 0.0]], [[1.0, 50.0, 1e16, 2.0, 0.0]]])
    tau = model.opacity(p)[0]
    # Linear to the quadrature precision (the sub-grid adapts to saturation: < 1e-5 of the peak).
    np.testing.assert_allclose(tau[1], 10.0 * tau[0], rtol=1e-12, atol=1e-5 * tau[1].max())
    # Opacities add within the species: intensity follows 1 − exp(−Σ τ), not Σ (1 − exp(−τ)).
    single = LTEModel([f], [lines_dict([100000.0], e_low=[10.0])], beam=(1.0, 1.0))
    one = single.opacity(np.array([[1.0, 50.0, 1e16, 2.0, 0.0]]))[0][0]
    both = model(p[1])[0]
    eta = 0.5
    center = np.argmax(both)
    assert tau[1][0, center] > one[center]  # two lines' opacity in one profile
    expected = eta * (planck(1e5, 50.0) - planck(1e5, T_CMB)) * (1 - np.exp(-tau[1][0, center]))
    assert both[center] == pytest.approx(expected, rel=2e-3)  # channel mean vs mean τ


def test_intensities_add_across_species():
    a, b = lines_dict([100000.0]), lines_dict([100001.0])
    f = grid(99990, 100010, 0.05)
    pa, pb = [1.0, 50.0, 1e17, 3.0, 0.0], [2.0, 30.0, 1e17, 3.0, 1.0]
    both = lte_spectra([f], [a, b], [pa, pb], beam=(1.0, 1.0))[0]
    sa = lte_spectra([f], [a], [pa], beam=(1.0, 1.0))[0]
    sb = lte_spectra([f], [b], [pb], beam=(1.0, 1.0))[0]
    # Equal to the quadrature precision (each call adapts its sub-grid to its lines).
    np.testing.assert_allclose(both, sa + sb, rtol=1e-12, atol=1e-5 * both.max())


def test_huge_source_fills_beam_and_single_dish_beam_per_frequency():
    nu0 = 100000.0
    lines = lines_dict([nu0])
    f = grid(nu0 - 10, nu0 + 10, 0.01)
    big = lte_spectra([f], [lines], [[1e6, 30.0, 1e20, 5.0, 0.0]], beam=12.0)[0]
    centre = np.argmin(np.abs(f - nu0))
    assert big[centre] == pytest.approx(planck(nu0, 30.0) - planck(nu0, T_CMB), rel=1e-8)
    # Dish of 12 m: θ_b = 1.22 c/(ν D); a source of that size has η = 1/2.
    theta_b = 1.22 * 299792458.0 / (nu0 * 1e6 * 12.0) * 206264.80624709636
    half = lte_spectra([f], [lines], [[theta_b, 30.0, 1e20, 5.0, 0.0]], beam=12.0)[0]
    assert half[centre] == pytest.approx(0.5 * (planck(nu0, 30.0) - planck(nu0, T_CMB)), rel=1e-7)


def test_velocity_offset_moves_line_to_lower_frequency():
    nu0 = 100000.0
    f = grid(nu0 - 30, nu0 + 30, 0.01)
    spec = lte_spectra([f], [lines_dict([nu0])], [[1.0, 30.0, 1e14, 1.0, 30.0]], beam=(1.0, 1.0))[0]
    assert f[np.argmax(spec)] == pytest.approx(nu0 * (1 - 30.0 / C_KMS), abs=0.006)


@pytest.mark.parametrize("dv,n_tot", [(0.32, 1e14), (0.32, 1e18), (3.0, 1e17), (30.0, 1e19)])
def test_channel_average_converges(dv, n_tot):
    """Coarse channels equal the average of a much finer evaluation to < 1e-4 of the peak."""
    lines = lines_dict([230000.0, 230003.0])
    df = 0.5
    f = grid(229990.0, 230010.0, df)
    p = [[1.0, 60.0, n_tot, dv, 0.7]]
    coarse = lte_spectra([f], [lines], p, beam=(1.0, 1.0))[0]
    n_fine = 400
    fine_f = (f[:, None] - df / 2 + (np.arange(n_fine) + 0.5) * df / n_fine).ravel()
    fine = lte_spectra([fine_f], [lines], p, beam=(1.0, 1.0))[0].reshape(f.size, n_fine).mean(1)
    assert np.max(np.abs(coarse - fine)) < 1e-4 * np.max(np.abs(coarse))


def test_line_just_outside_window_adds_its_wing():
    lines = lines_dict([100010.5])
    wide = grid(99990.0, 100020.0, 0.1)
    narrow = wide[wide <= 100010.0]
    p = [[1.0, 40.0, 1e15, 10.0, 0.0]]
    s_wide = lte_spectra([wide], [lines], p, beam=(1.0, 1.0))[0]
    s_narrow = lte_spectra([narrow], [lines], p, beam=(1.0, 1.0))[0]
    assert s_narrow[-1] > 0.5 * s_wide.max()
    # Interior channels agree (edges differ only at the last channel; S(ν) tables to 1e-8).
    np.testing.assert_allclose(s_narrow[:-1], s_wide[: narrow.size - 1], rtol=1e-7)


def test_batch_windows_background_and_linelist_input():
    la = lines_dict([100000.0, 100020.0])
    ll = LineList.from_mapping("X", la)
    w1, w2 = grid(99990, 100005, 0.1), grid(100015, 100030, 0.2)
    rng = np.random.default_rng(3)
    p = np.column_stack(
        [
            rng.uniform(0.5, 3, 7),
            rng.uniform(10, 200, 7),
            10 ** rng.uniform(13, 18, 7),
            rng.uniform(0.5, 8, 7),
            rng.uniform(-5, 5, 7),
        ]
    )[:, None, :]
    t_bg = [1.0, np.linspace(2.0, 3.0, w2.size)]
    model = LTEModel([w1, w2], [ll], beam=(0.8, 0.6), T_bg=t_bg)
    batch = model(p)
    for i in range(p.shape[0]):
        one = lte_spectra([w1, w2], [la], p[i], beam=(0.8, 0.6), T_bg=t_bg)
        np.testing.assert_allclose(batch[0][i], one[0], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(batch[1][i], one[1], rtol=1e-13, atol=1e-15)
    # A constant per-channel background equals the scalar.
    same = lte_spectra([w1], [la], p[0], beam=(0.8, 0.6), T_bg=[np.full(w1.size, 1.0)])[0]
    np.testing.assert_allclose(same, batch[0][0], rtol=1e-14)


def test_quantities_and_radio_beam_at_the_edges():
    import astropy.units as u
    from radio_beam import Beam

    lines = lines_dict([100000.0])
    f = grid(99995, 100005, 0.1)
    p = [[1.0, 40.0, 1e15, 2.0, 0.0]]
    ref = lte_spectra([f], [lines], p, beam=(1.0, 0.5))[0]
    alt = lte_spectra([f / 1e3 * u.GHz], [lines], p, beam=Beam(1.0 * u.arcsec, 0.5 * u.arcsec))[0]
    np.testing.assert_allclose(alt, ref, rtol=1e-12)
    dish = lte_spectra([f], [lines], p, beam=12.0 * u.m)[0]
    np.testing.assert_allclose(dish, lte_spectra([f], [lines], p, beam=12.0)[0], rtol=1e-14)


def test_zero_source_or_column_gives_zero():
    f = grid(99995, 100005, 0.1)
    model = LTEModel([f], [lines_dict([100000.0])], beam=(1.0, 1.0), T_bg=5.0)
    out = model(np.array([[[0.0, 40.0, 1e15, 2.0, 0.0]], [[1.0, 40.0, 0.0, 2.0, 0.0]]]))[0]
    assert np.all(out == 0.0)


@pytest.mark.parametrize(
    "row",
    [
        [np.nan, 40.0, 1e15, 2.0, 0.0],
        [1.0, 40.0, np.inf, 2.0, 0.0],
        [-1.0, 40.0, 1e15, 2.0, 0.0],
        [1.0, 0.0, 1e15, 2.0, 0.0],
        [1.0, 40.0, -1e15, 2.0, 0.0],
        [1.0, 40.0, 1e15, 0.0, 0.0],
        [1.0, 40.0, 1e15, 2.0, 4e5],
    ],
)
def test_invalid_parameters_raise(row):
    f = grid(99995, 100005, 0.1)
    with pytest.raises(ModelInputError):
        lte_spectra([f], [lines_dict([100000.0])], [row], beam=(1.0, 1.0))


def test_invalid_shapes_and_inputs_raise():
    f = grid(99995, 100005, 0.1)
    lines = lines_dict([100000.0])
    model = LTEModel([f], [lines], beam=(1.0, 1.0))
    for bad in (np.ones(5), np.ones((2, 5)), np.ones((3, 2, 5)), np.ones((1, 4))):
        with pytest.raises(ModelInputError):
            model(bad)
    with pytest.raises(ModelInputError):
        LTEModel([f[::-1]], [lines], beam=(1.0, 1.0))
    with pytest.raises(ModelInputError):
        LTEModel([f[:1]], [lines], beam=(1.0, 1.0))
    with pytest.raises(ModelInputError):
        LTEModel([f], [lines], beam=(1.0, -1.0))
    with pytest.raises(ModelInputError):
        LTEModel([f], [lines], beam=(1.0, 1.0), T_bg=[1.0, 2.0])
    with pytest.raises(ModelInputError):
        LTEModel([f], [{"freq": [1.0]}], beam=(1.0, 1.0))
    with pytest.raises(ModelInputError):
        LTEModel([f], [dict(lines, A_ul=[np.nan])], beam=(1.0, 1.0))
    with pytest.raises(ModelInputError):
        model.from_fit([[0.0, 40.0, 15.0, 0.3, 0.0]])  # η = 1 has no finite size
    with pytest.raises(ModelInputError):
        model.jacobian_fit(np.zeros((2, 5)))
    with pytest.raises(ModelInputError):
        model.spectrum_and_jacobian(np.array([[0.0, 40.0, 15.0, 0.3, 0.0]]))  # η = 1


def test_from_fit_uses_parameters_conversion():
    f = grid(99995, 100005, 0.1)
    model = LTEModel([f], [lines_dict([100000.0])], beam=12.0)
    p = np.array([[1.3, 40.0, 1e15, 2.0, 0.5]])
    x = physical_to_fit(p, model.theta_b_sq_ref)
    np.testing.assert_allclose(model.from_fit(x)[0], model(p)[0], rtol=1e-12)


def test_stacked_spectra_and_linearised_rows():
    la = lines_dict([100000.0, 100004.0], a_ul=[2e-5, 5e-5], e_low=[5.0, 120.0])
    windows = [grid(99990, 100003, 0.15), grid(100003.1, 100012, 0.3)]
    model = LTEModel(windows, [la], beam=(0.9, 0.7))
    x = np.array([[[-0.4, 35.0, 16.5, 0.4, 1.2]], [[-1.0, 80.0, 15.5, 0.2, -1.0]]])
    stacked = model.stacked_from_fit(x)
    np.testing.assert_array_equal(stacked, np.concatenate(model.from_fit(x), axis=1))
    with pytest.raises(ModelInputError, match="batch"):
        model.stacked_from_fit(x[0])
    spectrum, jac = model.spectrum_and_jacobian(x[0])
    dz = np.array([[0.0] * 5, [1e-3, 0.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.1, 0.0, 0.3]])
    np.testing.assert_allclose(
        linear_rows(spectrum, jac, dz), spectrum + dz @ jac.T, rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("beam,t_bg,cmb", [((0.9, 0.7), 2.0, True), (12.0, 0.0, False)])
def test_jacobian_matches_finite_differences(beam, t_bg, cmb):
    la = lines_dict([100000.0, 100004.0], a_ul=[2e-5, 5e-5], e_low=[5.0, 120.0])
    lb = lines_dict([100002.0])
    windows = [grid(99990, 100003, 0.15), grid(100003.1, 100012, 0.3)]
    model = LTEModel(windows, [la, lb], beam=beam, T_bg=t_bg, cmb=cmb)
    x = np.array([[-0.4, 35.0, 16.5, 0.4, 1.2], [-1.5, 120.0, 15.0, 0.1, -2.0]])
    spectra, jacs = model.jacobian_fit(x)
    ref = model.from_fit(x)
    for s, r in zip(spectra, ref, strict=True):
        np.testing.assert_array_equal(s, r)
    steps = np.array([1e-4, 1e-3, 1e-4, 1e-4, 1e-3])
    for j in range(x.size):
        h = steps[j % 5]
        xp, xm = x.copy(), x.copy()
        xp.flat[j] += h
        xm.flat[j] -= h
        for w, (sp, sm) in enumerate(zip(model.from_fit(xp), model.from_fit(xm), strict=True)):
            fd = (sp - sm) / (2 * h)
            scale = max(np.abs(fd).max(), 1e-3)
            assert np.max(np.abs(jacs[w][:, j] - fd)) < 1e-5 * scale, (w, j)


def test_partition_function_table_is_used_log_log():
    pf = PartitionFunction.from_table([10.0, 100.0], [10.0, 1000.0])
    ll = LineList.from_mapping("X", dict(lines_dict([100000.0]), Q_T=(pf.temperature, pf.q)))
    f = grid(99980, 100020, 0.1)
    t_ex = 31.6227766  # Q = 100 exactly on the log-log line
    thin = lte_spectra([f], [ll], [[1.0, t_ex, 1e11, 2.0, 0.0]], beam=(1.0, 1.0), cmb=False)[0]
    lines = ll.as_mapping()
    tau = (
        35.76033
        * 1e11
        * lines["A_ul"]
        * lines["g_u"]
        / (100.0 * lines["freq"] ** 2)
        * np.exp(-lines["E_low"] / t_ex)
        * (1 - np.exp(-H_K_MHZ * lines["freq"] / t_ex))
    )
    expected = 0.5 * planck(1e5, t_ex) * tau.sum()
    assert thin.sum() * 0.1 == pytest.approx(expected, rel=1e-4)


def test_compiled_partition_and_fit_conversion_match_the_python_rules():
    """The model's compiled Q(T), d ln Q/d ln T and fit→physical conversion follow
    PartitionFunction and parameters.fit_to_physical (inside, at nodes, beyond the table)."""
    pf = PartitionFunction.from_table(
        [5.0, 9.375, 18.75, 75.0, 300.0], [3.0, 7.0, 19.0, 150.0, 1200.0]
    )
    ll = LineList.from_mapping("X", dict(lines_dict([100000.0]), Q_T=(pf.temperature, pf.q)))
    f = grid(99995, 100005, 0.1)
    model = LTEModel([f], [ll, lines_dict([100001.0])], beam=12.0)
    t = np.concatenate([np.geomspace(0.5, 3000.0, 997), pf.temperature])
    q, dlnq = model._partition(np.stack([t, t[::-1]], axis=1), slope=True)
    np.testing.assert_allclose(q[:, 0], pf(t), rtol=1e-14)
    np.testing.assert_allclose(dlnq[:, 0], pf.log_slope(t), rtol=1e-14)
    pf1 = model.lines[1].partition
    np.testing.assert_allclose(q[:, 1], pf1(t[::-1]), rtol=1e-14)
    assert np.all(model._partition(t[:, None, None][:, 0], slope=False)[1] == 0.0)
    x = np.random.default_rng(1).uniform(
        [-3, 1, 12, -0.5, -12], [-1e-4, 1e3, 22, 1.5, 12], (50, 2, 5)
    )
    p = fit_to_physical(x, model.theta_b_sq_ref)
    np.testing.assert_allclose(
        np.concatenate(model.from_fit(x), axis=-1),
        np.concatenate(model(p), axis=-1),
        rtol=1e-12,
        atol=0.0,
    )
    np.testing.assert_allclose(
        model.stacked_from_fit(x), np.concatenate(model(p), axis=-1), rtol=1e-12, atol=0.0
    )
    with pytest.raises(ModelInputError, match="NaN"):
        model.from_fit(np.where(np.arange(5) == 3, np.nan, x[0]))


def test_channels_between_distant_lines_are_zero_and_lines_add():
    """Only the channels a line reaches are computed: far apart, two lines of one species
    give the sum of each alone (to the 1e-8 of the interpolated source function), and
    exact zeros between them."""
    f = grid(99950, 100050, 0.2)
    p = [[1.0, 60.0, 1e16, 1.5, 0.0]]
    both = lte_spectra(
        [f], [lines_dict([99970.0, 100030.0], e_low=[10.0, 10.0])], p, beam=(1.0, 1.0)
    )[0]
    one = [
        lte_spectra([f], [lines_dict([nu], e_low=[10.0])], p, beam=(1.0, 1.0))[0]
        for nu in (99970.0, 100030.0)
    ]
    np.testing.assert_allclose(both, one[0] + one[1], rtol=1e-7, atol=0.0)
    middle = (f > 99990.0) & (f < 100010.0)
    assert np.all(both[middle] == 0.0) and both.max() > 1.0
