"""The lending pass of tied cube fits: neighbours' ranges, which pixels need them, and the
tie step with a lent range."""

from __future__ import annotations

import numpy as np

from spectuner_nb.catalog import default_cache
from spectuner_nb.cube.lend import LEND_COLUMNS, lenders, lent_ranges, needs_lending
from spectuner_nb.model import LTEModel
from spectuner_nb.parameters import FIT_NAMES, TABLE1_BOUNDS, physical_to_fit
from spectuner_nb.ties import TIE_MARGIN, loose_values, saturated, tie_unconstrained

T_EX = FIT_NAMES.index("T_ex")


def test_lent_ranges_span_the_lenders_within_the_radius():
    x = np.random.default_rng(0).normal(size=(9, 2, 5))
    lend = np.zeros((9, 2), bool)
    lend[4, 0] = lend[0, 1] = True  # centre pixel's species 0, corner pixel's species 1
    out = lent_ranges((3, 3), np.arange(9), x, lend, radius=1)
    for col in LEND_COLUMNS:
        pair = sorted([x[4, 0, col], x[0, 1, col]])
        np.testing.assert_allclose(out[0, col], pair)  # (0, 0) sees both
        np.testing.assert_allclose(out[8, col], [x[4, 0, col]] * 2)  # (2, 2) the centre only
    others = [j for j in range(len(FIT_NAMES)) if j not in LEND_COLUMNS]
    assert others == [FIT_NAMES.index("log10_N_tot")]
    assert np.isnan(out[:, others]).all()
    none = lent_ranges((3, 3), np.arange(9), x, np.zeros((9, 2), bool), radius=1)
    assert np.isnan(none).all()
    far = lent_ranges((1, 9), np.arange(9), x, lend, radius=2)
    assert np.isnan(far[8]).all() and np.isfinite(far[6, LEND_COLUMNS]).all()


def test_only_pixels_without_a_lender_need_lending():
    x = np.array([[[-0.5, 150.0, 16.0, 0.5, 0.0], [-0.00043, 1000.0, 18.0, 0.5, 0.0]]] * 3)
    err = np.full_like(x, 0.05)
    err[:, :, T_EX] = 5.0
    err[2, 0, T_EX] = np.nan  # pixel 2: species 0 unconstrained too, nothing to lend
    ok = np.array([True, True, True])
    assert lenders(x, err, TABLE1_BOUNDS).tolist() == [[True, False]] * 2 + [[False, False]]
    assert loose_values(x, err, TABLE1_BOUNDS)[0, 1, T_EX]  # at the 1000 K bound
    assert needs_lending(x, err, TABLE1_BOUNDS, ok).tolist() == [False, False, True]
    assert not needs_lending(x, err, TABLE1_BOUNDS, ~ok).any()  # failed pixels are left
    one = x[:1, :1].copy()  # one species, every parameter measured
    small = np.full_like(one, 0.05)
    assert not needs_lending(one, small, TABLE1_BOUNDS, ok[:1]).any()
    one[0, 0, 4] = TABLE1_BOUNDS[4, 0]  # at the v_off bound: it wants the lent v_off
    assert needs_lending(one, small, TABLE1_BOUNDS, ok[:1]).tolist() == [True]


def test_a_saturated_column_leaves_t_ex_and_eta_unmeasured():
    """N at the upper bound: T_ex and η are loose however small their errors, and a pixel
    without a lender wants a lent range; N at the lower bound (a faded species) is not."""
    eta, n_col = FIT_NAMES.index("log10_eta"), FIT_NAMES.index("log10_N_tot")
    x = np.array([[[-0.7, 14.0, 22.0, 0.0, 7.0], [-0.7, 14.0, 12.0, 0.0, 7.0]]])
    err = np.full_like(x, 0.01)
    assert saturated(x, TABLE1_BOUNDS).tolist() == [[True, False]]
    loose = loose_values(x, err, TABLE1_BOUNDS)
    assert loose[0, 0, [eta, T_EX]].all() and not loose[0, 1, [eta, T_EX]].any()
    assert loose[0, :, n_col].all()  # both at a bound of N
    assert needs_lending(x[:, :1], err[:, :1], TABLE1_BOUNDS, np.array([True])).tolist() == [True]
    per_species = np.broadcast_to(TABLE1_BOUNDS, (2, 5, 2))
    assert saturated(x, per_species).tolist() == [[True, False]]


def test_a_species_alone_takes_the_lent_range():
    """OCS alone (one line): nothing in the spectrum constrains T_ex, so without a lent
    range the tie leaves it where χ² put it; with one it comes inside the lent range."""
    from spectuner_nb.identification.combine import refine
    from spectuner_nb.mock import mock_spectrum

    truth = np.array([[0.8, 120.0, 5e16, 4.0, 0.0]])
    mix = mock_spectrum(
        ["OCS"], band=6, n_windows=1, n_channels=400, params=truth, seed=1, beam=(0.8, 0.8)
    )
    lines = [default_cache().lines("OCS", mix.obs.windows)]
    assert len(lines[0]) == 1
    x_true = physical_to_fit(
        truth, LTEModel(mix.obs.rest_freqs, lines, beam=mix.obs.beam).theta_b_sq_ref
    )
    x0 = x_true.copy()
    x0[0, :3] = [-0.001, 990.0, 17.0]
    settings = {"bounds": TABLE1_BOUNDS.tolist()}
    joint = refine(mix.obs, ["OCS"], lines, x0, settings)
    assert loose_values(joint.x, joint.x_err, TABLE1_BOUNDS)[0, T_EX]
    alone, tied = tie_unconstrained(mix.obs, ["OCS"], lines, joint, settings)
    assert not tied and alone.x[0, T_EX] > 300.0
    lent = np.full((5, 2), np.nan)
    lent[T_EX] = [110.0, 130.0]
    lent[0] = [-0.3, -0.2]
    helped, tied = tie_unconstrained(mix.obs, ["OCS"], lines, joint, settings, lent=lent)
    assert tied == {"OCS": ("log10_eta", "T_ex")}
    margin = TIE_MARGIN * (TABLE1_BOUNDS[T_EX, 1] - TABLE1_BOUNDS[T_EX, 0])
    assert 110.0 - margin - 1e-6 <= helped.x[0, T_EX] <= 130.0 + margin + 1e-6
    assert abs(helped.x[0, 2] - x_true[0, 2]) < 0.3
