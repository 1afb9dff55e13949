"""Losses: χ², peak finding, the peak-matching loss (docs/method.md §3) and ε."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from spectuner_nb.errors import ModelInputError
from spectuner_nb.losses import (
    PeakMatchingLoss,
    chi2,
    chi2_and_gradient,
    find_peak_spans,
    relative_loss,
)

RMS = 0.5
THR = 4 * RMS


def gauss(x, centre, amp, sig):
    return amp * np.exp(-0.5 * ((x - centre) / sig) ** 2)


def scipy_spans(x, thr, rel=0.25):
    peaks, _ = signal.find_peaks(x, height=thr, prominence=thr)
    _, _, left, right = signal.peak_widths(x, peaks, rel)
    merged = []
    for a, b in sorted(zip(left, right, strict=True)):
        if merged and merged[-1][1] >= a:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return np.array(merged).reshape(-1, 2)


def span_mean(freq, y, a, b, fn=None):
    """Trapezoid mean over [a, b] including every channel inside (independent helper).

    ``y`` is interpolated at the span ends; with ``fn``, ``y`` is a pair (obs, pred)
    interpolated separately and combined by ``fn`` afterwards (as the reference does).
    """
    inside = (freq >= a) & (freq <= b)
    x = np.concatenate([[a], freq[inside], [b]])
    v = fn(*(np.interp(x, freq, yi) for yi in y)) if fn else np.interp(x, freq, y)
    return np.trapezoid(v, x) / (b - a)


def reference_pm(freq, obs, pred, thr):
    """Straightforward per-window peak-matching loss written from docs/method.md §3 (no numba)."""
    to_f = lambda s: np.interp(s.ravel(), np.arange(freq.size), freq).reshape(-1, 2)  # noqa: E731
    so, sp = to_f(scipy_spans(obs, thr)), to_f(scipy_spans(pred, thr))
    total, matched = 0.0, set()
    i = j = 0
    while i < len(so) and j < len(sp):
        a, b = max(so[i, 0], sp[j, 0]), min(so[i, 1], sp[j, 1])
        if a <= b:
            matched.add(j)
            e = span_mean(freq, (obs, pred), a, b, lambda o, p: np.abs(o - p))
            n_o, n_p = span_mean(freq, obs, a, b), span_mean(freq, pred, a, b)
            dice = 2 * (b - a) / (np.diff(so[i])[0] + np.diff(sp[j])[0])
            term = e - dice * n_o
            total += min(term, 0.0) if n_p < n_o else term
        if so[i, 1] < sp[j, 1]:
            i += 1
        else:
            j += 1
    centres = so.mean(axis=1)
    for k in set(range(len(sp))) - matched:
        a, b = sp[k]
        m = 0.5 * (a + b)
        e_fp = min(
            span_mean(freq, (obs, pred), a, b, lambda o, p: np.maximum(0, p - o)),
            span_mean(freq, (pred,), a, b, lambda p: np.maximum(0, p - thr)),
        )
        if len(centres) == 0:
            w = max(m - freq[0], freq[-1] - m) / (freq[-1] - freq[0])
        elif m >= centres[-1]:
            w = (m - centres[-1]) / (freq[-1] - centres[-1])
        elif m < centres[0]:
            w = (centres[0] - m) / (centres[0] - freq[0])
        else:
            r = np.searchsorted(centres, m)
            half = 0.5 * (centres[r] - centres[r - 1])
            w = min(m - centres[r - 1], centres[r] - m) / half
        total += w * e_fp
    return np.mean(np.abs(obs - pred)) + total, total, len(sp) > 0


@pytest.fixture()
def window():
    freq = 230000.0 + 0.5 * np.arange(400)
    obs = gauss(freq, freq[100], 10.0, 1.5) + gauss(freq, freq[300], 6.0, 2.0)
    return freq, obs


def test_find_peak_spans_matches_scipy_including_plateaus():
    rng = np.random.default_rng(0)
    for t in range(200):
        n = int(rng.integers(3, 300))
        x = rng.normal(size=n) + gauss(np.arange(n), rng.uniform(0, n), 8, rng.uniform(0.3, 6))
        if t % 3 == 0:
            x = np.round(x)  # flat tops
        np.testing.assert_allclose(find_peak_spans(x, 1.0), scipy_spans(x, 4.0), rtol=1e-12)


def test_find_peak_spans_matches_scipy_on_line_forests_with_zero_gaps():
    """Model-like spectra: many lines, exact zeros between them, equal heights and
    plateaus (the prominence walks reuse earlier peaks' walks here)."""
    rng = np.random.default_rng(3)
    for t in range(300):
        n = int(rng.integers(50, 1500))
        x = np.zeros(n)
        for _ in range(int(rng.integers(1, 40))):
            x += gauss(np.arange(n), rng.uniform(0, n), rng.uniform(2, 30), rng.uniform(0.5, 4))
        x = np.where(x < 0.5, 0.0, x)
        if t % 2:
            x = np.round(x)  # equal heights and flat tops
        np.testing.assert_allclose(find_peak_spans(x, 1.0), scipy_spans(x, 4.0), rtol=1e-12)


def test_perfect_model_gets_minus_the_peak_means(window):
    freq, obs = window
    loss = PeakMatchingLoss([freq], [obs], RMS)
    res = loss([obs])
    spans = loss.obs_spans[0]
    expected = -sum(span_mean(freq, obs, a, b) for a, b in spans)
    assert len(spans) == 2
    assert res.has_peak and res.peak_term == pytest.approx(expected, rel=1e-12)
    assert res.loss == pytest.approx(expected, rel=1e-12)


def test_no_model_peak_gives_only_the_mae(window):
    freq, obs = window
    res = PeakMatchingLoss([freq], [obs], RMS)([np.zeros_like(obs)])
    assert not res.has_peak and res.peak_term == 0.0
    assert res.loss == pytest.approx(np.mean(np.abs(obs)), rel=1e-12)


def test_missed_peak_counts_nothing_and_weaker_match_is_capped_at_zero(window):
    freq, obs = window
    loss = PeakMatchingLoss([freq], [obs], RMS)
    first = gauss(freq, freq[100], 10.0, 1.5)
    a, b = loss.obs_spans[0][0]
    assert loss([first]).peak_term == pytest.approx(-span_mean(freq, first, a, b), rel=1e-9)
    weak = 0.05 * obs + gauss(freq, freq[100], 2.5, 1.5)  # lower than observed: term ≤ 0
    res = loss([weak])
    assert res.has_peak and res.peak_term <= 0.0


def test_false_peak_half_way_between_observed_peaks_has_full_weight(window):
    freq, obs = window
    loss = PeakMatchingLoss([freq], [obs], RMS)
    centres = loss.obs_spans[0].mean(axis=1)
    mid = 0.5 * (centres[0] + centres[1])
    fake = gauss(freq, mid, 5.0, 1.2)
    res = loss([obs + fake])
    # The fake peak's span, from the model spectrum itself:
    spans = find_peak_spans(obs + fake, RMS)
    k = np.argmin(np.abs(np.interp(spans.mean(1), np.arange(freq.size), freq) - mid))
    a, b = np.interp(spans[k], np.arange(freq.size), freq)
    pred = obs + fake
    e_fp = min(
        span_mean(freq, (obs, pred), a, b, lambda o, p: np.maximum(0, p - o)),
        span_mean(freq, (pred,), a, b, lambda p: np.maximum(0, p - THR)),
    )
    matched = -sum(span_mean(freq, obs, *s) for s in loss.obs_spans[0])
    w = 1.0 - abs(0.5 * (a + b) - mid) / (0.5 * (centres[1] - centres[0]))
    assert w > 0.99
    assert res.peak_term == pytest.approx(matched + w * e_fp, rel=1e-9)
    assert res.peak_term > matched  # the false peak costs


def test_false_peak_weight_rises_towards_the_window_edge(window):
    freq, obs = window
    loss = PeakMatchingLoss([freq], [obs], RMS)
    near = loss([obs + gauss(freq, freq[330], 5.0, 1.2)]).peak_term
    far = loss([obs + gauss(freq, freq[390], 5.0, 1.2)]).peak_term
    assert far > near


def test_against_independent_implementation_on_random_spectra():
    rng = np.random.default_rng(7)
    for _ in range(40):
        n = int(rng.integers(50, 300))
        freq = np.sort(rng.uniform(1e5, 1e5 + n, n))
        obs = rng.normal(0, RMS, n)
        pred = np.zeros(n)
        for _ in range(int(rng.integers(0, 6))):
            c, s = rng.uniform(0, n), rng.uniform(0.5, 4)
            obs += gauss(np.arange(n), c, rng.uniform(0, 12), s)
            pred += gauss(np.arange(n), c + rng.normal(0, 3), rng.uniform(0, 12), s)
        for _ in range(int(rng.integers(0, 3))):
            pred += gauss(np.arange(n), rng.uniform(0, n), rng.uniform(2, 10), rng.uniform(0.5, 3))
        res = PeakMatchingLoss([freq], [obs], RMS)([pred])
        ref = reference_pm(freq, obs, pred, THR)
        assert res.loss == pytest.approx(ref[0], rel=1e-9, abs=1e-12)
        assert res.peak_term == pytest.approx(ref[1], rel=1e-9, abs=1e-12)
        assert bool(res.has_peak) == ref[2]


def test_batch_and_windows_are_consistent(window):
    freq, obs = window
    f2 = freq + 1000.0
    obs2 = gauss(f2, f2[200], 4.0, 1.0)
    loss = PeakMatchingLoss([freq, f2], [obs, obs2], [RMS, 0.3])
    rng = np.random.default_rng(1)
    batch = [
        np.stack([obs * s for s in (0.0, 0.5, 1.0, 2.0)]),
        np.stack([obs2 * s for s in (0.0, 0.5, 1.0, 2.0)]) + rng.normal(0, 0.01, (4, 400)),
    ]
    res = loss(batch)
    assert res.loss.shape == (4,) and res.has_peak.tolist() == [False, True, True, True]
    for i in range(4):
        one = loss([batch[0][i], batch[1][i]])
        assert one.loss == res.loss[i] and one.peak_term == res.peak_term[i]
        mae = np.mean([np.mean(np.abs(obs - batch[0][i])), np.mean(np.abs(obs2 - batch[1][i]))])
        assert one.loss - one.peak_term == pytest.approx(mae, rel=1e-12)
    assert np.argmin(res.loss) == 2


def test_chi2_weighted_and_unweighted():
    obs = [np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0])]
    model = [np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]), np.array([[0.0, 1.0], [1.0, 1.0]])]
    np.testing.assert_allclose(chi2(obs, model, [0.5, 2.0]), [0.0, 14 / 0.25 + 1 / 4.0])
    np.testing.assert_allclose(chi2(obs, model, 1.0, weighted=False), [0.0, 15.0])
    assert chi2(obs, [m[1] for m in model], [0.5, 2.0]).shape == ()


def test_chi2_and_gradient_match_numpy():
    rng = np.random.default_rng(3)
    obs, model, w = rng.normal(size=50), rng.normal(size=50), rng.uniform(1, 4, 50)
    jac = rng.normal(size=(50, 3))
    value, grad = chi2_and_gradient(obs, w, model, jac)
    assert value == pytest.approx(np.sum(w * (obs - model) ** 2), rel=1e-12)
    np.testing.assert_allclose(grad, -2.0 * (w * (obs - model)) @ jac, rtol=1e-12)


def test_relative_loss():
    np.testing.assert_allclose(
        relative_loss([-2.0, 1.0, 0.0, 3.0], [-1.0, 1.0, 0.0, -1.0]), [-1 / 3, 0.0, 0.0, 1.0]
    )


def test_invalid_inputs_raise(window):
    freq, obs = window
    with pytest.raises(ModelInputError):
        PeakMatchingLoss([freq], [obs[:-1]], RMS)
    with pytest.raises(ModelInputError):
        PeakMatchingLoss([freq], [obs], -1.0)
    loss = PeakMatchingLoss([freq], [obs], RMS)
    with pytest.raises(ModelInputError):
        loss([obs[:-1]])
    with pytest.raises(ModelInputError):
        loss([np.full_like(obs, np.nan)])
    with pytest.raises(ModelInputError):
        loss([obs, obs])
    with pytest.raises(ModelInputError):
        chi2([obs], [obs], [RMS, RMS])
    with pytest.raises(ModelInputError):
        chi2([obs], [np.full_like(obs, np.nan)], RMS)
    with pytest.raises(ModelInputError):
        chi2([obs, obs], [np.ones((2, obs.size)), np.ones((3, obs.size))], RMS)
    with pytest.raises(ModelInputError):
        find_peak_spans(np.ones((2, 3)), 1.0)
