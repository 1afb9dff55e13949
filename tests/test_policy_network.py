"""Policy network, features, checkpoints and the Policy API (tiny configuration)."""

import json

import numpy as np
import pytest
import torch

from spectuner_nb.catalog.linelist import LineList
from spectuner_nb.errors import CheckpointError
from spectuner_nb.observation import Observation
from spectuner_nb.parameters import TABLE1_BOUNDS
from spectuner_nb.policy import Policy, get_config
from spectuner_nb.policy.checkpoint import load_checkpoint, save_checkpoint
from spectuner_nb.policy.config import N_SPECTRUM_FEATURES, N_TRANSITION_FEATURES
from spectuner_nb.policy.features import FeatureNorm, build_input, select_transitions
from spectuner_nb.policy.network import PolicyNetwork, count_parameters


def _lines(n=40, f0=218200.0, f1=218900.0, seed=1):
    rng = np.random.default_rng(seed)
    freq = rng.uniform(f0, f1, n)
    freq[0] = 218440.0  # the strongest line sits on the observed peak of _obs()
    a_ul = 10 ** rng.uniform(-6, -4, n)
    a_ul[0] = 1e-3
    e_low = rng.uniform(5, 300, n)
    return LineList.from_mapping(
        "X",
        {
            "freq": freq,
            "A_ul": a_ul,
            "E_low": e_low,
            "g_u": rng.integers(3, 60, n).astype(float),
            "Q_T": ([9.375, 37.5, 150.0, 300.0], [10.0, 60.0, 500.0, 1400.0]),
        },
    )


def _obs():
    f = np.linspace(218180.0, 218960.0, 400)
    y = np.random.default_rng(0).normal(0, 0.1, f.size)
    y += 3.0 * np.exp(-0.5 * ((f - 218440.0) / 2.0) ** 2)
    return Observation.from_arrays([f], [y], beam=(0.58, 0.42), rms=0.1, T_bg=5.0)


def test_features_shapes_and_flags():
    cfg = get_config("tiny")
    inp = build_input(_obs(), _lines(), cfg, FeatureNorm.identity(), seed=3)
    assert inp.transitions.shape == (1, cfg.max_transitions, N_TRANSITION_FEATURES)
    assert inp.spectra.shape == (1, cfg.max_transitions, cfg.n_grid, N_SPECTRUM_FEATURES)
    assert inp.mask.all()
    assert np.all(np.isfinite(inp.spectra)) and np.all(np.isfinite(inp.transitions))
    assert inp.spectra[..., 2].max() == 1.0  # the peak at 218440 MHz is flagged somewhere
    again = build_input(_obs(), _lines(), cfg, FeatureNorm.identity(), seed=3)
    assert np.array_equal(inp.spectra, again.spectra)


def test_features_pad_and_empty_species():
    cfg = get_config("tiny")
    few = build_input(_obs(), _lines(n=3), cfg, FeatureNorm.identity())
    assert few.mask[0].sum() == 3
    far = _lines(n=5, f0=100000, f1=100100).subset(np.arange(4))
    none = build_input(_obs(), far, cfg, FeatureNorm.identity())
    assert none.mask[0].sum() == 1 and np.all(none.transitions == 0)


def test_select_transitions_seeded_and_keeps_strongest():
    ll = _lines(n=100)
    a, b = select_transitions(ll, 10, seed=1), select_transitions(ll, 10, seed=1)
    assert np.array_equal(a, b) and a.size == 10
    strength = ll.A_ul * ll.g_u * np.exp(-ll.E_up / 150.0)
    assert np.argmax(strength) in a


def test_paper_config_size_and_forward():
    cfg = get_config("paper")
    net = PolicyNetwork(cfg)
    n = count_parameters(net)
    assert 85e6 < n < 95e6
    with torch.no_grad():
        ctx = net.encode(
            torch.zeros(1, 2, N_TRANSITION_FEATURES),
            torch.zeros(1, 2, cfg.n_grid, N_SPECTRUM_FEATURES),
            torch.ones(1, 2, dtype=torch.bool),
        )
        x, log_p = net.sample(ctx, 3)
    assert x.shape == (1, 3, 5) and torch.isfinite(log_p).all()


def test_padding_does_not_change_context():
    cfg = get_config("tiny")
    net = PolicyNetwork(cfg).eval()
    inp = build_input(_obs(), _lines(n=3), cfg, FeatureNorm.identity())
    t, s, m = (torch.from_numpy(a) for a in (inp.transitions, inp.spectra, inp.mask))
    s2 = s.clone()
    s2[:, 3:] = 7.0  # garbage in padded slots
    with torch.no_grad():
        assert torch.allclose(net.encode(t, s, m), net.encode(t, s2, m), atol=1e-5)


def _saved(tmp_path):
    torch.manual_seed(0)
    net = PolicyNetwork(get_config("tiny"))
    return save_checkpoint(tmp_path / "ck", net, FeatureNorm.identity(), {"steps": 0}), net


def test_checkpoint_roundtrip_and_policy_sample(tmp_path):
    path, net = _saved(tmp_path)
    net2, norm, config = load_checkpoint(path)
    for k, v in net.state_dict().items():
        assert torch.equal(v, net2.state_dict()[k])
    assert config["metadata"] == {"steps": 0}
    pol = Policy.load(path)
    obs = _obs()
    x = pol.sample(obs, _lines(), 7, seed=1)
    assert x.shape == (7, 5)
    assert np.all(x >= TABLE1_BOUNDS[:, 0]) and np.all(x <= TABLE1_BOUNDS[:, 1])
    assert np.array_equal(x, pol.sample(obs, _lines(), 7, seed=1))
    many = pol.propose([obs, obs, obs], [_lines(), _lines(seed=2)], n_init=4)
    assert many.shape == (3, 4, 2, 5)


def test_checkpoint_validation(tmp_path):
    path, _ = _saved(tmp_path)
    cfg = json.loads((path / "config.json").read_text())
    cfg["architecture"]["dim"] = 64
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(path)
    cfg["format_version"] = 99
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="version"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no policy checkpoint"):
        load_checkpoint(tmp_path / "nothing")
    (path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="JSON"):
        load_checkpoint(path)
