"""The recipe of the shipped policy checkpoint: its training stages, replayable.

The shipped ``small`` checkpoint (``spectuner_nb/data/policy``, step 14 517) was trained
in eight chained stages on one CPU thread; each stage starts a new one-cycle schedule
from the previous stage's checkpoint (docs/policy.md, *The shipped checkpoint*).
:data:`SHIPPED_STAGES` lists them with their data and hyper-parameters and
:func:`run_stages` replays them in a work directory::

    WORKDIR/<stage>/train_pixels.json   the stage's training pixels (built once)
    WORKDIR/<stage>/run/                the resumable Trainer state and metrics
    WORKDIR/<stage>/exported/           the stage's checkpoint (stage done when present)

Training starts after the last stage with an exported checkpoint, so a stopped rebuild
continues where it stopped (inside a stage, from the trainer's last saved state), and a
rebuild can start late from an earlier checkpoint (:func:`start_after`, e.g. the step-1000
checkpoint of git history as stage ``run1``'s export). On one thread the training is
deterministic: a stage replayed from its original starting checkpoint repeats the
original run step for step (``benchmarks/check_policy_recipe.py``). The W3(H2O) pixels are
read from the shared data (``SPECTUNER_NB_SHARED_DATA``).

Stage ``run1`` cannot repeat the original first run exactly: the starter catalog changed
after it (its CH3OH entry, for one), so the 300 mocks drawn from it differ (the W3(H2O)
pixels do not); every later stage's data are those of the original run.
"""

from __future__ import annotations

import functools
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ...errors import CheckpointError, ConfigurationError
from ...settings import shared_data_dir
from ..checkpoint import CONFIG_FILE, WEIGHTS_FILE, read_config
from ..config import PolicyConfig, get_config
from .dataset import (
    EXTRA_TRAIN_SPECIES,
    HELDOUT_SPECIES,
    HOTCORE_TRAIN_SPECIES,
    ORGANIC_TRAIN_SPECIES,
    SHIPPED_TRAIN_SPECIES,
    TRAIN_SPECIES,
    Pixel,
    layout_mock_pixels,
    load_pixels,
    save_pixels,
)
from .train import METRICS_FILE, History, TrainConfig, Trainer
from .workflow import known_species, smoke_configs, training_pixels, training_species

__all__ = [
    "EXPORT_DIR",
    "PIXELS_FILE",
    "RUN_DIR",
    "CATALOG_ORIGIN",
    "LayoutBatch",
    "Stage",
    "SHIPPED_STAGES",
    "SMOKE_W3_STEP",
    "smoke_stages",
    "stage_pixels",
    "start_after",
    "stage_done",
    "run_stages",
    "stage_summary",
    "stage_history",
]

EXPORT_DIR = "exported"
"""Sub-folder of a stage holding its exported checkpoint."""
PIXELS_FILE = "train_pixels.json"
"""File of a stage's training pixels."""
RUN_DIR = "run"
"""Sub-folder of a stage holding its trainer state and metrics."""
CATALOG_ORIGIN = "starter"
"""Catalog entries the stages draw their species from: the starter catalog's, as in the
original runs (species of a full offline catalog built later are left out)."""


@dataclass(frozen=True)
class LayoutBatch:
    """A batch of mocks with the W3(H2O) window layout (:func:`.dataset.layout_mock_pixels`)."""

    n: int
    seed: int
    line_rich_species: tuple[int, int] | None = None
    """(min, max) species per line-rich mock; None = the regime's default."""
    prefix: str | None = None
    """Pixel-name prefix (seeds the pixels' augmentations); None = ``w3like<seed>``."""


@dataclass(frozen=True)
class Stage:
    """One training run of the recipe: its data, hyper-parameters and length.

    The pixels are ``n_mock`` standard mocks (bands 3/6/7, seed 1) mixing ``species``,
    the W3(H2O) pixels with even (x + y), then the ``layout_batches``; the targets are
    ``species`` (held-out species removed). ``n_steps`` is the number of steps run
    (default ``train.total_steps``; smaller when the original run stopped before the end
    of its schedule).
    """

    name: str
    species: tuple[str, ...]
    n_mock: int
    train: TrainConfig
    layout_batches: tuple[LayoutBatch, ...] = ()
    n_steps: int | None = None
    note: str = field(default="", compare=False)

    def __post_init__(self):
        if self.n_steps is not None and not 0 < self.n_steps <= self.train.total_steps:
            raise ConfigurationError(
                f"stage {self.name}: n_steps {self.n_steps} is not within "
                f"1..total_steps ({self.train.total_steps})"
            )

    @property
    def steps(self) -> int:
        """Steps this stage runs."""
        return self.train.total_steps if self.n_steps is None else self.n_steps


def _continued(seed: int, total_steps: int, lr_max: float = 3e-4, **augment: Any) -> TrainConfig:
    """Hyper-parameters shared by the continued stages (batch 16, 5 % warm-up, 1 thread)."""
    return TrainConfig(
        batch_size=16,
        n_draw=64,
        lr_max=lr_max,
        warmup_frac=0.05,
        total_steps=total_steps,
        threads=1,
        checkpoint_every_s=120.0,
        seed=seed,
        species_balanced=True,
        **augment,
    )


_AUGMENT: dict[str, Any] = {"degeneracy_log10": 1.5, "strength_log10": 1.0}
_W3LIKE = LayoutBatch(1500, 3)
_DENSE4 = LayoutBatch(1500, 4, (8, 16), "w3like4d")
_DENSE5 = LayoutBatch(1500, 5, (8, 16), "w3like5d")

SHIPPED_STAGES: tuple[Stage, ...] = (
    Stage(
        "run1",
        TRAIN_SPECIES,
        300,
        TrainConfig(batch_size=8, total_steps=1000, threads=1),
        note="steps 0-1000: the training notebooks' settings, 17 species",
    ),
    Stage(
        "run4",
        TRAIN_SPECIES + EXTRA_TRAIN_SPECIES + HOTCORE_TRAIN_SPECIES,
        600,
        _continued(4, 2600, lr_max=4e-4),
        n_steps=2317,
        note="steps 1000-3317: 56 species; the original run stopped at its time budget, "
        "2317 steps into its 2600-step schedule",
    ),
    Stage(
        "run7",
        TRAIN_SPECIES + EXTRA_TRAIN_SPECIES + HOTCORE_TRAIN_SPECIES + ORGANIC_TRAIN_SPECIES,
        600,
        _continued(7, 1800),
        note="steps 3317-5117: 61 species (five complex organics added)",
    ),
    Stage(
        "run8",
        SHIPPED_TRAIN_SPECIES,
        600,
        _continued(8, 1800, degeneracy_log10=1.5),
        note="steps 5117-6917: 79 species, degeneracy-convention augmentation",
    ),
    Stage(
        "run10",
        SHIPPED_TRAIN_SPECIES,
        1500,
        _continued(10, 1800, degeneracy_log10=1.5),
        note="steps 6917-8717: 1500 standard mocks instead of 600",
    ),
    Stage(
        "run12D",
        SHIPPED_TRAIN_SPECIES,
        1500,
        _continued(12, 2100, **_AUGMENT),
        (_W3LIKE,),
        note="steps 8717-10817: + 1500 W3-like mocks, line-strength augmentation",
    ),
    Stage(
        "run13F",
        SHIPPED_TRAIN_SPECIES,
        1500,
        _continued(13, 2000, **_AUGMENT),
        (_W3LIKE, _DENSE4),
        note="steps 10817-12817: + 1500 dense W3-like mocks",
    ),
    Stage(
        "run14G",
        SHIPPED_TRAIN_SPECIES,
        1500,
        _continued(14, 1700, **_AUGMENT),
        (_W3LIKE, _DENSE4, _DENSE5),
        note="steps 12817-14517: + 1500 more dense W3-like mocks",
    ),
)
"""The eight stages of the shipped checkpoint (14 517 steps)."""

SMOKE_W3_STEP: int = 10
"""W3(H2O) grid thinning of :func:`smoke_stages` (every 10th pixel per axis)."""


def smoke_stages() -> tuple[Stage, ...]:
    """Two stages of a few steps with the recipe's structure (tests and CI).

    Use with the ``tiny`` architecture of :func:`.workflow.smoke_configs` and
    ``w3_step=SMOKE_W3_STEP``; the second stage is continued from the first and stops
    before the end of its schedule, as the original run 4 did.
    """
    _, base = smoke_configs()
    return (
        Stage("smoke1", TRAIN_SPECIES, 6, base, note="smoke: first stage"),
        Stage(
            "smoke2",
            SHIPPED_TRAIN_SPECIES,
            6,
            replace(base, total_steps=4, seed=1, species_balanced=True, **_AUGMENT),
            (LayoutBatch(4, 3),),
            n_steps=2,
            note="smoke: continued stage",
        ),
    )


def stage_pixels(stage: Stage, catalog, *, w3_step: int = 1) -> list[Pixel]:
    """The training pixels of ``stage`` (mocks, even W3(H2O) pixels, layout batches)."""
    species = training_species(catalog, stage.species, origin=CATALOG_ORIGIN)
    pixels = training_pixels(catalog, species, n_mock=stage.n_mock, w3_step=w3_step)
    for batch in stage.layout_batches:
        pixels += layout_mock_pixels(
            batch.n,
            species,
            seed=batch.seed,
            catalog=catalog,
            line_rich_species=batch.line_rich_species,
            prefix=batch.prefix,
        )
    return pixels


def _stage_metadata(
    stage: Stage,
    trainer: Trainer,
    pixels: list[Pixel],
    catalog,
    previous: dict | None,
    w3_step: int,
) -> dict:
    """Checkpoint metadata of a finished stage, cumulative over the stages before it.

    Wall times are the summed step times (s) of the stages' metrics.
    """
    previous = previous or {}
    wall = float((trainer.history.column("t_step") + trainer.history.column("t_refresh")).sum())
    start = int(previous.get("step", 0))
    meta = {
        "note": f"spectuner_nb.policy.training.recipe stage {stage.name}: {stage.note}",
        "recipe_stage": stage.name,
        "step": start + trainer.step,
        "train_wall_time_s": float(previous.get("train_wall_time_s", 0.0)) + wall,
        "continued_wall_time_s": wall,
        "data": {
            "n_mock_train": stage.n_mock,
            "n_w3like_mock": sum(b.n for b in stage.layout_batches),
            "w3_step": w3_step,
            "train_pixels": len(pixels),
            "train_entries": sum(len(p.species) for p in pixels),
        },
        "train_species": training_species(catalog, stage.species, origin=CATALOG_ORIGIN),
        "heldout_species": known_species(catalog, HELDOUT_SPECIES, origin=CATALOG_ORIGIN),
    }
    if previous:
        meta["continued_from_step"] = start
    return meta


def _read_metadata(directory: Path) -> dict:
    return read_config(directory).get("metadata", {})


def start_after(
    workdir: str | Path,
    stage: str,
    checkpoint: str | Path,
    stages: Sequence[Stage] = SHIPPED_STAGES,
) -> Path:
    """Make ``checkpoint`` the export of ``stage`` in ``workdir``, so training resumes after it.

    E.g. the step-1000 checkpoint of git history as ``run1``'s export rebuilds the shipped
    weights from stage ``run4`` on. Refuses to replace an existing export.
    """
    if stage not in [s.name for s in stages]:
        raise ConfigurationError(
            f"no stage {stage!r} in the recipe (stages: {', '.join(s.name for s in stages)})"
        )
    read_config(checkpoint)  # a readable checkpoint of this format, or a clear error
    if not (Path(checkpoint) / WEIGHTS_FILE).is_file():
        raise CheckpointError(f"no {WEIGHTS_FILE} in {checkpoint}")
    target = Path(workdir) / stage / EXPORT_DIR
    if target.exists():
        raise ConfigurationError(
            f"{target} exists already; remove it to start from another checkpoint"
        )
    target.mkdir(parents=True)
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        shutil.copy2(Path(checkpoint) / name, target / name)
    return target


def stage_done(workdir: str | Path, stage: str) -> bool:
    """True when ``stage`` has an exported checkpoint in ``workdir``."""
    return (Path(workdir) / stage / EXPORT_DIR / CONFIG_FILE).is_file()


def run_stages(
    workdir: str | Path,
    catalog,
    stages: Sequence[Stage] = SHIPPED_STAGES,
    *,
    model_config: PolicyConfig | None = None,
    w3_step: int = 1,
    time_budget_s: float | None = None,
    callback: Callable[[Stage, dict], None] | None = None,
) -> Path | None:
    """Train ``stages`` in order in ``workdir``; return the last stage's checkpoint folder.

    Parameters
    ----------
    workdir
        Work directory (one sub-folder per stage, see the module docstring).
    catalog
        Transition cache holding the stages' species (the starter catalog).
    stages
        The stages (default: those of the shipped checkpoint).
    model_config
        Architecture of the first stage (default ``small``); later stages inherit it.
    w3_step
        Thinning of the W3(H2O) pixel grid (1 = every pixel, as shipped).
    time_budget_s
        Wall-clock budget of this call (s). When it runs out the state is saved and
        ``None`` is returned; call again to continue.
    callback
        Called after every step with the stage and the step's metrics row.
    """
    shared_data_dir()  # the W3(H2O) pixels are part of every stage: fail early and clearly
    workdir = Path(workdir)
    t_start = time.monotonic()
    done = [i for i, s in enumerate(stages) if stage_done(workdir, s.name)]
    first = done[-1] + 1 if done else 0
    previous = workdir / stages[first - 1].name / EXPORT_DIR if first else None
    for stage in stages[first:]:
        folder = workdir / stage.name
        exported = folder / EXPORT_DIR
        if (folder / PIXELS_FILE).is_file():
            pixels = load_pixels(folder / PIXELS_FILE)
        else:
            pixels = stage_pixels(stage, catalog, w3_step=w3_step)
            save_pixels(pixels, folder / PIXELS_FILE)
        trainer = Trainer(
            folder / RUN_DIR,
            pixels,
            catalog,
            model_config=(model_config or get_config("small")) if previous is None else None,
            train_config=stage.train,
            init_checkpoint=previous,
        )
        left = None if time_budget_s is None else time_budget_s - (time.monotonic() - t_start)
        if left is not None and left <= 0:
            return None
        trainer.run(
            n_steps=stage.steps - trainer.step,
            time_budget_s=left,
            callback=None if callback is None else functools.partial(callback, stage),
        )
        if trainer.step < stage.steps:
            return None
        meta = _stage_metadata(
            stage, trainer, pixels, catalog, _read_metadata(previous) if previous else None, w3_step
        )
        trainer.export(exported, meta)
        previous = exported
    return previous


def stage_summary(stages: Sequence[Stage], catalog) -> list[dict]:
    """One row per stage (name, training species, mocks, steps, schedule, augmentations)."""
    rows = []
    for stage in stages:
        cfg = stage.train
        rows.append(
            {
                "stage": stage.name,
                "species": len(training_species(catalog, stage.species, origin=CATALOG_ORIGIN)),
                "mocks": stage.n_mock,
                "w3like_mocks": sum(b.n for b in stage.layout_batches),
                "steps": stage.steps,
                "batch": cfg.batch_size,
                "lr_max": cfg.lr_max,
                "seed": cfg.seed,
                "degeneracy_log10": cfg.degeneracy_log10,
                "strength_log10": cfg.strength_log10,
                "note": stage.note,
            }
        )
    return rows


def stage_history(workdir: str | Path, stage: str) -> History:
    """The metrics of ``stage`` so far (empty before it starts)."""
    return History.read(Path(workdir) / stage / RUN_DIR / METRICS_FILE)
