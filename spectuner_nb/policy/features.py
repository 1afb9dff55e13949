"""Policy inputs of docs/method.md §5: transition features and per-transition spectrum grids.

For one (observation, species) pair:

- transitions inside the observed windows (rest frame, widened by the v_off
  bound), at most ``max_transitions`` of them: the strongest half (line
  strength at 150 K) plus a seeded random choice of the rest;
- transition features (N_TRANSITION_FEATURES): log10 A_ul, log10 g_u,
  asinh E_low, asinh E_up (K), asinh Q(T) at the CDMS table temperatures,
  z-scored with constants stored in the checkpoint;
- per transition, the observed spectrum on a velocity grid of ``n_grid``
  points spanning ±velocity_span/2 km/s about the line, nearest-neighbour
  resampled, with N_SPECTRUM_FEATURES features: v/200, asinh T (K), peak flag
  (scipy find_peaks, height = prominence = 4 rms), out-of-window flag,
  grid/channel resolution ratio, asinh T_continuum (K), asinh rms (K), and
  the beam size (log10 θ_b min-max scaled between 0.01″ and 10″).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..catalog.linelist import LineList
from ..doppler import channel_width_kms, sky_frequency
from ..losses import PEAK_N_SIGMA, find_peaks_above
from ..observation import Observation
from ..parameters import V_OFF_MAX_KMS
from .config import (
    N_SPECTRUM_FEATURES,
    N_TRANSITION_FEATURES,
    PARTITION_TEMPERATURES_K,
    PolicyConfig,
)

__all__ = [
    "BEAM_LOG10_RANGE",
    "STRENGTH_T_K",
    "FeatureNorm",
    "PolicyInput",
    "transitions_in_view",
    "raw_transition_features",
    "select_transitions",
    "peak_channels",
    "count_peaks",
    "beam_feature",
    "spectrum_grids",
    "build_input",
]

BEAM_LOG10_RANGE: tuple[float, float] = (-2.0, 1.0)
"""log10 of the beam size (arcsec) mapped onto [0, 1]."""
STRENGTH_T_K: float = 150.0
"""Temperature (K) of the line-strength proxy used to rank transitions."""


@dataclass(frozen=True)
class FeatureNorm:
    """Mean and standard deviation of each transition feature (z-scoring)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def identity(cls) -> FeatureNorm:
        """No-op normalisation."""
        return cls(np.zeros(N_TRANSITION_FEATURES), np.ones(N_TRANSITION_FEATURES))

    @classmethod
    def fit(cls, raw_features: np.ndarray) -> FeatureNorm:
        """Constants from raw transition features (n, N_TRANSITION_FEATURES)."""
        raw = np.asarray(raw_features, dtype=float)
        return cls(raw.mean(axis=0), np.maximum(raw.std(axis=0), 1e-3))

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureNorm:
        return cls(np.asarray(data["mean"], float), np.asarray(data["std"], float))


@dataclass(frozen=True)
class PolicyInput:
    """Network inputs of a batch of (observation, species) pairs (float32 arrays).

    transitions (B, T, F_t), spectra (B, T, n_grid, F_s), mask (B, T) True = real.
    """

    transitions: np.ndarray
    spectra: np.ndarray
    mask: np.ndarray

    def __len__(self) -> int:
        return int(self.mask.shape[0])

    @classmethod
    def stack(cls, items: list[PolicyInput]) -> PolicyInput:
        """Concatenate along the batch axis."""
        return cls(
            np.concatenate([i.transitions for i in items]),
            np.concatenate([i.spectra for i in items]),
            np.concatenate([i.mask for i in items]),
        )


def transitions_in_view(lines: LineList, obs: Observation) -> LineList:
    """Transitions whose line centre can fall inside a window (v_off bound padding)."""
    return lines.in_windows(obs.windows, pad_kms=V_OFF_MAX_KMS)


def raw_transition_features(
    lines: LineList, degeneracy_scale: float = 1.0, strength_scale: float = 1.0
) -> np.ndarray:
    """Un-normalised transition features (n_lines, N_TRANSITION_FEATURES).

    ``degeneracy_scale`` multiplies g_u and Q(T) (a degeneracy convention that leaves
    the LTE spectrum unchanged), ``strength_scale`` multiplies A_ul (the rewards then
    shift log10 N_tot to match); training augmentations, see :mod:`.augment`.
    """
    q = np.arcsinh(degeneracy_scale * lines.partition(np.asarray(PARTITION_TEMPERATURES_K)))
    n = len(lines)
    return np.column_stack(
        [
            np.log10(strength_scale * np.asarray(lines.A_ul, float)),
            np.log10(degeneracy_scale * np.asarray(lines.g_u, float)),
            np.arcsinh(np.asarray(lines.E_low, float)),
            np.arcsinh(np.asarray(lines.E_up, float)),
            np.broadcast_to(q, (n, q.size)),
        ]
    )


def select_transitions(lines: LineList, max_transitions: int, seed: int) -> np.ndarray:
    """Indices (sorted) of at most ``max_transitions`` lines: strongest half + seeded rest."""
    n = len(lines)
    if n <= max_transitions:
        return np.arange(n)
    strength = (
        np.asarray(lines.A_ul)
        * np.asarray(lines.g_u)
        * np.exp(-np.asarray(lines.E_up) / STRENGTH_T_K)
    )
    order = np.argsort(-strength, kind="stable")
    n_top = max_transitions // 2
    rest = order[n_top:]
    rng = np.random.default_rng(seed)
    extra = rng.choice(rest, size=max_transitions - n_top, replace=False)
    return np.sort(np.concatenate([order[:n_top], extra]))


def peak_channels(obs: Observation) -> list[np.ndarray]:
    """Observed peak channel indices per window (height = prominence = 4 rms)."""
    out = []
    for y, rms in zip(obs.intensities, obs.rms, strict=True):
        out.append(find_peaks_above(y, PEAK_N_SIGMA * float(rms)))
    return out


def count_peaks(obs: Observation) -> int:
    """Total number of observed peaks over all windows."""
    return int(sum(p.size for p in peak_channels(obs)))


def beam_feature(obs: Observation) -> float:
    """Beam size θ_b (arcsec) as log10, min-max scaled by BEAM_LOG10_RANGE."""
    lo, hi = BEAM_LOG10_RANGE
    return float((0.5 * np.log10(obs.theta_b_sq_ref) - lo) / (hi - lo))


def spectrum_grids(
    obs: Observation, freq_mhz: np.ndarray, cfg: PolicyConfig, peaks: list[np.ndarray] | None = None
) -> np.ndarray:
    """Spectrum features (n_lines, n_grid, N_SPECTRUM_FEATURES) around rest frequencies (MHz)."""
    half = 0.5 * cfg.velocity_span_kms
    v = np.linspace(-half, half, cfg.n_grid)
    grid_step = cfg.velocity_span_kms / (cfg.n_grid - 1)
    nu = sky_frequency(np.asarray(freq_mhz, float)[:, None], v[None, :])
    peaks = peak_channels(obs) if peaks is None else peaks
    out = np.zeros((nu.shape[0], cfg.n_grid, N_SPECTRUM_FEATURES), dtype=np.float32)
    out[..., 0] = v / cfg.velocity_span_kms
    out[..., 3] = 1.0
    out[..., 7] = beam_feature(obs)
    for f, y, rms, tbg, pk in zip(
        obs.rest_freqs, obs.intensities, obs.rms, obs.T_bg, peaks, strict=True
    ):
        inside = (nu >= f[0]) & (nu <= f[-1])
        if not inside.any():
            continue
        idx = np.clip(np.searchsorted(f, nu[inside]), 1, f.size - 1)
        left_closer = (nu[inside] - f[idx - 1]) < (f[idx] - nu[inside])
        idx = idx - left_closer
        flag = np.zeros(f.size, dtype=np.float32)
        flag[pk] = 1.0
        chan_kms = channel_width_kms(f)
        out[..., 1][inside] = np.arcsinh(y[idx])
        out[..., 2][inside] = flag[idx]
        out[..., 3][inside] = 0.0
        out[..., 4][inside] = grid_step / chan_kms
        out[..., 5][inside] = np.arcsinh(tbg)
        out[..., 6][inside] = np.arcsinh(rms)
    return out


def build_input(
    obs: Observation,
    lines: LineList,
    cfg: PolicyConfig,
    norm: FeatureNorm,
    seed: int = 0,
    degeneracy_scale: float = 1.0,
    strength_scale: float = 1.0,
) -> PolicyInput:
    """Inputs for one (observation, species) pair, padded to ``cfg.max_transitions``.

    ``degeneracy_scale``, ``strength_scale``: see :func:`raw_transition_features` (1 at
    inference).

    A species with no transition in view gets an all-padding row except one
    zero token (the network needs at least one key); ``mask`` marks it.
    """
    view = transitions_in_view(lines, obs)
    sel = view.subset(select_transitions(view, cfg.max_transitions, seed))
    t = cfg.max_transitions
    trans = np.zeros((1, t, N_TRANSITION_FEATURES), dtype=np.float32)
    spec = np.zeros((1, t, cfg.n_grid, N_SPECTRUM_FEATURES), dtype=np.float32)
    mask = np.zeros((1, t), dtype=bool)
    n = len(sel)
    if n:
        trans[0, :n] = (
            raw_transition_features(sel, degeneracy_scale, strength_scale) - norm.mean
        ) / norm.std
        spec[0, :n] = spectrum_grids(obs, np.asarray(sel.freq), cfg)
        mask[0, :n] = True
    else:
        mask[0, 0] = True
    return PolicyInput(trans, spec, mask)
