"""The steps of the training notebooks (notebooks/training/), as testable functions.

``smoke=True`` (an argument of :func:`workdir`, :func:`make_trainer` and
:func:`load_eval_pixels`, passed by the notebooks) selects smoke mode: tiny data, a few
steps, the ``tiny`` architecture (CI). The run's work directory is
``SPECTUNER_NB_POLICY_WORKDIR`` when set, else ``<cache dir>/policy_training`` (or
``…/policy_smoke`` in smoke mode); real pixels are written there, never into the
repository.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...settings import cache_dir, shared_data_dir
from ..config import PolicyConfig, get_config
from .dataset import (
    HELDOUT_SPECIES,
    TRAIN_SPECIES,
    Pixel,
    load_pixels,
    mock_pixels,
    save_pixels,
    w3h2o_pixels,
)
from .train import History, TrainConfig, Trainer

__all__ = [
    "TRAIN_FILE",
    "EVAL_FILE",
    "workdir",
    "known_species",
    "training_species",
    "training_pixels",
    "prepare_data",
    "prepare_smoke_data",
    "smoke_configs",
    "make_trainer",
    "load_eval_pixels",
    "split_by_species",
    "smooth",
    "plot_history",
    "save_curves",
]

TRAIN_FILE = "train_pixels.json"
EVAL_FILE = "eval_pixels.json"


def workdir(*, smoke: bool = False) -> Path:
    """The run's work directory (created); ``smoke``: the smoke run's default folder."""
    env = os.environ.get("SPECTUNER_NB_POLICY_WORKDIR")
    path = Path(env) if env else cache_dir() / ("policy_smoke" if smoke else "policy_training")
    path.mkdir(parents=True, exist_ok=True)
    return path


def known_species(catalog, names, *, origin: str | None = None) -> list[str]:
    """Canonical names of ``names`` that the catalog holds (resolver spelling); with
    ``origin`` (e.g. ``"starter"``), only those whose catalog entry has that origin."""
    from ...catalog import resolve
    from ...errors import CatalogError

    out = []
    for n in names:
        try:
            entry = catalog.entry(n)
        except CatalogError:
            continue
        if origin is None or entry.origin == origin:
            out.append(resolve(n))
    return list(dict.fromkeys(out))


def training_species(
    catalog, train_species: Sequence[str] = TRAIN_SPECIES, *, origin: str | None = None
) -> list[str]:
    """Canonical names of ``train_species`` in the catalog (of ``origin`` when given, see
    :func:`known_species`), held-out species removed."""
    held = set(known_species(catalog, HELDOUT_SPECIES, origin=origin))
    return [s for s in known_species(catalog, train_species, origin=origin) if s not in held]


def training_pixels(
    catalog, train_species: Sequence[str], *, n_mock: int, w3_step: int = 1
) -> list[Pixel]:
    """Training pixels: ``n_mock`` mocks (seed 1) mixing ``train_species`` only, then the
    W3(H2O) pixels with even (x + y) when the shared data are present.

    ``train_species`` must already be canonical (:func:`training_species`).
    """
    pixels = mock_pixels(n_mock, train_species, seed=1, catalog=catalog)
    if shared_data_dir(required=False) is not None:
        pixels += w3h2o_pixels(train_species, catalog, parity=0, step=w3_step)
    return pixels


def prepare_data(
    catalog,
    *,
    n_mock_train: int = 300,
    n_mock_eval: int = 40,
    w3_step: int = 1,
    directory: Path | None = None,
    train_species: Sequence[str] = TRAIN_SPECIES,
) -> dict:
    """Build and save training and evaluation pixels; return counts per set.

    Training: :func:`training_pixels` (mocks mixing ``train_species`` only + W3(H2O)
    pixels with even (x + y)), targets = training species. Evaluation: mocks mixing all
    species (seed disjoint) + W3(H2O) pixels with odd (x + y), targets = all species.
    Held-out species (``HELDOUT_SPECIES``) are never training targets.
    """
    directory = workdir() if directory is None else directory
    train_sp = training_species(catalog, train_species)
    held_sp = known_species(catalog, HELDOUT_SPECIES)
    all_sp = train_sp + held_sp
    train = training_pixels(catalog, train_sp, n_mock=n_mock_train, w3_step=w3_step)
    evals = mock_pixels(n_mock_eval, all_sp, seed=2, catalog=catalog)
    if shared_data_dir(required=False) is not None:
        evals += w3h2o_pixels(all_sp, catalog, parity=1, step=w3_step)
    save_pixels(train, directory / TRAIN_FILE)
    save_pixels(evals, directory / EVAL_FILE)
    return {
        "train_pixels": len(train),
        "eval_pixels": len(evals),
        "train_species": train_sp,
        "heldout_species": held_sp,
        "train_entries": sum(len(p.species) for p in train),
    }


def prepare_smoke_data(catalog, directory: Path | None = None) -> dict:
    """The small data set of smoke mode (a few mocks, a thinned W3(H2O) grid)."""
    directory = workdir(smoke=True) if directory is None else directory
    return prepare_data(catalog, n_mock_train=6, n_mock_eval=4, w3_step=10, directory=directory)


def _ensure_smoke_data(catalog, directory: Path) -> None:
    if not (directory / TRAIN_FILE).is_file():
        prepare_smoke_data(catalog, directory)


def smoke_configs() -> tuple[PolicyConfig, TrainConfig]:
    """Architecture and hyper-parameters of the smoke run."""
    return get_config("tiny"), TrainConfig(
        batch_size=4, n_draw=16, total_steps=3, refresh_factor=1, threads=1
    )


def make_trainer(
    catalog,
    directory: Path | None = None,
    model_config: PolicyConfig | None = None,
    train_config: TrainConfig | None = None,
    *,
    smoke: bool = False,
) -> Trainer:
    """A trainer over the saved training pixels (resumes if a state exists).

    ``smoke``: the data are prepared if missing, every run starts afresh and, without
    ``model_config``, the smoke run's architecture and hyper-parameters are used.
    """
    directory = workdir(smoke=smoke) if directory is None else directory
    if smoke:
        _ensure_smoke_data(catalog, directory)
    pixels = load_pixels(directory / TRAIN_FILE)
    if smoke:
        shutil.rmtree(directory / "run", ignore_errors=True)
        if model_config is None:
            model_config, train_config = smoke_configs()
    return Trainer(directory / "run", pixels, catalog, model_config, train_config)


def load_eval_pixels(catalog, directory: Path | None = None, *, smoke: bool = False) -> list[Pixel]:
    """The saved evaluation pixels (``smoke``: prepared first if missing)."""
    directory = workdir(smoke=smoke) if directory is None else directory
    if smoke:
        _ensure_smoke_data(catalog, directory)
    return load_pixels(directory / EVAL_FILE)


def split_by_species(pixels: list[Pixel], species: list[str]) -> list[Pixel]:
    """Copies of ``pixels`` whose targets are restricted to ``species`` (empty ones dropped)."""
    out = []
    for p in pixels:
        keep = [s for s in p.species if s in species]
        if keep:
            out.append(Pixel(p.obs, p.name, keep, p.n_peaks, p.truth))
    return out


def smooth(values: np.ndarray, window: int = 25) -> np.ndarray:
    """Running mean (NaN-aware) for noisy training curves."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return v
    w = max(1, min(window, v.size))
    ok = np.isfinite(v)
    num = np.convolve(np.where(ok, v, 0.0), np.ones(w), mode="same")
    den = np.convolve(ok.astype(float), np.ones(w), mode="same")
    return num / np.maximum(den, 1)


def plot_history(history: History, axes=None, window: int = 25):
    """Training curves (reward, loss terms, PM losses, lr) on a 2×2 matplotlib grid."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(2, 2, figsize=(10, 6))
    axes = np.asarray(axes).ravel()
    step = history.column("step")
    panels = [
        ("mean reward", ["reward"]),
        ("loss terms", ["l_pg", "l_rb"]),
        ("peak-matching loss (K)", ["median_pm", "min_pm", "best_pm"]),
        ("no-peak fraction / lr×1e3", ["no_peak", "lr"]),
    ]
    for ax, (title, cols) in zip(axes, panels, strict=True):
        ax.clear()
        for c in cols:
            y = history.column(c) * (1e3 if c == "lr" else 1.0)
            ax.plot(step, smooth(y, window), label=c)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    axes[0].figure.tight_layout()
    return axes


def save_curves(history: History, path: str | Path, window: int = 25) -> Path:
    """Write the training curves of :func:`plot_history` to an image file."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 6))
    plot_history(history, axes, window)
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
