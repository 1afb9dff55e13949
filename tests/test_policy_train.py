"""Policy training pieces: rewards, schedule, replay buffer, augmentations, resumable runs."""

import numpy as np
import pytest

from spectuner_nb.catalog.linelist import LineList
from spectuner_nb.observation import Observation
from spectuner_nb.policy import Policy, get_config
from spectuner_nb.policy.training.augment import Augmentation
from spectuner_nb.policy.training.dataset import (
    Pixel,
    has_peak_near_lines,
    load_pixels,
    peak_bins,
    save_pixels,
)
from spectuner_nb.policy.training.replay import ReplayBuffer
from spectuner_nb.policy.training.train import TrainConfig, Trainer, lr_at, rewards, species_bins


def test_rewards_follow_method():
    loss = np.array([[1.0, 2.0, 3.0, 4.0]])
    has = np.array([[True, True, True, False]])
    assert rewards(loss, has).tolist() == [[1.0, 1.0, 0.0, -0.5]]


def test_one_cycle_schedule():
    cfg = TrainConfig(lr_max=1e-3, total_steps=1000, warmup_frac=0.1)
    assert lr_at(0, cfg) == pytest.approx(1e-5)
    assert lr_at(100, cfg) == pytest.approx(1e-3)
    assert lr_at(1000, cfg) == pytest.approx(1e-7)
    lrs = [lr_at(s, cfg) for s in range(100, 1001, 50)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


def test_replay_keeps_best_and_roundtrips(tmp_path):
    buf = ReplayBuffer(capacity=3)
    buf.push("a", np.arange(20.0).reshape(4, 5), [4.0, 1.0, 3.0, np.nan])
    buf.push("a", np.full((1, 5), -1.0), [0.5])
    x, loss = buf.get("a")
    assert loss.tolist() == [0.5, 1.0, 3.0] and x[0, 0] == -1.0
    buf.save(tmp_path / "rb")
    again = ReplayBuffer.load(tmp_path / "rb")
    assert again.keys() == ["a"] and np.array_equal(again.get("a")[1], loss)


def _lines():
    return LineList.from_mapping(
        "X",
        {
            "freq": np.array([218300.0, 218440.0, 218700.0]),
            "A_ul": np.array([1e-4, 3e-4, 1e-4]),
            "E_low": np.array([20.0, 40.0, 80.0]),
            "g_u": np.array([9.0, 11.0, 13.0]),
            "Q_T": ([9.375, 37.5, 150.0, 300.0], [10.0, 60.0, 500.0, 1400.0]),
        },
    )


class _Catalog:
    def lines(self, species, windows, pad_kms=None):
        return _lines().in_windows(windows, pad_kms)


def _obs(seed=0, amp=3.0):
    f = np.linspace(218180.0, 218960.0, 400)
    y = np.random.default_rng(seed).normal(0, 0.1, f.size)
    y += amp * np.exp(-0.5 * ((f - 218440.0) / 2.0) ** 2)
    y += 0.5 * amp * np.exp(-0.5 * ((f - 218700.0) / 2.0) ** 2)
    return Observation.from_arrays([f], [y], beam=(0.58, 0.42), rms=0.1, T_bg=5.0)


def test_augmentations_reproducible_and_bounded():
    obs = _obs()
    assert Augmentation.for_key("k", 0) == Augmentation()
    a = Augmentation.for_key("k", 2)
    assert a == Augmentation.for_key("k", 2)
    assert abs(a.v_shift_kms) <= 5 and 0.85 <= a.rms_factor <= 1.25
    assert 0.5 <= a.continuum_factor <= 2 and 0.5 <= a.beam_factor <= 2
    s = Augmentation(smooth=4, rms_factor=1.0, beam_factor=2.0).apply(obs)
    assert s.rms[0] == pytest.approx(0.05)
    assert s.beam[0] == pytest.approx(2 * obs.beam[0])
    shifted = Augmentation(v_shift_kms=3.0).apply(obs)
    assert shifted.rest_freqs[0][0] != obs.rest_freqs[0][0]


def test_degeneracy_augmentation_changes_features_not_spectra():
    """g_u and Q × k: the LTE spectrum is unchanged; only log10 g_u and asinh Q move."""
    from spectuner_nb.model import lte_spectra
    from spectuner_nb.policy.features import raw_transition_features

    base = Augmentation.for_key("k", 2)
    scaled = Augmentation.for_key("k", 2, degeneracy_log10=1.5)
    assert Augmentation.for_key("k", 2, degeneracy_log10=0.0) == base
    assert scaled.v_shift_kms == base.v_shift_kms and scaled.beam_factor == base.beam_factor
    assert base.degeneracy_scale == 1.0 and 10**-1.5 <= scaled.degeneracy_scale <= 10**1.5
    k = 18.0
    ll = _lines()
    t = np.array([9.375, 37.5, 150.0, 300.0])
    ll_k = LineList.from_mapping(
        "X",
        {
            "freq": ll.freq,
            "A_ul": ll.A_ul,
            "E_low": ll.E_low,
            "g_u": k * ll.g_u,
            "Q_T": (t, k * ll.partition(t)),
        },
    )
    obs = _obs()
    params = np.array([[0.5, 120.0, 1e16, 3.0, 0.0]])
    a = lte_spectra(obs.rest_freqs, [ll], params, beam=obs.beam, T_bg=list(obs.T_bg))
    b = lte_spectra(obs.rest_freqs, [ll_k], params, beam=obs.beam, T_bg=list(obs.T_bg))
    assert np.max(np.abs(a[0])) > 0.1
    np.testing.assert_allclose(b[0], a[0], rtol=1e-9, atol=1e-12)
    f1, fk = raw_transition_features(ll), raw_transition_features(ll, k)
    np.testing.assert_allclose(fk, raw_transition_features(ll_k), rtol=1e-9)
    np.testing.assert_allclose(fk[:, 1] - f1[:, 1], np.log10(k))
    np.testing.assert_array_equal(fk[:, [0, 2, 3]], f1[:, [0, 2, 3]])


def test_strength_augmentation_is_a_column_density_shift():
    """A_ul × k in the features, log10 N_tot + log10 k in the rewards: the same losses as
    the catalog's spectra with A_ul × k, because A_ul and N_tot enter only as a product."""
    from spectuner_nb.losses import PeakMatchingLoss
    from spectuner_nb.model import LTEModel
    from spectuner_nb.policy.features import raw_transition_features
    from spectuner_nb.policy.training.train import Entry

    base = Augmentation.for_key("k", 2, degeneracy_log10=1.5)
    scaled = Augmentation.for_key("k", 2, degeneracy_log10=1.5, strength_log10=1.0)
    assert scaled.degeneracy_scale == base.degeneracy_scale
    assert base.strength_scale == 1.0 and 0.1 <= scaled.strength_scale <= 10.0
    k = 7.0
    ll = _lines()
    ll_k = LineList.from_mapping(
        "X",
        {
            "freq": ll.freq,
            "A_ul": k * ll.A_ul,
            "E_low": ll.E_low,
            "g_u": ll.g_u,
            "Q_T": ([9.375, 37.5, 150.0, 300.0], [10.0, 60.0, 500.0, 1400.0]),
        },
    )
    obs = _obs()
    loss = PeakMatchingLoss(obs.rest_freqs, obs.intensities, obs.rms)
    model = LTEModel(obs.rest_freqs, [ll], beam=obs.beam, T_bg=obs.T_bg)
    model_k = LTEModel(obs.rest_freqs, [ll_k], beam=obs.beam, T_bg=obs.T_bg)
    x = np.array(
        [
            [-0.3, 120.0, 15.0, 0.5, 0.0],
            [-1.0, 40.0, 17.5, 0.2, 2.0],
            [-0.1, 300.0, 19.0, 0.8, -1.0],
        ]
    )
    shifted = Entry("k", None, model, loss, float(np.log10(k))).evaluate(x)
    direct = Entry("k", None, model_k, loss).evaluate(x)
    unshifted = Entry("k", None, model, loss).evaluate(x)
    np.testing.assert_allclose(shifted[0], direct[0], rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(shifted[1], direct[1])
    assert np.max(np.abs(shifted[0] - unshifted[0])) > 0.1
    f1, fk = raw_transition_features(ll), raw_transition_features(ll, strength_scale=k)
    np.testing.assert_allclose(fk, raw_transition_features(ll_k), rtol=1e-9)
    np.testing.assert_allclose(fk[:, 0] - f1[:, 0], np.log10(k))


def test_peak_selection_and_bins(tmp_path):
    obs = _obs()
    assert has_peak_near_lines(obs, _lines())
    far = LineList.from_mapping(
        "Y",
        {
            "freq": np.array([218560.0]),
            "A_ul": np.array([1e-4]),
            "E_low": np.array([1.0]),
            "g_u": np.array([3.0]),
            "Q_T": ([10.0, 100.0], [5.0, 50.0]),
        },
    )
    assert not has_peak_near_lines(obs, far)
    pixels = [
        Pixel(_obs(i, amp=a), f"p{i}", ["X"], n)
        for i, (a, n) in enumerate([(3, 1), (3, 2), (3, 10)])
    ]
    bins = peak_bins(pixels)
    assert sorted(np.concatenate(bins).tolist()) == [0, 1, 2] and len(bins) == 2
    save_pixels(pixels, tmp_path / "p.json")
    back = load_pixels(tmp_path / "p.json")
    assert back[2].n_peaks == 10 and np.allclose(
        back[0].obs.intensities[0], pixels[0].obs.intensities[0]
    )


def test_trainer_runs_resumes_and_exports(tmp_path):
    pixels = [Pixel(_obs(i), f"p{i}", ["X"], 2) for i in range(3)]
    cfg = TrainConfig(batch_size=4, n_draw=8, total_steps=4, refresh_factor=1, threads=1)
    tr = Trainer(tmp_path / "run", pixels, _Catalog(), get_config("tiny"), cfg)
    tr.run(n_steps=2)
    assert tr.step == 2 and len(tr.buffer) > 0
    rows = tr.history.rows
    assert all(np.isfinite(r["loss"]) for r in rows) and -0.5 <= rows[-1]["reward"] <= 1
    again = Trainer(tmp_path / "run", pixels, _Catalog())
    assert again.step == 2 and again.buffer.keys() == tr.buffer.keys()
    assert len(again.optimizer.state) > 0
    again.run()
    assert again.step == 4 and len(again.history.rows) == 4
    out = again.export(tmp_path / "ck")
    pol = Policy.load(out)
    assert pol.metadata["step"] == 4
    assert pol.sample(_obs(), _lines(), 5, seed=0).shape == (5, 5)


def test_species_balanced_sampling_and_warm_start(tmp_path):
    pixels = [
        Pixel(_obs(i), f"p{i}", sp, n)
        for i, (sp, n) in enumerate([(["X"], 1), (["X"], 2), (["X", "Y"], 10)])
    ]
    by = species_bins(pixels, peak_bins(pixels))
    assert sorted(np.concatenate(by["X"]).tolist()) == [0, 1, 2]
    assert [b.tolist() for b in by["Y"]] == [[2]]
    cfg = TrainConfig(batch_size=4, n_draw=8, total_steps=2, refresh_factor=1, threads=1)
    first = Trainer(tmp_path / "a", pixels, _Catalog(), get_config("tiny"), cfg)
    ck = first.export(tmp_path / "ck")
    balanced = TrainConfig(
        batch_size=4, n_draw=8, total_steps=2, refresh_factor=1, threads=1, species_balanced=True
    )
    tr = Trainer(tmp_path / "b", pixels, _Catalog(), train_config=balanced, init_checkpoint=ck)
    start = first.network.state_dict()
    assert all(np.array_equal(v, start[k]) for k, v in tr.network.state_dict().items())
    keys = [tr._fresh_key() for _ in range(200)]
    share_y = np.mean([k.split("|")[1] == "Y" for k in keys])
    assert 0.35 < share_y < 0.65  # uniform over species, although Y is in 1 pixel of 3
    assert all(k.split("|")[0] == "2" for k in keys if k.split("|")[1] == "Y")
    tr.run()
    assert tr.step == 2 and np.isfinite(tr.history.rows[-1]["loss"])


def test_layout_mock_pixels_follow_the_layout():
    """W3(H2O)-like mocks: one 400-channel window of 1.953 MHz in band 6, targets from the
    pool, reproducible by seed; the line-rich species count can be overridden."""
    from spectuner_nb.catalog import default_cache
    from spectuner_nb.mock import BANDS
    from spectuner_nb.policy.training.dataset import layout_mock_pixels

    cat = default_cache()
    pool = ["CH3OH", "H2CO", "HC3N", "OCS", "SO2", "CH3CN", "HNCO", "CS", "SO", "CH3CCH"]
    pixels = layout_mock_pixels(4, pool, seed=5, catalog=cat)
    assert [p.name for p in pixels] == [f"w3like5:{i}" for i in range(4)]
    lo, hi = BANDS[6]["range_mhz"]
    for p in pixels:
        (f,) = p.obs.freqs
        assert f.size == 400 and np.allclose(np.diff(f), 1.953)
        assert lo - 500 < f[0] < hi + 500
        assert set(p.species) <= set(p.truth) and p.species
    again = layout_mock_pixels(4, pool, seed=5, catalog=cat)
    assert [p.to_dict() for p in again] == [p.to_dict() for p in pixels]
    dense = layout_mock_pixels(2, pool, seed=5, catalog=cat, line_rich_species=(8, 9), prefix="hot")
    assert dense[0].name == "hot:0" and len(dense[0].truth) >= 8
