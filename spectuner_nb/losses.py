"""Losses between observed and model spectra (docs/method.md §3).

* :func:`chi2` — Σ ((T_obs − T_model)/σ_rms)² over all channels of all windows
  (``weighted=False``: the reference's unweighted Σ (T_obs − T_model)²);
  :func:`chi2_and_gradient` — the same with its gradient from a model Jacobian.
* :class:`PeakMatchingLoss` — ℓ_PM = ℓ_MAE + ℓ_peak of Qiu et al. (2025):
  observed peaks found once, model peaks at every evaluation, matched spans
  rewarded with their Dice overlap, false peaks penalised with a weight that
  grows away from observed peaks. Compiled (numba), parallel over a batch.
* :func:`find_peak_spans` — the peak spans of one spectrum (find_peaks with
  height = prominence = 4 rms, widths at relative height 0.25, merged).
* :func:`relative_loss` — ε of paper Eq. 16.

Intensities are in K and continuum-subtracted (the model spectra of
:mod:`spectuner_nb.model` are); frequencies in MHz. Every loss accepts one
model spectrum per window, (n_chan,) or a batch (n_batch, n_chan), and
returns one value per spectrum: a 0-d array for a single spectrum, (n_batch,)
for a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import _peak_kernels as _pk
from .errors import ModelInputError
from .model import PARALLEL_MIN_BATCH

__all__ = [
    "PEAK_N_SIGMA",
    "PEAK_REL_HEIGHT",
    "PeakMatchResult",
    "PeakMatchingLoss",
    "chi2",
    "chi2_and_gradient",
    "find_peak_spans",
    "relative_loss",
]

PEAK_N_SIGMA: float = 4.0
"""Peak height and prominence thresholds in units of the window rms."""
PEAK_REL_HEIGHT: float = 0.25
"""Relative height (of the prominence, from the top) where span edges are measured."""


def _windows(values, name: str) -> list[np.ndarray]:
    if isinstance(values, np.ndarray) and values.ndim == 1:
        values = [values]
    out = [np.asarray(v, dtype=float) for v in values]
    if not out:
        raise ModelInputError(f"{name}: need at least one window")
    return out


def _stack_model(model, sizes: list[int]) -> tuple[np.ndarray, bool]:
    """Model spectra per window → (n_batch, n_chan_total) and whether it was a single spectrum."""
    model = _windows(model, "model")
    if len(model) != len(sizes):
        raise ModelInputError(f"model has {len(model)} windows, observation has {len(sizes)}")
    single = model[0].ndim == 1
    parts = []
    for i, (m, n) in enumerate(zip(model, sizes, strict=True)):
        m2 = m[None, :] if m.ndim == 1 else m
        if m2.ndim != 2 or m2.shape[1] != n or (m.ndim == 1) != single:
            raise ModelInputError(
                f"model window {i}: expected ({n},) or (n_batch, {n}), got {m.shape}"
            )
        parts.append(m2)
    if len({p.shape[0] for p in parts}) != 1:
        raise ModelInputError("model windows hold different batch sizes")
    stacked = np.ascontiguousarray(np.concatenate(parts, axis=1))
    if not np.all(np.isfinite(stacked)):
        raise ModelInputError("model spectra hold NaN or infinite values")
    return stacked, single


def _rms_per_window(rms, sizes: list[int]) -> list[np.ndarray]:
    """rms as one scalar or per-channel array per window (positive, finite)."""
    if np.ndim(rms) == 0:
        rms = [rms] * len(sizes)
    if len(rms) != len(sizes):
        raise ModelInputError(f"rms: expected a scalar or {len(sizes)} entries, got {len(rms)}")
    out = []
    for i, (r, n) in enumerate(zip(rms, sizes, strict=True)):
        r = np.asarray(r, dtype=float)
        if r.ndim not in (0, 1) or (r.ndim == 1 and r.size != n):
            raise ModelInputError(f"rms of window {i}: expected a scalar or {n} values")
        if not np.all(np.isfinite(r)) or np.any(r <= 0):
            raise ModelInputError(f"rms of window {i} must be positive and finite")
        out.append(r)
    return out


def chi2(obs, model, rms, weighted: bool = True) -> np.ndarray:
    """χ² between observed and model spectra, summed over all channels of all windows.

    Parameters
    ----------
    obs
        Observed spectra (K), one 1-D array per window.
    model
        Model spectra (K) per window, (n_chan,) or (n_batch, n_chan).
    rms
        Noise (K): scalar, one value per window, or one array per window.
    weighted
        Divide residuals by rms (default); False gives Σ (T_obs − T_model)².
    """
    obs = _windows(obs, "obs")
    sizes = [o.size for o in obs]
    model = _windows(model, "model")
    if len(model) != len(obs):
        raise ModelInputError(f"model has {len(model)} windows, observation has {len(obs)}")
    single = model[0].ndim == 1
    if len({m.shape[:-1] for m in model}) != 1:
        raise ModelInputError("model windows hold different batch sizes")
    rms_w = _rms_per_window(rms, sizes) if weighted else [np.float64(1.0)] * len(obs)
    total: float | np.ndarray = 0.0
    for i, (o, m, r) in enumerate(zip(obs, model, rms_w, strict=True)):
        if m.shape[-1] != o.size or m.ndim != (1 if single else 2) or o.ndim != 1:
            raise ModelInputError(f"window {i}: model {m.shape} does not match obs {o.shape}")
        resid = (m - o) / r
        total = total + np.einsum("...j,...j->...", resid, resid)
    chi2 = np.asarray(total)
    if not np.all(np.isfinite(chi2)):
        raise ModelInputError("χ² is not finite: NaN or infinite values in obs, model or rms")
    return chi2


def chi2_and_gradient(
    obs: np.ndarray, weights: np.ndarray, model: np.ndarray, jacobian: np.ndarray
) -> tuple[float, np.ndarray]:
    """χ² = Σ w (T_obs − T_model)² and its gradient, over concatenated channels.

    ``obs``, ``weights`` (1/σ², K⁻²) and ``model`` are (n_chan,); ``jacobian`` is
    ∂T_model/∂z (n_chan, n_par). Returns (χ², ∂χ²/∂z (n_par,)). One compiled pass,
    for optimisers that call it at every step.
    """
    value, grad = _pk.chi2_value_grad(obs, weights, model, np.ascontiguousarray(jacobian))
    return float(value), grad


def find_peaks_above(spectrum, threshold: float) -> np.ndarray:
    """Channel indices of the peaks of one spectrum with height and prominence ≥ ``threshold`` (K).

    The one peak rule of docs/method.md §3/§5/§8 (``threshold`` is n_sigma·rms); used by the
    cube pixel selection and the policy's input features. Empty for a non-positive or
    non-finite threshold.
    """
    from scipy.signal import find_peaks

    t = float(threshold)
    if not np.isfinite(t) or t <= 0:
        return np.zeros(0, dtype=np.intp)
    return find_peaks(np.asarray(spectrum, dtype=float), height=t, prominence=t)[0]


def find_peak_spans(
    spectrum, rms: float, *, n_sigma: float = PEAK_N_SIGMA, rel_height: float = PEAK_REL_HEIGHT
) -> np.ndarray:
    """Merged peak spans of one window, (n, 2) fractional channel positions [left, right].

    Peaks: local maxima with height ≥ n_sigma·rms and prominence ≥ n_sigma·rms
    (as ``scipy.signal.find_peaks``); each span runs between the interpolated
    crossings at ``rel_height`` of the prominence below the top (as
    ``scipy.signal.peak_widths``); overlapping or touching spans are merged.
    """
    x = np.ascontiguousarray(spectrum, dtype=float)
    if x.ndim != 1:
        raise ModelInputError(f"find_peak_spans takes one 1-D spectrum, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ModelInputError("spectrum holds NaN or infinite values")
    if not np.isfinite(rms) or rms <= 0:
        raise ModelInputError(f"rms must be positive and finite, got {rms!r}")
    thr = n_sigma * float(rms)
    return _pk.find_spans(x, thr, thr, float(rel_height))


@dataclass(frozen=True)
class PeakMatchResult:
    """Peak-matching loss per model spectrum (0-d arrays for one spectrum).

    Attributes
    ----------
    loss
        ℓ_PM = ℓ_MAE + ℓ_peak, K (lower is better; negative when peaks match well).
    peak_term
        ℓ_peak, K (0 when the model has no peak).
    has_peak
        Whether the model shows at least one peak in any window.
    """

    loss: np.ndarray
    peak_term: np.ndarray
    has_peak: np.ndarray


class PeakMatchingLoss:
    """The peak-matching loss against one observed spectrum (docs/method.md §3).

    Parameters
    ----------
    freqs
        Channel frequencies (MHz, ascending) per window.
    obs
        Observed, continuum-subtracted intensities (K) per window.
    rms
        Noise per window (K): a scalar or one value per window.
    n_sigma, rel_height
        Peak thresholds (height = prominence = n_sigma·rms) and span level.
    """

    def __init__(
        self,
        freqs: Sequence,
        obs: Sequence,
        rms,
        *,
        n_sigma: float = PEAK_N_SIGMA,
        rel_height: float = PEAK_REL_HEIGHT,
    ) -> None:
        self.freqs = _windows(freqs, "freqs")
        self.obs = _windows(obs, "obs")
        if len(self.freqs) != len(self.obs):
            raise ModelInputError(
                f"{len(self.freqs)} frequency windows but {len(self.obs)} spectra"
            )
        for i, (f, o) in enumerate(zip(self.freqs, self.obs, strict=True)):
            if f.ndim != 1 or f.shape != o.shape or f.size < 2:
                raise ModelInputError(f"window {i}: frequencies {f.shape} and spectrum {o.shape}")
            if not (np.all(np.isfinite(f)) and np.all(np.isfinite(o))):
                raise ModelInputError(f"window {i}: NaN or infinite values")
            if np.any(np.diff(f) <= 0):
                raise ModelInputError(f"window {i}: frequencies must be strictly ascending")
        self.sizes = [o.size for o in self.obs]
        rms_w = _rms_per_window(rms, self.sizes)
        if any(r.ndim for r in rms_w):
            raise ModelInputError("peak matching needs one rms value per window")
        self.rms = np.array([float(r) for r in rms_w])
        self.rel_height = float(rel_height)
        self._thr = n_sigma * self.rms
        self._win_off = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        self._freq = np.concatenate(self.freqs)
        self._obs = np.concatenate(self.obs)
        spans = [
            _pk.to_frequency(f, find_peak_spans(o, r, n_sigma=n_sigma, rel_height=rel_height))
            for f, o, r in zip(self.freqs, self.obs, self.rms, strict=True)
        ]
        self.obs_spans: list[np.ndarray] = spans
        """Observed peak spans per window, (n, 2) in MHz."""
        self._spans = np.concatenate(spans) if spans else np.zeros((0, 2))
        self._span_off = np.concatenate([[0], np.cumsum([len(s) for s in spans])]).astype(np.int64)

    def __call__(self, model) -> PeakMatchResult:
        """Loss of model spectra per window, (n_chan,) or (n_batch, n_chan) each."""
        pred, single = _stack_model(model, self.sizes)
        result = self.stacked(pred)
        if single:
            return PeakMatchResult(result.loss[0], result.peak_term[0], result.has_peak[0])
        return result

    def stacked(self, pred: np.ndarray) -> PeakMatchResult:
        """Loss of model spectra with the windows concatenated, (n_batch, n_chan_total) in K.

        The optimisers' fast path: no per-window split. Non-finite model values give a
        non-finite loss.
        """
        pred = np.ascontiguousarray(pred, dtype=float)
        if pred.ndim != 2 or pred.shape[1] != self._win_off[-1]:
            raise ModelInputError(
                f"expected (n_batch, {int(self._win_off[-1])}) model spectra, got {pred.shape}"
            )
        n = pred.shape[0]
        loss = np.empty(n)
        term = np.empty(n)
        has = np.empty(n, dtype=bool)
        kernel = _pk.pm_loss_parallel if n >= PARALLEL_MIN_BATCH else _pk.pm_loss_serial
        kernel(
            self._freq,
            self._obs,
            pred,
            self._win_off,
            self._spans,
            self._span_off,
            self._thr,
            self._thr,
            self.rel_height,
            loss,
            term,
            has,
        )
        return PeakMatchResult(loss, term, has)


def relative_loss(pred, ref) -> np.ndarray:
    """ε = (ℓ_pred − ℓ_ref) / (abs(ℓ_pred) + abs(ℓ_ref)) ∈ [−1, 1] per fit (paper Eq. 16).

    Elementwise over arrays; 0 where both losses are 0. The caller takes the mean.
    """
    p = np.asarray(pred, dtype=float)
    r = np.asarray(ref, dtype=float)
    den = np.abs(p) + np.abs(r)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (p - r) / np.where(den > 0, den, 1.0), 0.0)
