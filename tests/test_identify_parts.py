"""Pieces of line identification: families, bound presets, fits on a base, matching, store."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from spectuner_nb.catalog import default_cache
from spectuner_nb.catalog.families import is_rare, main_formula, parent_species
from spectuner_nb.errors import FitError, IdentificationError, WorkdirBusyError
from spectuner_nb.fit import fit_spectrum
from spectuner_nb.identification import identify
from spectuner_nb.identification.matching import ObservedPeaks, match_model
from spectuner_nb.identification.store import FitStore, run_identity
from spectuner_nb.model import LTEModel
from spectuner_nb.observation import Observation
from spectuner_nb.parameters import (
    BOUND_PRESETS,
    TABLE1_BOUNDS,
    bounds_preset,
    choose_preset,
    within_bounds,
)


@pytest.mark.parametrize(
    ("name", "parent"),
    [
        ("C-13-H3OH;v=0;", "CH3OH;vt=0-2;"),
        ("HCC-13-CN;v=0;", "HC3N;v=0;"),
        ("HDCO;v=0;", "H2CO;v=0;"),
        ("D2CO;v=0;", "H2CO;v=0;"),
        ("CH2DCCH;v=0;", "CH3CCH;v=0;"),
        ("S-34-O2;v=0;", "SO2;v=0;"),
        ("CH3CN-15;v=0;", "CH3CN;v=0;"),
        ("c-HCCCD;v=0;", "c-C3H2;v=0;"),
        ("HCCNC;v=0;", "HCCNC;v=0;"),  # an isomer, not an isotopologue of HC3N
        ("CH3OH;vt=0-2;", "CH3OH;vt=0-2;"),
    ],
)
def test_parent_species_in_the_shipped_catalog(name, parent):
    known = default_cache().species()
    assert parent_species(name, known) == parent


def test_parent_species_without_catalog_and_rarity():
    assert parent_species("HC3N, v7=1") == "HC3N;v=0;"
    assert parent_species("(13)CO") == "CO;v=0;"
    assert main_formula("HDO") == "H2O"
    assert is_rare("13CO") and is_rare("HC3N;v7=1;") and is_rare("D2O")
    assert not is_rare("CH3OH;vt=0-2;") and not is_rare("HCCNC")


def test_bound_presets():
    np.testing.assert_array_equal(bounds_preset("hot_core"), TABLE1_BOUNDS)
    cold = bounds_preset("cold_core")
    assert cold[2, 0] <= 11.0 and cold[3, 0] <= np.log10(0.28) and cold[1, 1] <= 100.0
    assert not within_bounds(cold, TABLE1_BOUNDS) and within_bounds(TABLE1_BOUNDS)
    assert set(BOUND_PRESETS) >= {"hot_core", "cold_core"}
    with pytest.raises(ValueError, match="preset"):
        bounds_preset("lukewarm")


def _two_species(delta_v: float, channel_mhz: float):
    """CH3OH + H2CO spectrum at 218.15–218.80 GHz (one CH3OH and three H2CO lines, rms
    0.05 K) and the noiseless spectrum of each species."""
    cat = default_cache()
    freq = 218150.0 + channel_mhz * np.arange(int(650.0 / channel_mhz))
    window = [(freq[0], freq[-1])]
    lines = [cat.lines(s, window) for s in ("CH3OH", "H2CO")]
    truth = np.array([[0.8, 150.0, 1e17, delta_v, 0.0], [0.8, 80.0, 3e15, delta_v, 0.0]])
    model = LTEModel([freq], lines, beam=(0.8, 0.8))
    parts = [
        model(np.where(np.arange(2)[:, None] == k, truth, truth * [1, 1, 0, 1, 1]))[0]
        for k in range(2)
    ]
    rng = np.random.default_rng(1)
    obs = Observation.from_arrays(
        [freq], [parts[0] + parts[1] + rng.normal(0, 0.05, freq.size)], beam=(0.8, 0.8), rms=0.05
    )
    return obs, lines, truth, parts


def test_choose_preset_from_line_widths():
    hot, *_ = _two_species(4.0, 0.5)
    cold, *_ = _two_species(0.3, 0.05)
    assert choose_preset(hot) == "hot_core"
    assert choose_preset(cold) == "cold_core"


def test_fit_on_a_base_recovers_the_rest():
    obs, lines, _, parts = _two_species(4.0, 0.5)
    base = [parts[1]]  # H2CO fixed
    res = fit_spectrum(
        obs, ["CH3OH"], lines=[lines[0]], loss="chi2", init="random", n_init=200, seed=3, base=base
    )
    np.testing.assert_allclose(res.model[0], parts[0] + parts[1], atol=0.3)  # base included
    assert res.chi2 < 1.5 * obs.n_channels  # the data are explained down to the noise
    plain = fit_spectrum(
        obs,
        ["CH3OH"],
        lines=[lines[0]],
        loss="chi2",
        init=res.x[None],
        n_init=1,
        optimizer="none",
        base=None,
    )
    assert plain.chi2 > res.chi2  # without the base the H2CO lines stay unexplained
    with pytest.raises(FitError, match="base"):
        fit_spectrum(obs, ["CH3OH"], lines=[lines[0]], base=[parts[0][:-1]])
    with pytest.raises(FitError, match="preset"):
        fit_spectrum(obs, ["CH3OH"], lines=[lines[0]], bounds="tepid")
    cold = fit_spectrum(
        obs, ["CH3OH"], lines=[lines[0]], bounds="cold_core", n_init=5, optimizer="none", seed=0
    )
    np.testing.assert_array_equal(cold.bounds[0], bounds_preset("cold_core"))


def test_matching_counts_matches_false_peaks_and_overshoot():
    obs, _, _, parts = _two_species(4.0, 0.5)
    peaks = ObservedPeaks.from_observation(obs)
    assert len(peaks) >= 3
    exact = match_model(obs, peaks, [parts[0] + parts[1]])
    assert exact.explained.all() and exact.n_false == 0
    only_ch3oh = match_model(obs, peaks, [parts[0]])
    assert 0 < only_ch3oh.n_matched < len(peaks) and only_ch3oh.n_false == 0
    loud = match_model(obs, peaks, [3.0 * (parts[0] + parts[1])])
    assert loud.overshoot.any() and loud.score < exact.score
    shifted = match_model(obs, peaks, [np.roll(parts[0], 40)])
    assert shifted.false_freq.size > 0


def test_store_identity_and_atomic_fits(tmp_path):
    obs, lines, *_ = _two_species(4.0, 0.5)
    ident = run_identity(obs, lines, {"n_init": 5}, None)
    assert ident == run_identity(obs, lines, {"n_init": 5}, None)
    assert ident != run_identity(obs, lines, {"n_init": 6}, None)
    assert ident != run_identity(obs, lines, {"n_init": 5}, "policy-b")
    assert ident != run_identity(obs, lines[:1], {"n_init": 5}, None)
    store = FitStore(tmp_path, ident, {})
    store.write("CH3OH;vt=0-2;", np.arange(5.0), -1.5, 42)
    assert store.has("CH3OH;vt=0-2;") and not store.has("H2CO;v=0;")
    store.close()
    with FitStore(tmp_path, ident, {}) as again:
        x, loss, nfev = again.read("CH3OH;vt=0-2;")
    store = FitStore(tmp_path, ident, {})
    np.testing.assert_array_equal(x, np.arange(5.0))
    assert (loss, nfev) == (-1.5, 42)
    assert not list((tmp_path / "fits").glob(".*tmp*"))
    damaged = next((tmp_path / "fits").glob("*.npz"))
    damaged.write_bytes(damaged.read_bytes()[:40])  # a truncated file is not a finished fit
    assert not store.has("CH3OH;vt=0-2;") and not damaged.exists()
    store.write("CH3OH;vt=0-2;", np.arange(5.0), -1.5, 42)
    store.close()
    with pytest.raises(IdentificationError, match="another identification"):
        FitStore(tmp_path, "0" * 64, {})
    with FitStore(tmp_path, "0" * 64, {}, resume=False) as fresh:
        assert not fresh.has("CH3OH;vt=0-2;")


def test_second_identification_on_a_busy_workdir_is_refused(tmp_path):
    obs, lines, *_ = _two_species(4.0, 0.5)
    first = FitStore(tmp_path, "1" * 64, {})
    first.write("CH3OH;vt=0-2;", np.arange(5.0), -1.5, 42)
    for resume in (True, False):  # neither resuming nor restarting touches the first run
        with pytest.raises(WorkdirBusyError, match="in use"):
            FitStore(tmp_path, "1" * 64, {}, resume=resume)
        with pytest.raises(WorkdirBusyError, match="in use"):
            identify(
                obs,
                ["CH3OH", "H2CO"],
                workdir=tmp_path,
                resume=resume,
                init="random",
                n_init=2,
                progress=False,
            )
    assert first.read("CH3OH;vt=0-2;")[2] == 42  # the first run's fit is intact
    first.close()
    with FitStore(tmp_path, "1" * 64, {}) as resumed:  # released: the directory is usable
        assert resumed.has("CH3OH;vt=0-2;")


def test_individual_fits_on_a_dask_client():
    from dask.distributed import Client

    from spectuner_nb.identification import identify

    obs, *_ = _two_species(4.0, 0.5)
    local = identify(obs, ["CH3OH", "H2CO", "HNCO"], init="random", n_init=20, progress=False)
    with Client(
        processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0"
    ) as client:
        remote = identify(
            obs, ["CH3OH", "H2CO", "HNCO"], init="random", n_init=20, client=client, progress=False
        )
    assert remote.species == local.species
    assert set(local.species) == {"CH3OH;vt=0-2;", "H2CO;v=0;"}
    # single-threaded workers sum in another order: the same models, not the same bits
    np.testing.assert_allclose(remote.model[0], local.model[0], atol=0.2)


def _band6_mix(names: list[str], truth: np.ndarray):
    """A band-6 mock of ``names`` with physical parameters ``truth`` (3 windows × 700
    channels, 0.8″ beam, rms 0.1 K): (mix, line lists, fit-space truth)."""
    from spectuner_nb.mock import mock_spectrum
    from spectuner_nb.parameters import physical_to_fit

    mix = mock_spectrum(
        names,
        band=6,
        n_windows=3,
        n_channels=700,
        params=truth,
        seed=1,
        beam=(0.8, 0.8),
        rms=0.1,
        T_bg=2.0,
    )
    lines = [default_cache().lines(s, mix.obs.windows) for s in names]
    model = LTEModel(mix.obs.rest_freqs, lines[:1], beam=mix.obs.beam)
    return mix, lines, physical_to_fit(truth, model.theta_b_sq_ref)


def test_tie_unconstrained_holds_one_line_species_in_the_constrained_range():
    """OCS (one line) and H2CO (two lines) started hot and beam-filling, as a greedy solution
    may leave them: χ² leaves them there (T_ex, N, η degenerate: no finite error, N of one
    off by more than 0.5 dex); the tie takes their T_ex and η from CH3OH, HNCO and C2H5CN (8–50
    lines) and recovers N."""
    from spectuner_nb.identification.combine import (
        TIE_MARGIN,
        loose_parameters,
        refine,
        tie_unconstrained,
    )
    from spectuner_nb.parameters import at_bound

    names = ["CH3OH", "HNCO", "OCS", "H2CO", "C2H5CN"]
    truth = np.array(
        [
            [0.8, 150.0, 3e17, 4.0, 0.5],
            [0.8, 200.0, 3e16, 3.5, 0.0],
            [0.8, 120.0, 5e16, 4.0, -0.5],
            [0.8, 150.0, 2e17, 4.0, 0.3],
            [0.8, 120.0, 3e16, 4.0, 0.0],
            [0.8, 150.0, 2e16, 4.0, 1.0],
        ]
    )
    mix, lines, x_true = _band6_mix(["CH3OH", "CH3CN"] + names[1:], truth)
    assert len(lines[1]) == 0  # CH3CN has no line in these windows
    truth, x_true = np.delete(truth, 1, axis=0), np.delete(x_true, 1, axis=0)
    del lines[1]
    assert [len(ll) for ll in lines[2:4]] == [1, 2]
    x0 = x_true.copy()
    x0[2:4, :3] = [[-0.001, 990.0, 17.0], [-0.001, 990.0, 16.5]]
    settings = {"bounds": TABLE1_BOUNDS.tolist()}
    joint = refine(mix.obs, names, lines, x0, settings)
    loose = loose_parameters(joint, TABLE1_BOUNDS).any(axis=1)
    np.testing.assert_array_equal(loose, [False, False, True, True, False])
    assert np.abs(joint.x[2:4, 2] - x_true[2:4, 2]).max() > 0.5  # N off by > 0.5 dex
    tied_fit, tied = tie_unconstrained(mix.obs, names, lines, joint, settings)
    assert tied == {"OCS": ("log10_eta", "T_ex"), "H2CO": ("log10_eta", "T_ex")}
    margin = TIE_MARGIN * (TABLE1_BOUNDS[1, 1] - TABLE1_BOUNDS[1, 0])
    free = [0, 1, 4]
    assert np.all(tied_fit.x[2:4, 1] >= joint.x[free, 1].min() - margin - 1e-6)
    assert np.all(tied_fit.x[2:4, 1] <= joint.x[free, 1].max() + margin + 1e-6)
    dlog_n = np.abs(tied_fit.x[:, 2] - x_true[:, 2])
    assert np.all(dlog_n[free] < 0.15)
    assert np.all(dlog_n[2:4] < 0.25)  # N recovered, within what the tied T_ex range allows
    assert not tied_fit.at_bound.any()
    np.testing.assert_array_equal(tied_fit.at_bound, at_bound(tied_fit.x, TABLE1_BOUNDS))
    n_tied = sum(len(v) for v in tied.values())  # the data allow it: Δχ² within its 99 %
    assert tied_fit.chi2 < joint.chi2 + scipy.stats.chi2.ppf(0.99, n_tied)  # for n_tied dof
    again, none = tie_unconstrained(
        mix.obs,
        names[:2],
        lines[:2],
        refine(mix.obs, names[:2], lines[:2], x_true[:2], settings),
        settings,
    )
    assert none == {}  # all constrained: nothing tied


def test_tie_brings_a_shifted_species_back_and_holds_an_isotopologue_to_its_parent():
    """OCS left with its one line shifted to the +12 km/s bound (as when it fits another
    species' line) takes the v_off range of the constrained species and recovers its true
    v_off; C-13-H3CH2CN left hot and beam-filling takes T_ex and η from C2H5CN alone (its
    value ± the margin), not from the range of every constrained species."""
    from dataclasses import replace

    from spectuner_nb.identification.combine import TIE_MARGIN, refine, tie_unconstrained
    from spectuner_nb.ties import family_parents

    names = ["CH3OH", "HNCO", "C2H5CN", "OCS", "C-13-H3CH2CN"]
    truth = np.array(
        [
            [0.8, 150.0, 3e17, 4.0, 0.5],
            [0.8, 200.0, 3e16, 3.5, 0.0],
            [0.8, 150.0, 2e16, 4.0, 1.0],
            [0.8, 120.0, 5e16, 4.0, -0.5],
            [0.8, 150.0, 1e15, 4.0, 1.0],
        ]
    )
    mix, lines, x = _band6_mix(names, truth)
    assert len(lines[3]) == 1 and len(lines[4]) > 10
    canonical = [default_cache().entry(s).name for s in names]
    np.testing.assert_array_equal(family_parents(canonical), [-1, -1, -1, -1, 2])
    settings = {"bounds": TABLE1_BOUNDS.tolist()}
    joint = refine(mix.obs, canonical, lines, x, settings)
    x_off = joint.x.copy()
    x_off[3, 4] = TABLE1_BOUNDS[4, 1]  # OCS at the v_off bound
    x_off[4, :2] = [-0.001, 990.0]  # the isotopologue hot and beam-filling
    fit, tied = tie_unconstrained(mix.obs, canonical, lines, replace(joint, x=x_off), settings)
    assert "v_off" in tied[canonical[3]]
    assert tied[canonical[4]] == ("log10_eta", "T_ex")
    assert abs(fit.x[3, 4] - x[3, 4]) < 0.1  # km/s
    span = TABLE1_BOUNDS[:, 1] - TABLE1_BOUNDS[:, 0]
    for col in (0, 1):  # the parent's own value ± the margin
        np.testing.assert_allclose(
            fit.bounds[4, col], joint.x[2, col] + np.array([-1, 1]) * TIE_MARGIN * span[col]
        )
    assert abs(fit.x[4, 1] - x[4, 1]) < TIE_MARGIN * span[1]
    assert abs(fit.x[4, 2] - x[4, 2]) < 0.1  # log10 N recovered
    assert not fit.at_bound.any()


def test_species_at_a_bound_after_the_tie_are_rejected_unless_included():
    """HNCO left at the 1000 K bound of T_ex (as a tie that cannot help leaves a species the
    data do not constrain) is rejected with UNCONSTRAINED_AT_BOUND and the others refitted
    inside the bounds; included, it stays and is flagged."""
    from dataclasses import replace

    from spectuner_nb.identification.combine import (
        UNCONSTRAINED_AT_BOUND,
        drop_at_bound,
        refine,
    )
    from spectuner_nb.parameters import at_bound

    names = ["CH3OH", "HNCO", "C2H5CN"]
    truth = np.array(
        [[0.8, 150.0, 3e17, 4.0, 0.5], [0.8, 200.0, 3e16, 3.5, 0.0], [0.8, 150.0, 2e16, 4.0, 1.0]]
    )
    mix, lines, x = _band6_mix(names, truth)
    settings = {"bounds": TABLE1_BOUNDS.tolist()}
    joint = refine(mix.obs, names, lines, x, settings)
    assert not at_bound(joint.x, TABLE1_BOUNDS).any()
    x_hot = joint.x.copy()
    x_hot[1, 1] = TABLE1_BOUNDS[1, 1]
    hot = replace(joint, x=x_hot)
    kept_fit, kept, rejected, flagged = drop_at_bound(mix.obs, names, lines, hot, settings)
    assert kept == ["CH3OH", "C2H5CN"] and flagged == []
    assert list(rejected) == ["HNCO"] and rejected["HNCO"].startswith(UNCONSTRAINED_AT_BOUND)
    assert "T_ex" in rejected["HNCO"]
    assert len(kept_fit.species) == 2 and not kept_fit.at_bound.any()
    np.testing.assert_allclose(
        kept_fit.x, joint.x[[0, 2]], atol=0.05 * np.abs(joint.x[[0, 2]]).max()
    )
    same_fit, same, none, flagged = drop_at_bound(
        mix.obs, names, lines, hot, settings, include=["HNCO"]
    )
    assert same == names and none == {} and flagged == ["HNCO"]
    assert same_fit is hot


def test_species_at_another_velocity_do_not_set_the_tie_range():
    """Tie sources are the constrained species at the source velocity: a constrained species
    9 km/s away (another component, or a false match) is not one of them."""
    from spectuner_nb.ties import TIE_V_TOL, _at_source_velocity

    x = np.array(
        [
            [-0.5, 150.0, 17.0, np.log10(5.0), -2.5],
            [-0.4, 300.0, 18.0, np.log10(4.0), -2.7],
            [-2.0, 90.0, 18.0, np.log10(8.0), 6.8],  # constrained, another velocity
            [-0.1, 990.0, 17.0, np.log10(5.0), -2.3],
        ]
    )  # unconstrained
    constrained = np.array([True, True, True, False])
    assert TIE_V_TOL * 5.0 < 9.0
    np.testing.assert_array_equal(_at_source_velocity(x, constrained), [True, True, False, True])
    assert _at_source_velocity(x, np.zeros(4, bool)).all()


def test_individual_fits_come_back_in_candidate_order(tmp_path):
    """A fit read from the store (or finished first on a client) does not move ahead: the
    steps after it see the candidates in their own order."""
    from spectuner_nb.identification.candidates import Candidate
    from spectuner_nb.identification.individual import random_starts, run_fits

    obs, lines, *_ = _two_species(4.0, 0.5)
    names = ["CH3OH;vt=0-2;", "H2CO;v=0;"]
    cands = [Candidate(n, ll, n, np.zeros((0, 3))) for n, ll in zip(names, lines, strict=True)]
    settings = {"bounds": TABLE1_BOUNDS.tolist(), "loss": "pm", "n_init": 4, "seed": 0}
    with FitStore(tmp_path, "run", {}) as store:
        store.write(names[1], np.arange(5.0), -1.5, 42)  # the last candidate is stored
        starts = {
            n: random_starts(c, TABLE1_BOUNDS, 4, 0, obs) for n, c in zip(names, cands, strict=True)
        }
        out = run_fits(obs, cands, starts, settings, store)
    assert list(out) == names
    assert out[names[1]][2] == 42
