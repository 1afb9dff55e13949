"""The checkpoint shipped inside the package, and fit_spectrum(init="policy")."""

import numpy as np

from spectuner_nb.parameters import TABLE1_BOUNDS
from spectuner_nb.policy import Policy
from spectuner_nb.policy.checkpoint import default_checkpoint_dir, read_config


def test_shipped_checkpoint_small_safe_and_loadable():
    folder = default_checkpoint_dir()
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["config.json", "weights.safetensors"]
    assert sum(p.stat().st_size for p in folder.iterdir()) <= 20 * 2**20
    config = read_config(folder)
    assert np.allclose(config["bounds"], TABLE1_BOUNDS)
    policy = Policy.load()
    assert policy is Policy.load()  # cached
    assert policy.metadata["step"] > 0


def test_fit_spectrum_with_policy_init():
    from spectuner_nb.fit import fit_spectrum
    from spectuner_nb.mock import mock_spectrum

    m = mock_spectrum(["CH3OH"], band=6, n_windows=1, n_channels=256, seed=3)
    res = fit_spectrum(
        m.obs, "CH3OH", init="policy", n_init=20, loss="pm", errors=False, maxiter=50
    )
    assert res.init == "policy"
    assert res.nfev_init == 20 and np.isfinite(res.loss)
    assert np.all(res.x >= TABLE1_BOUNDS[:, 0]) and np.all(res.x <= TABLE1_BOUNDS[:, 1])


def test_shipped_checkpoint_never_trained_on_heldout_species():
    from spectuner_nb.catalog.names import resolve
    from spectuner_nb.policy.training.dataset import HELDOUT_SPECIES

    meta = Policy.load().metadata
    held = {resolve(s) for s in HELDOUT_SPECIES}
    assert {resolve(s) for s in meta["heldout_species"]} == held
    assert held.isdisjoint(resolve(s) for s in meta["train_species"])


def test_shipped_checkpoint_trained_on_every_other_starter_species():
    from spectuner_nb.catalog import default_cache
    from spectuner_nb.catalog.names import resolve
    from spectuner_nb.catalog.starter import read_manifest
    from spectuner_nb.policy.training.dataset import HELDOUT_SPECIES, SHIPPED_TRAIN_SPECIES
    from spectuner_nb.policy.training.workflow import known_species

    trained = set(Policy.load().metadata["train_species"])
    cache = default_cache()  # the shipped policy was trained on the starter catalog's species
    assert trained == {
        s for s in known_species(cache, SHIPPED_TRAIN_SPECIES) if cache.entry(s).origin == "starter"
    }

    def molecule(name: str) -> str:  # "CH3OH;vt=0-2;" and "CH3OH;v=0;" are one molecule
        return resolve(name).split(";")[0]

    held = {molecule(s) for s in HELDOUT_SPECIES}
    starter = {molecule(r["name"]) for r in read_manifest()["species"]}
    assert {molecule(s) for s in trained} == starter - held
