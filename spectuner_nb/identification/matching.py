"""Which observed peaks a model explains: the one definition used by identification.

Observed peaks are found as in the peak-matching loss (docs/method.md §3: height =
prominence = 4 rms of the window, spans at relative height 0.25, overlapping spans
merged); a model spectrum's peaks are found with the same rule on the noiseless
model. Against every observed peak span a model is judged by

* its **share**: mean model intensity over the span / mean observed intensity;
* whether one of its peaks **overlaps** the span;
* whether it **overshoots**: mean (model − observed) over the span above
  ``max(OVERSHOOT_SIGMA·rms, OVERSHOOT_FRACTION·mean observed)``.

A peak is **matched** by a species when one of the species' model peaks overlaps it,
its share is at least :data:`MIN_SHARE` and it does not overshoot; it is
**explained** by a (joint) model when the share is at least :data:`EXPLAINED_SHARE`
and the model does not overshoot. A model peak that overlaps no observed span is a
**false peak** when the model exceeds the data over its span by more than
:data:`FALSE_PEAK_SIGMA` rms on average (a model peak on a sub-threshold bump of the
data is not false). Scores (docs/method.md §9 step 4):
``score = n_matched − FALSE_PENALTY · (n_false + n_overshoot)``.

The thresholds are module constants, chosen on mock spectra with known truth
(``benchmarks/bench_identify.py``) and documented in docs/identify.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..losses import PEAK_N_SIGMA, find_peak_spans
from ..observation import Observation

__all__ = [
    "EXPLAINED_SHARE",
    "FALSE_PEAK_SIGMA",
    "FALSE_PENALTY",
    "MIN_SCORE",
    "MIN_SHARE",
    "OVERSHOOT_FRACTION",
    "OVERSHOOT_SIGMA",
    "ObservedPeaks",
    "PeakMatch",
    "match_model",
]

MIN_SHARE: float = 0.2
"""Smallest share of an observed peak's mean intensity a species must supply to match it."""
EXPLAINED_SHARE: float = 0.6
"""Smallest share of an observed peak's mean intensity a model must supply to explain it."""
OVERSHOOT_SIGMA: float = 3.0
"""A model overshoots a peak when it exceeds the data over the span by more than this many
rms on average (and by :data:`OVERSHOOT_FRACTION` of the observed mean)."""
OVERSHOOT_FRACTION: float = 0.3
"""Relative part of the overshoot threshold (fraction of the mean observed intensity)."""
FALSE_PEAK_SIGMA: float = 3.0
"""A model peak where nothing is observed is false when the model exceeds the data over its
span by more than this many rms on average."""
FALSE_PENALTY: float = 1.0
"""Weight of each false or overshooting peak in a species' score (matched peaks count 1)."""
MIN_SCORE: float = -np.inf
"""Smallest individual score (with at least one matched peak) for a candidate to enter the
greedy combination, where it is refitted on top of the accepted species. No limit by
default: in a line-rich spectrum an individual peak-matching fit may overshoot (false
peaks weigh little next to observed ones) and the refit on the joint model repairs it."""


def _span_channels(lo: float, hi: float, n: int) -> np.ndarray:
    """Channel indices inside the fractional span [lo, hi] (at least the nearest one)."""
    a, b = int(np.ceil(lo)), int(np.floor(hi))
    if b < a:
        a = b = int(np.clip(np.rint(0.5 * (lo + hi)), 0, n - 1))
    return np.arange(max(a, 0), min(b, n - 1) + 1)


@dataclass(frozen=True)
class ObservedPeaks:
    """The observed peaks of a spectrum (docs/method.md §3), the items to explain.

    Attributes
    ----------
    window
        Window index of each peak, (n,).
    spans
        Span of each peak in fractional channels of its window, (n, 2).
    freq
        Rest frequency of the brightest channel of each span, MHz, (n,).
    height
        Brightest observed intensity in each span, K, (n,).
    mean
        Mean observed intensity over each span, K, (n,).
    rms
        Noise of each peak's window, K, (n,).
    channels
        Channel indices (in the window) of each span.
    window_spans
        Spans per window (fractional channels), as found.
    """

    window: np.ndarray
    spans: np.ndarray
    freq: np.ndarray
    height: np.ndarray
    mean: np.ndarray
    rms: np.ndarray
    channels: tuple[np.ndarray, ...]
    window_spans: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return int(self.window.size)

    @classmethod
    def from_observation(cls, obs: Observation) -> ObservedPeaks:
        """Find the observed peaks of ``obs`` (4 rms, per window)."""
        window, spans, freq, height, mean, rms, chans, per_window = [], [], [], [], [], [], [], []
        for w, (f, y, r) in enumerate(zip(obs.rest_freqs, obs.intensities, obs.rms, strict=True)):
            found = find_peak_spans(y, float(r))
            per_window.append(found)
            for lo, hi in found:
                idx = _span_channels(lo, hi, y.size)
                top = idx[np.argmax(y[idx])]
                window.append(w)
                spans.append((lo, hi))
                freq.append(f[top])
                height.append(y[top])
                mean.append(float(np.mean(y[idx])))
                rms.append(float(r))
                chans.append(idx)
        return cls(
            np.asarray(window, dtype=int),
            np.asarray(spans, dtype=float).reshape(-1, 2),
            np.asarray(freq, float),
            np.asarray(height, float),
            np.asarray(mean, float),
            np.asarray(rms, float),
            tuple(chans),
            tuple(per_window),
        )

    def mean_of(self, spectra: Sequence[np.ndarray]) -> np.ndarray:
        """Mean of a spectrum per window over every peak span, (n,) in its unit."""
        return np.array(
            [
                float(np.mean(spectra[w][idx]))
                for w, idx in zip(self.window, self.channels, strict=True)
            ]
        )


@dataclass(frozen=True)
class PeakMatch:
    """How one model spectrum fares against the observed peaks.

    Attributes
    ----------
    share
        Mean model / mean observed intensity over each observed span, (n_obs,).
    model_peak
        A model peak overlaps the span, (n_obs,).
    overshoot
        The model exceeds the data clearly over the span, (n_obs,).
    false_freq
        Rest frequencies (MHz) of the model's false peaks.
    """

    share: np.ndarray
    model_peak: np.ndarray
    overshoot: np.ndarray
    false_freq: np.ndarray

    @property
    def matched(self) -> np.ndarray:
        """Observed peaks a species' model matches (peak overlap, share ≥ MIN_SHARE, no
        overshoot), (n_obs,) bool."""
        return self.model_peak & (self.share >= MIN_SHARE) & ~self.overshoot

    @property
    def explained(self) -> np.ndarray:
        """Observed peaks the model explains (share ≥ EXPLAINED_SHARE, no overshoot)."""
        return (self.share >= EXPLAINED_SHARE) & ~self.overshoot

    @property
    def n_matched(self) -> int:
        return int(self.matched.sum())

    @property
    def n_false(self) -> int:
        """False peaks plus overshot observed peaks."""
        return int(self.false_freq.size + self.overshoot.sum())

    @property
    def score(self) -> float:
        """n_matched − FALSE_PENALTY · n_false."""
        return float(self.n_matched - FALSE_PENALTY * self.n_false)


def match_model(obs: Observation, peaks: ObservedPeaks, model: Sequence[np.ndarray]) -> PeakMatch:
    """Compare a model spectrum (K, one array per window) with the observed peaks."""
    n = len(peaks)
    model_mean = peaks.mean_of(model)
    obs_mean = peaks.mean
    share = np.divide(model_mean, obs_mean, out=np.zeros(n), where=obs_mean > 0)
    excess = model_mean - obs_mean
    overshoot = excess > np.maximum(OVERSHOOT_SIGMA * peaks.rms, OVERSHOOT_FRACTION * obs_mean)
    model_peak = np.zeros(n, dtype=bool)
    false_freq = []
    for w, (f, y, m, r) in enumerate(
        zip(obs.rest_freqs, obs.intensities, model, obs.rms, strict=True)
    ):
        m = np.asarray(m, dtype=float)
        found = find_peak_spans(m, float(r), n_sigma=PEAK_N_SIGMA)
        if found.size == 0:
            continue
        mine = np.flatnonzero(peaks.window == w)
        o_spans = peaks.spans[mine]
        for lo, hi in found:
            hit = (o_spans[:, 0] <= hi) & (o_spans[:, 1] >= lo)
            if hit.any():
                model_peak[mine[hit]] = True
                continue
            idx = _span_channels(lo, hi, m.size)
            if float(np.mean(m[idx] - y[idx])) > FALSE_PEAK_SIGMA * float(r):
                false_freq.append(float(f[idx[np.argmax(m[idx])]]))
    return PeakMatch(share, model_peak, overshoot, np.asarray(false_freq, dtype=float))
