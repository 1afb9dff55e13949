"""The recipe of the shipped checkpoint: its stages, a resumable replay, the CLI command."""

from dataclasses import asdict

import pytest

from spectuner_nb.catalog import default_cache
from spectuner_nb.cli import main
from spectuner_nb.errors import CheckpointError, ConfigurationError
from spectuner_nb.policy import Policy
from spectuner_nb.policy.training.dataset import HELDOUT_SPECIES, load_pixels
from spectuner_nb.policy.training.recipe import (
    CATALOG_ORIGIN,
    SHIPPED_STAGES,
    SMOKE_W3_STEP,
    run_stages,
    smoke_stages,
    stage_summary,
    start_after,
)
from spectuner_nb.policy.training.workflow import known_species, smoke_configs, training_species


def test_shipped_stages_describe_the_shipped_checkpoint():
    meta = Policy.load().metadata
    catalog = default_cache()
    assert sum(s.steps for s in SHIPPED_STAGES) == meta["step"]
    assert asdict(SHIPPED_STAGES[-1].train) == meta["train_config"]
    assert (
        training_species(catalog, SHIPPED_STAGES[-1].species, origin=CATALOG_ORIGIN)
        == meta["train_species"]
    )
    assert meta["data"]["n_w3like_mock"] == sum(b.n for b in SHIPPED_STAGES[-1].layout_batches)
    held = set(known_species(catalog, HELDOUT_SPECIES))
    for stage in SHIPPED_STAGES:
        assert not held & set(training_species(catalog, stage.species))
    assert [s.name for s in SHIPPED_STAGES] == list(dict.fromkeys(s.name for s in SHIPPED_STAGES))
    rows = stage_summary(SHIPPED_STAGES, catalog)
    assert [r["species"] for r in rows] == [17, 56, 61, 79, 79, 79, 79, 79]
    assert [r["w3like_mocks"] for r in rows][-3:] == [1500, 3000, 4500]


def _weights(folder):
    return (folder / "weights.safetensors").read_bytes()


@pytest.mark.slow
def test_smoke_recipe_resumes_stage_by_stage(tmp_path, shared_catalogs):
    stages = smoke_stages()
    opts = {"model_config": smoke_configs()[0], "w3_step": SMOKE_W3_STEP}
    catalog = default_cache()
    assert run_stages(tmp_path / "a", catalog, stages, time_budget_s=0, **opts) is None
    assert not (tmp_path / "a" / "smoke1" / "exported").exists()
    full = run_stages(tmp_path / "a", catalog, stages, **opts)
    assert full == tmp_path / "a" / "smoke2" / "exported"

    first = run_stages(tmp_path / "b", catalog, stages[:1], **opts)
    assert first == tmp_path / "b" / "smoke1" / "exported"
    resumed = run_stages(tmp_path / "b", catalog, stages, **opts)
    assert _weights(resumed) == _weights(full)  # deterministic: same weights either way
    assert _weights(first) != _weights(resumed)

    meta = Policy.load(resumed).metadata
    assert meta["step"] == 5 and meta["continued_from_step"] == 3
    assert meta["recipe_stage"] == "smoke2" and meta["train_config"]["seed"] == 1
    assert not set(meta["heldout_species"]) & set(meta["train_species"])
    assert meta["data"]["n_w3like_mock"] == 4 and meta["data"]["w3_step"] == SMOKE_W3_STEP
    pixels = load_pixels(tmp_path / "b" / "smoke2" / "train_pixels.json")
    assert meta["data"]["train_pixels"] == len(pixels)

    started = start_after(tmp_path / "c", "smoke1", tmp_path / "a" / "smoke1" / "exported", stages)
    assert started == tmp_path / "c" / "smoke1" / "exported"
    assert _weights(run_stages(tmp_path / "c", catalog, stages, **opts)) == _weights(full)
    assert not (tmp_path / "c" / "smoke1" / "run").exists()  # stage 1 was not trained again
    with pytest.raises(ConfigurationError, match="exists already"):
        start_after(tmp_path / "c", "smoke1", first, stages)
    with pytest.raises(ConfigurationError, match="no stage 'run99'"):
        start_after(tmp_path / "d", "run99", first, stages)
    with pytest.raises(CheckpointError, match="no policy checkpoint"):
        start_after(tmp_path / "d", "smoke1", tmp_path / "empty", stages)

    stamp = (resumed / "weights.safetensors").stat().st_mtime_ns
    assert run_stages(tmp_path / "b", catalog, stages, **opts) == resumed
    assert (resumed / "weights.safetensors").stat().st_mtime_ns == stamp  # nothing retrained


def test_train_policy_command_smoke(tmp_path, shared_catalogs, capsys):
    assert main(["train-policy", str(tmp_path), "--smoke", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "smoke2" / "exported") in out
    assert (
        main(["train-policy", str(tmp_path / "x"), "--smoke", "--quiet", "--budget-min", "0"]) == 3
    )
    assert main(["train-policy", str(tmp_path / "y"), "--smoke", "--start-after", "smoke1"]) == 1


def test_recipe_needs_the_shared_data(tmp_path, monkeypatch):
    from spectuner_nb import settings

    catalog = default_cache()
    monkeypatch.setenv("SPECTUNER_NB_SHARED_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setattr(settings, "_PACKAGE_DIR", tmp_path / "a" / "b")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match="shared data"):
        run_stages(tmp_path / "w", catalog, smoke_stages())


def test_stage_steps_must_fit_the_schedule():
    from dataclasses import replace

    with pytest.raises(ConfigurationError, match="n_steps 3000"):
        replace(SHIPPED_STAGES[1], n_steps=3000)
    assert replace(SHIPPED_STAGES[1], n_steps=20).steps == 20
