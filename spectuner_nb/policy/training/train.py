"""Single-step reinforcement learning of the policy (docs/method.md §6), resumable.

Each step takes a batch of entries (pixel, species, augmentation): half fresh
(pixel chosen by peak-number bin, species with observed peaks), half from the
replay buffer. For every entry the policy draws ``n_draw`` actions; their
peak-matching losses (our numba LTE model + :class:`PeakMatchingLoss`) give
rewards R = 1 below the median of the draws, 0 otherwise, −0.5 without any
model peak. The loss is

    L = −E[R log P(a)] − E_{a∈queue}[log P(a)] + λ_ER E[log P(a)],

with the queue term over the replay half. Then ``refresh_factor × batch``
replay entries get new draws. AdamW with a one-cycle cosine schedule. The
state (weights, optimizer moments, replay buffer, step, RNG) is written to
the work directory every few minutes, so a run can stop and continue.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ...losses import PeakMatchingLoss
from ...model import LTEModel
from ...parameters import FIT_NAMES
from ..checkpoint import load_checkpoint, save_checkpoint
from ..config import PolicyConfig
from ..features import FeatureNorm, PolicyInput, build_input, raw_transition_features
from ..network import PolicyNetwork
from ..policy import as_tensors
from .augment import Augmentation, hash_seed
from .dataset import Pixel, peak_bins
from .replay import ReplayBuffer

__all__ = [
    "NO_PEAK_REWARD",
    "LOG_N_INDEX",
    "TrainConfig",
    "lr_at",
    "rewards",
    "Entry",
    "fit_feature_norm",
    "species_bins",
    "History",
    "STATE_DIR",
    "METRICS_FILE",
    "read_saved_state",
    "Trainer",
]

NO_PEAK_REWARD: float = -0.5
"""Reward of an action whose model spectrum has no peak."""
LOG_N_INDEX: int = FIT_NAMES.index("log10_N_tot")
"""Position of log10 N_tot (cm⁻²) in a fit-space action."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a training run (paper values where they scale).

    ``total_steps`` sets the one-cycle schedule: the learning rate rises from
    ``lr_max/100`` to ``lr_max`` over ``warmup_frac`` of the steps (paper:
    4000/35000) and falls along a cosine to ``lr_max·1e-4`` at ``total_steps``.
    ``species_balanced`` draws fresh entries species first (uniform over the
    training species, then a peak-number bin and a pixel holding that species)
    instead of pixel first, so rare species are seen as often as common ones.
    """

    batch_size: int = 16
    n_draw: int = 64
    lambda_er: float = 0.05
    lr_max: float = 7.5e-4
    weight_decay: float = 0.04
    warmup_frac: float = 4000 / 35000
    total_steps: int = 2000
    n_aug: int = 4
    refresh_factor: int = 4
    queue_size: int = 32
    grad_clip: float = 1.0
    checkpoint_every_s: float = 180.0
    seed: int = 0
    threads: int = 2
    species_balanced: bool = False
    degeneracy_log10: float = 0.0
    """Half-width d of the degeneracy-convention augmentation, g_u and Q × 10^U(−d, d)
    (:mod:`.augment`; 0 = off, the paper's five augmentations only)."""
    strength_log10: float = 0.0
    """Half-width s of the line-strength augmentation, A_ul × 10^U(−s, s) in the features
    and log10 N_tot + log10 of the same factor in the rewards (:mod:`.augment`; 0 = off)."""


def lr_at(step: int, cfg: TrainConfig) -> float:
    """One-cycle learning rate at ``step``: linear warm-up, cosine decay."""
    warm = max(1, int(round(cfg.warmup_frac * cfg.total_steps)))
    lo, hi, end = cfg.lr_max / 100.0, cfg.lr_max, cfg.lr_max * 1e-4
    if step < warm:
        return lo + (hi - lo) * step / warm
    frac = min(1.0, (step - warm) / max(1, cfg.total_steps - warm))
    return end + 0.5 * (hi - end) * (1.0 + np.cos(np.pi * frac))


def rewards(loss: np.ndarray, has_peak: np.ndarray) -> np.ndarray:
    """R per draw (…, n_draw): 1 below the median loss, 0 otherwise, −0.5 with no peak."""
    med = np.median(loss, axis=-1, keepdims=True)
    r = np.where(loss < med, 1.0, 0.0)
    return np.where(has_peak, r, NO_PEAK_REWARD)


@dataclass
class Entry:
    """Everything needed to evaluate actions for one (pixel, species, augmentation)."""

    key: str
    inputs: PolicyInput
    model: LTEModel
    loss: PeakMatchingLoss
    log_n_shift: float = 0.0
    """Added to log10 N_tot of every action before the model (line-strength augmentation:
    log10 of the A_ul factor of the features)."""

    def evaluate(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Peak-matching loss and has-peak flag of fit-space actions (n, 5)."""
        x = np.array(x, dtype=float)
        x[:, LOG_N_INDEX] += self.log_n_shift
        spectra = self.model.from_fit(x[:, None, :])
        res = self.loss(spectra)
        return np.asarray(res.loss, float), np.asarray(res.has_peak, bool)


def fit_feature_norm(pixels: list[Pixel], catalog, species: list[str] | None = None) -> FeatureNorm:
    """Z-score constants of the transition features over the training pixels."""
    from ..features import transitions_in_view

    rows = []
    for p in pixels:
        for s in species or p.species:
            if s in p.species:
                view = transitions_in_view(catalog.lines(s, p.obs.windows), p.obs)
                if len(view):
                    rows.append(raw_transition_features(view))
    if not rows:
        return FeatureNorm.identity()
    return FeatureNorm.fit(np.concatenate(rows))


def species_bins(pixels: list[Pixel], bins: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
    """For each target species, the non-empty peak bins restricted to pixels holding it."""
    out: dict[str, list[np.ndarray]] = {}
    for b in bins:
        for sp in sorted({s for i in b for s in pixels[int(i)].species}):
            out.setdefault(sp, []).append(
                np.array([i for i in b if sp in pixels[int(i)].species], dtype=int)
            )
    return out


@dataclass
class History:
    """Per-step training metrics (appended to ``metrics.jsonl`` in the work directory)."""

    rows: list[dict] = field(default_factory=list)

    def append(self, row: dict, path: Path | None) -> None:
        self.rows.append(row)
        if path is not None:
            with path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")

    @classmethod
    def read(cls, path: str | Path) -> History:
        path = Path(path)
        if not path.is_file():
            return cls()
        return cls([json.loads(line) for line in path.read_text().splitlines() if line.strip()])

    def column(self, name: str) -> np.ndarray:
        return np.array([r.get(name, np.nan) for r in self.rows], dtype=float)


STATE_DIR = "state"
"""Sub-folder of a run's work directory holding its resumable state."""
METRICS_FILE = "metrics.jsonl"
"""File of a run's per-step metrics in its work directory."""


def read_saved_state(workdir: str | Path) -> tuple[dict, ReplayBuffer]:
    """The saved trainer metadata (``train_config``, ``step``, ``rng``) and replay buffer of
    the run in ``workdir`` (as written by :meth:`Trainer.save_state`)."""
    state = Path(workdir) / STATE_DIR
    meta = json.loads((state / "trainer.json").read_text())
    return meta, ReplayBuffer.load(state / "replay")


class Trainer:
    """A resumable training run in ``workdir`` over ``pixels``.

    Parameters
    ----------
    workdir
        Directory of the run state (``state/``), metrics and checkpoints.
    pixels
        Training pixels (their ``species`` are the allowed targets).
    catalog
        Transition cache for line lists.
    model_config, train_config
        Architecture and hyper-parameters (ignored when resuming: the saved
        ones are used).
    init_checkpoint
        Checkpoint directory to start a new run from (its architecture,
        weights and feature normalisation; ``model_config`` is then ignored).
        Fresh optimizer, replay buffer and schedule (continued training).
    """

    def __init__(
        self,
        workdir: str | Path,
        pixels: list[Pixel],
        catalog,
        model_config: PolicyConfig | None = None,
        train_config: TrainConfig | None = None,
        cache_size: int = 1000,
        init_checkpoint: str | Path | None = None,
    ):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.pixels = [p for p in pixels if p.species]
        if not self.pixels:
            from ...errors import FitError

            raise FitError("no training pixel has a species with observed peaks")
        self.catalog = catalog
        self.bins = peak_bins(self.pixels)
        self._species_bins = species_bins(self.pixels, self.bins)
        self._cache: OrderedDict[str, Entry] = OrderedDict()
        self._cache_size = cache_size
        self.history = History.read(self.metrics_path)
        state = self.workdir / STATE_DIR
        if (state / "checkpoint" / "config.json").is_file():
            self._resume(state)
        else:
            self.cfg = train_config or TrainConfig()
            torch.manual_seed(self.cfg.seed)
            if init_checkpoint is not None:
                self.network, self.norm, _ = load_checkpoint(init_checkpoint)
                self.network.train()
            else:
                self.norm = fit_feature_norm(self.pixels, catalog)
                self.network = PolicyNetwork(model_config or PolicyConfig())
            self.step = 0
            self.buffer = ReplayBuffer(self.cfg.queue_size)
            self.rng = np.random.default_rng(self.cfg.seed)
            self.optimizer = self._make_optimizer()
        torch.set_num_threads(self.cfg.threads)
        self._last_save = time.monotonic()

    # ------------------------------------------------------------------ state
    @property
    def metrics_path(self) -> Path:
        return self.workdir / METRICS_FILE

    def _make_optimizer(self) -> torch.optim.AdamW:
        return torch.optim.AdamW(
            self.network.parameters(), lr=lr_at(0, self.cfg), weight_decay=self.cfg.weight_decay
        )

    def save_state(self) -> Path:
        """Write weights, optimizer moments, replay buffer, step and RNG to ``state/``."""
        state = self.workdir / STATE_DIR
        meta = {
            "train_config": asdict(self.cfg),
            "step": self.step,
            "rng": self.rng.bit_generator.state,
        }
        save_checkpoint(
            state / "checkpoint",
            self.network,
            self.norm,
            {"step": self.step, "train_config": asdict(self.cfg)},
        )
        tensors = {}
        names = {id(p): n for n, p in self.network.named_parameters()}
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                for k, v in self.optimizer.state.get(p, {}).items():
                    tensors[f"{names[id(p)]}::{k}"] = v.detach().clone().contiguous()
        if tensors:
            save_file(tensors, str(state / "optimizer.safetensors.tmp"))
            (state / "optimizer.safetensors.tmp").replace(state / "optimizer.safetensors")
        self.buffer.save(state / "replay")
        (state / "trainer.json.tmp").write_text(json.dumps(meta))
        (state / "trainer.json.tmp").replace(state / "trainer.json")
        self._last_save = time.monotonic()
        return state

    def _resume(self, state: Path) -> None:
        meta, self.buffer = read_saved_state(self.workdir)
        self.cfg = TrainConfig(**meta["train_config"])
        self.network, self.norm, _ = load_checkpoint(state / "checkpoint")
        self.network.train()
        self.step = int(meta["step"])
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = meta["rng"]
        self.optimizer = self._make_optimizer()
        opt_file = state / "optimizer.safetensors"
        if opt_file.is_file():
            tensors = load_file(str(opt_file))
            for name, p in self.network.named_parameters():
                slot = {
                    k.split("::", 1)[1]: v
                    for k, v in tensors.items()
                    if k.split("::", 1)[0] == name
                }
                if slot:
                    self.optimizer.state[p] = slot
        torch.manual_seed(self.cfg.seed + self.step)

    # ------------------------------------------------------------------ entries
    def _fresh_key(self) -> str:
        if self.cfg.species_balanced:
            names = sorted(self._species_bins)
            sp = names[int(self.rng.integers(len(names)))]
            bins = self._species_bins[sp]
            b = bins[int(self.rng.integers(len(bins)))]
            pix = int(b[int(self.rng.integers(b.size))])
        else:
            b = self.bins[int(self.rng.integers(len(self.bins)))]
            pix = int(b[int(self.rng.integers(b.size))])
            species = self.pixels[pix].species
            sp = species[int(self.rng.integers(len(species)))]
        aug = int(self.rng.integers(self.cfg.n_aug))
        return f"{pix}|{sp}|{aug}"

    def entry(self, key: str) -> Entry:
        """The (cached) entry of a key ``pixel|species|augmentation``."""
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        pix, sp, aug = key.split("|")
        pixel = self.pixels[int(pix)]
        augmentation = Augmentation.for_key(
            f"{pixel.name}|{sp}", int(aug), self.cfg.degeneracy_log10, self.cfg.strength_log10
        )
        obs = augmentation.apply(pixel.obs)
        lines = self.catalog.lines(sp, obs.windows)
        seed = hash_seed(key)
        inputs = build_input(
            obs,
            lines,
            self.network.cfg,
            self.norm,
            seed=seed,
            degeneracy_scale=augmentation.degeneracy_scale,
            strength_scale=augmentation.strength_scale,
        )
        model = LTEModel(obs.rest_freqs, [lines], beam=obs.beam, T_bg=obs.T_bg)
        loss = PeakMatchingLoss(obs.rest_freqs, obs.intensities, obs.rms)
        entry = Entry(key, inputs, model, loss, float(np.log10(augmentation.strength_scale)))
        self._cache[key] = entry
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return entry

    def _draw_and_push(
        self, entries: list[Entry], context: torch.Tensor
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw n_draw actions per entry, evaluate, push to the buffer.

        Returns actions (B, n, 5), losses (B, n) and has-peak flags (B, n).
        """
        with torch.no_grad():
            x, _ = self.network.sample(context.detach(), self.cfg.n_draw)
        x = x.double().numpy()
        losses = np.empty(x.shape[:2])
        has = np.empty(x.shape[:2], dtype=bool)
        for i, e in enumerate(entries):
            losses[i], has[i] = e.evaluate(x[i])
            self.buffer.push(e.key, x[i], losses[i])
        return x, losses, has

    def _encode(self, entries: list[Entry]) -> torch.Tensor:
        return self.network.encode(*as_tensors(PolicyInput.stack([e.inputs for e in entries])))

    # ------------------------------------------------------------------ one step
    def train_step(self) -> dict:
        """One optimisation step plus the replay refresh; returns its metrics."""
        t0 = time.perf_counter()
        cfg = self.cfg
        self.network.train()
        n_replay = min(cfg.batch_size // 2, len(self.buffer))
        replay_keys = self.buffer.sample_keys(n_replay, self.rng)
        fresh_keys = [self._fresh_key() for _ in range(cfg.batch_size - n_replay)]
        entries = [self.entry(k) for k in fresh_keys + replay_keys]
        context = self._encode(entries)
        x, losses, has = self._draw_and_push(entries, context)
        reward = torch.from_numpy(rewards(losses, has)).float()
        log_p = self.network.log_prob(context, torch.from_numpy(x).float())
        l_pg = -(reward * log_p).mean()
        l_er = log_p.mean()
        l_rb = torch.zeros(())
        n_fresh = len(fresh_keys)
        if replay_keys:
            terms = []
            for i, k in enumerate(replay_keys):
                qx, _ = self.buffer.get(k)
                ctx = context[n_fresh + i : n_fresh + i + 1]
                terms.append(self.network.log_prob(ctx, torch.from_numpy(qx[None]).float()))
            l_rb = -torch.cat([t.ravel() for t in terms]).mean()
        total = l_pg + l_rb + cfg.lambda_er * l_er
        lr = lr_at(self.step, cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.network.parameters(), cfg.grad_clip))
        self.optimizer.step()
        t1 = time.perf_counter()
        self._refresh(cfg.refresh_factor * cfg.batch_size)
        self.step += 1
        best = np.array([self.buffer.best_loss(e.key) for e in entries[:n_fresh]])
        row = {
            "step": self.step,
            "lr": lr,
            "loss": total.item(),
            "l_pg": l_pg.item(),
            "l_rb": l_rb.item(),
            "l_er": l_er.item(),
            "reward": reward.mean().item(),
            "no_peak": float(1.0 - has.mean()),
            "median_pm": float(np.median(np.median(losses[:n_fresh], axis=1))),
            "min_pm": float(np.median(losses[:n_fresh].min(axis=1))),
            "best_pm": float(np.median(best)) if best.size else float("nan"),
            "grad_norm": grad_norm,
            "t_step": t1 - t0,
            "t_refresh": time.perf_counter() - t1,
            "buffer": len(self.buffer),
        }
        self.history.append(row, self.metrics_path)
        return row

    def _refresh(self, n: int) -> None:
        keys = self.buffer.sample_keys(n, self.rng)
        if not keys:
            return
        entries = [self.entry(k) for k in keys]
        with torch.no_grad():
            self.network.eval()
            context = self._encode(entries)
            self._draw_and_push(entries, context)
            self.network.train()

    # ------------------------------------------------------------------ loop
    def run(
        self,
        n_steps: int | None = None,
        time_budget_s: float | None = None,
        callback: Callable[[dict], None] | None = None,
    ) -> History:
        """Train until ``n_steps`` more steps, the time budget or ``total_steps``.

        Saves the state every ``checkpoint_every_s`` and at the end.
        """
        t_start = time.monotonic()
        done = 0
        while self.step < self.cfg.total_steps:
            if n_steps is not None and done >= n_steps:
                break
            if time_budget_s is not None and time.monotonic() - t_start >= time_budget_s:
                break
            row = self.train_step()
            done += 1
            if callback is not None:
                callback(row)
            if time.monotonic() - self._last_save >= self.cfg.checkpoint_every_s:
                self.save_state()
        self.save_state()
        return self.history

    def export(self, path: str | Path, metadata: dict | None = None) -> Path:
        """Write the current network as a shippable checkpoint directory."""
        meta = {"step": self.step, "train_config": asdict(self.cfg), **(metadata or {})}
        return save_checkpoint(path, self.network, self.norm, meta)
