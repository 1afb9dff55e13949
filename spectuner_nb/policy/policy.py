"""Policy: the trained network as a source of initial parameters (docs/method.md §7).

``Policy.load()`` reads the checkpoint shipped in the package;
``sample``/``propose`` draw fit-space parameters [log10 η, T_ex, log10 N_tot,
log10 Δv, v_off] for one or many observations (pixels) in one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..catalog.linelist import LineList
from ..observation import Observation
from .checkpoint import WEIGHTS_FILE, load_checkpoint
from .features import FeatureNorm, PolicyInput, build_input
from .loader import CHECKPOINT_ENV, checkpoint_dir
from .network import PolicyNetwork

__all__ = ["CHECKPOINT_ENV", "as_tensors", "Policy"]

SpeciesLike = str | LineList


@lru_cache(maxsize=4)
def _load_cached(directory: str, stamp: int) -> Policy:
    network, norm, config = load_checkpoint(directory)
    return Policy(network, norm, config)


def as_tensors(inputs: PolicyInput) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Torch views of a :class:`PolicyInput`."""
    return (
        torch.from_numpy(inputs.transitions),
        torch.from_numpy(inputs.spectra),
        torch.from_numpy(inputs.mask),
    )


class Policy:
    """A trained policy network with its input normalisation."""

    def __init__(self, network: PolicyNetwork, norm: FeatureNorm, config: dict | None = None):
        self.network = network.eval()
        self.norm = norm
        self.config = config or {}

    @classmethod
    def load(cls, path: str | Path | None = None) -> Policy:
        """Load a checkpoint directory.

        Default: :func:`~spectuner_nb.policy.loader.checkpoint_dir`, the directory in
        ``$SPECTUNER_NB_POLICY_CHECKPOINT`` when set
        (e.g. to benchmark a candidate checkpoint through ``fit_spectrum``),
        else the one shipped with the package. Loaded policies are cached by
        resolved path and file time, so repeated calls (one per fitted pixel)
        cost nothing.
        """
        directory = Path(checkpoint_dir() if path is None else path).resolve()
        stamp = (
            (directory / WEIGHTS_FILE).stat().st_mtime_ns
            if (directory / WEIGHTS_FILE).is_file()
            else 0
        )
        return _load_cached(str(directory), stamp)

    @property
    def metadata(self) -> dict:
        """Training metadata stored in the checkpoint."""
        return self.config.get("metadata", {})

    def line_lists(
        self, obs: Observation, species: Sequence[SpeciesLike], catalog=None
    ) -> list[LineList]:
        """LineLists of ``species`` in the windows of ``obs`` (names looked up in ``catalog``)."""
        out = []
        for sp in species:
            if isinstance(sp, LineList):
                out.append(sp)
                continue
            if catalog is None:
                from ..catalog import default_cache

                catalog = default_cache()
            out.append(catalog.lines(sp, obs.windows))
        return out

    def inputs(
        self,
        observations: Sequence[Observation],
        lines: Sequence[Sequence[LineList]],
        seed: int = 0,
    ) -> PolicyInput:
        """Network inputs for every (observation, species) pair, observation-major."""
        cfg = self.network.cfg
        items = [
            build_input(obs, ll, cfg, self.norm, seed=seed)
            for obs, per_obs in zip(observations, lines, strict=True)
            for ll in per_obs
        ]
        return PolicyInput.stack(items)

    @torch.inference_mode()
    def sample_inputs(
        self, inputs: PolicyInput, n: int, seed: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``n`` samples per input row: (x (B, n, 5) fit space, log p (B, n))."""
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        context = self.network.encode(*as_tensors(inputs))
        x, log_p = self.network.sample(context, n, gen)
        bounds = self.network.bounds()
        x = np.clip(x.double().numpy(), bounds[:, 0], bounds[:, 1])
        return x, log_p.double().numpy()

    def sample(
        self,
        obs: Observation | Sequence[Observation],
        species: SpeciesLike | Sequence[SpeciesLike],
        n: int,
        *,
        catalog=None,
        seed: int | None = None,
    ) -> np.ndarray:
        """Draw ``n`` fit-space parameter sets per observation and species.

        Shapes: one observation and one species → (n, 5); a list of species
        adds an axis (n, n_species, 5); a list of observations adds a leading
        axis (n_obs, ...). Species are sampled independently (one component each).
        """
        single_obs = isinstance(obs, Observation)
        obs_list = [obs] if isinstance(obs, Observation) else list(obs)
        single_sp = isinstance(species, str | LineList)
        sp_list = [species] if isinstance(species, str | LineList) else list(species)
        lines = [self.line_lists(o, sp_list, catalog) for o in obs_list]
        inputs = self.inputs(obs_list, lines, seed=0 if seed is None else seed)
        x, _ = self.sample_inputs(inputs, n, seed)
        x = x.reshape(len(obs_list), len(sp_list), n, 5).transpose(0, 2, 1, 3)
        if single_sp:
            x = x[:, :, 0]
        return x[0] if single_obs else x

    def propose(
        self,
        obs: Observation | Sequence[Observation],
        species: SpeciesLike | Sequence[SpeciesLike],
        n_init: int = 50,
        *,
        catalog=None,
        seed: int | None = 0,
    ) -> np.ndarray:
        """``n_init`` initial points for the local optimiser (same shapes as :meth:`sample`).

        The caller evaluates the loss of each and starts from the best (docs/method.md §7).
        """
        return self.sample(obs, species, n_init, catalog=catalog, seed=seed)
