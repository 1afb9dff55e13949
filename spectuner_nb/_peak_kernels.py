"""Numba kernels of the losses (private; public API in :mod:`spectuner_nb.losses`).

Peak finding reproduces ``scipy.signal.find_peaks(x, height=h, prominence=p)``
followed by ``scipy.signal.peak_widths(x, peaks, rel_height)`` (plateaus,
prominence bases without a window length, interpolated width positions), then
merges overlapping spans (docs/method.md §3). Spans are fractional channel
positions; the loss terms work in frequency (MHz) like the reference.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from . import _jit  # noqa: F401  (compile cache outside site-packages, before any @njit)


@njit(cache=True)
def _peaks_above(x, height):
    """Local maxima of ``x`` (plateau mid-points, as scipy) with x ≥ ``height``, ascending."""
    n = x.size
    peaks = np.empty(n // 2 + 1, dtype=np.int64)
    m = 0
    i = 1
    i_max = n - 1
    while i < i_max:
        if x[i - 1] < x[i]:
            i_ahead = i + 1
            while i_ahead < i_max and x[i_ahead] == x[i]:
                i_ahead += 1
            if x[i_ahead] < x[i]:
                peak = (i + i_ahead - 1) // 2
                if x[peak] >= height:
                    peaks[m] = peak
                    m += 1
                i = i_ahead
        i += 1
    return peaks[:m]


@njit(cache=True)
def _prominence_bases(x, peaks, step, base_min, base_idx):
    """Prominence bases of ``peaks`` on one side (step −1: left, +1: right), as scipy's
    peak_prominences without a window length: walk away from each peak while
    x ≤ x[peak], keeping the lowest point (the one nearest the peak among equals).

    A walk that reaches an already handled peak no higher than its own takes over that
    peak's result and jumps to where its walk stopped, so the total work stays near
    O(n) even for a line forest with long zero stretches between the lines.
    """
    n = x.size
    m = peaks.size
    stop = np.empty(m, dtype=np.int64)
    nxt = np.empty(m, dtype=np.int64)  # the next handled peak beyond ``stop``
    for t in range(m):
        k = m - 1 - t if step > 0 else t
        p = peaks[k]
        xp = x[p]
        low = xp
        low_i = p
        j = p + step
        q = k + step
        while 0 <= j < n:
            if 0 <= q < m and j == peaks[q]:
                if x[j] > xp:
                    break
                if base_min[q] < low:
                    low = base_min[q]
                    low_i = base_idx[q]
                j = stop[q]
                q = nxt[q]
                continue
            if x[j] > xp:
                break
            if x[j] < low:
                low = x[j]
                low_i = j
            j += step
        stop[k] = j
        nxt[k] = q
        base_min[k] = low
        base_idx[k] = low_i


@njit(cache=True)
def find_spans(x, height, prominence, rel_height):
    """Merged peak spans (n, 2) of ``x`` in fractional channel positions, sorted.

    Same peaks, prominences and interpolated widths as ``scipy.signal.find_peaks``
    (height, prominence) and ``peak_widths`` (``rel_height``).
    """
    peaks = _peaks_above(x, height)
    m = peaks.size
    left_min = np.empty(m)
    left_base = np.empty(m, dtype=np.int64)
    right_min = np.empty(m)
    right_base = np.empty(m, dtype=np.int64)
    _prominence_bases(x, peaks, -1, left_min, left_base)
    _prominence_bases(x, peaks, 1, right_min, right_base)
    lefts = np.empty(m)
    rights = np.empty(m)
    n_found = 0
    for k in range(m):
        peak = peaks[k]
        xp = x[peak]
        prom = xp - max(left_min[k], right_min[k])
        if prom < prominence:
            continue
        level = xp - prom * rel_height
        j = peak
        while left_base[k] < j and level < x[j]:
            j -= 1
        left_ip = float(j)
        if x[j] < level:
            left_ip += (level - x[j]) / (x[j + 1] - x[j])
        j = peak
        while j < right_base[k] and level < x[j]:
            j += 1
        right_ip = float(j)
        if x[j] < level:
            right_ip -= (level - x[j]) / (x[j - 1] - x[j])
        lefts[n_found] = left_ip
        rights[n_found] = right_ip
        n_found += 1
    order = np.argsort(lefts[:n_found], kind="mergesort")
    spans = np.empty((n_found, 2))
    m = 0
    for k in range(n_found):
        a = lefts[order[k]]
        b = rights[order[k]]
        if m > 0 and spans[m - 1, 1] >= a:
            spans[m - 1, 1] = max(spans[m - 1, 1], b)
        else:
            spans[m, 0] = a
            spans[m, 1] = b
            m += 1
    return spans[:m]


@njit(cache=True, inline="always")
def _interp_index(freq, pos):
    """Frequency at fractional channel position ``pos``."""
    k = min(int(math.floor(pos)), freq.size - 2)
    return freq[k] + (pos - k) * (freq[k + 1] - freq[k])


@njit(cache=True)
def to_frequency(freq, spans):
    """Spans in fractional channels → spans in MHz."""
    out = np.empty_like(spans)
    for i in range(spans.shape[0]):
        out[i, 0] = _interp_index(freq, spans[i, 0])
        out[i, 1] = _interp_index(freq, spans[i, 1])
    return out


@njit(cache=True, inline="always")
def _interp(freq, y, f):
    k = np.searchsorted(freq, f, "right") - 1
    k = min(max(k, 0), freq.size - 2)
    t = (f - freq[k]) / (freq[k + 1] - freq[k])
    return y[k] + t * (y[k + 1] - y[k])


@njit(cache=True)
def _span_averages(freq, obs, pred, a, b, prom, res):
    """Trapezoid averages over [a, b] (MHz) including every channel inside.

    res ← [⟨|o−p|⟩, ⟨o⟩, ⟨p⟩, ⟨max(0, p−o)⟩, ⟨max(0, p−prom)⟩]; point values if b == a.
    """
    for q in range(5):
        res[q] = 0.0
    i0 = np.searchsorted(freq, a, "left")
    i1 = np.searchsorted(freq, b, "right")
    f_prev = a
    o_prev = _interp(freq, obs, a)
    p_prev = _interp(freq, pred, a)
    if b <= a:
        res[0] = abs(o_prev - p_prev)
        res[1] = o_prev
        res[2] = p_prev
        res[3] = max(0.0, p_prev - o_prev)
        res[4] = max(0.0, p_prev - prom)
        return
    for k in range(i0, i1 + 1):
        if k < i1:
            f, o, p = freq[k], obs[k], pred[k]
        else:
            f, o, p = b, _interp(freq, obs, b), _interp(freq, pred, b)
        h = 0.5 * (f - f_prev)
        res[0] += h * (abs(o - p) + abs(o_prev - p_prev))
        res[1] += h * (o + o_prev)
        res[2] += h * (p + p_prev)
        res[3] += h * (max(0.0, p - o) + max(0.0, p_prev - o_prev))
        res[4] += h * (max(0.0, p - prom) + max(0.0, p_prev - prom))
        f_prev, o_prev, p_prev = f, o, p
    width = b - a
    for q in range(5):
        res[q] /= width


@njit(cache=True)
def _fp_weight(m, centres, f_lo, f_hi):
    """False-peak weight w(m) ∈ [0, 1] (docs/method.md §3 step 4)."""
    n = centres.size
    if n == 0:
        return max(m - f_lo, f_hi - m) / (f_hi - f_lo)
    r = np.searchsorted(centres, m)
    if r == n:
        edge = f_hi - centres[n - 1]
        return (m - centres[n - 1]) / edge if edge > 0 else 1.0
    if r == 0:
        edge = centres[0] - f_lo
        return (centres[0] - m) / edge if edge > 0 else 1.0
    x_l = centres[r - 1]
    x_r = centres[r]
    mid = 0.5 * (x_l + x_r)
    if m < mid:
        return (m - x_l) / (mid - x_l)
    return (x_r - m) / (x_r - mid)


@njit(cache=True)
def window_peak_term(freq, obs, pred, obs_spans, centres, height, prom, rel_height):
    """ℓ_peak contribution of one window and whether the model has a peak there.

    ``obs_spans`` and ``centres`` are the observed spans and their centres, in MHz.
    """
    pred_spans = to_frequency(freq, find_spans(pred, height, prom, rel_height))
    n_p = pred_spans.shape[0]
    if n_p == 0:
        return 0.0, False
    n_o = obs_spans.shape[0]
    matched = np.zeros(n_p, dtype=np.bool_)
    res = np.empty(5)
    total = 0.0
    i_o = 0
    i_p = 0
    while i_o < n_o and i_p < n_p:
        a = max(obs_spans[i_o, 0], pred_spans[i_p, 0])
        b = min(obs_spans[i_o, 1], pred_spans[i_p, 1])
        if a <= b:
            matched[i_p] = True
            _span_averages(freq, obs, pred, a, b, prom, res)
            len_o = obs_spans[i_o, 1] - obs_spans[i_o, 0]
            len_p = pred_spans[i_p, 1] - pred_spans[i_p, 0]
            dice = 2.0 * (b - a) / (len_o + len_p) if len_o + len_p > 0 else 0.0
            term = res[0] - dice * res[1]
            if res[2] < res[1]:
                term = min(term, 0.0)
            total += term
        if obs_spans[i_o, 1] < pred_spans[i_p, 1]:
            i_o += 1
        else:
            i_p += 1
    for k in range(n_p):
        if matched[k]:
            continue
        a = pred_spans[k, 0]
        b = pred_spans[k, 1]
        _span_averages(freq, obs, pred, a, b, prom, res)
        w = _fp_weight(0.5 * (a + b), centres, freq[0], freq[freq.size - 1])
        total += w * min(res[3], res[4])
    return total, True


@njit(cache=True)
def _pm_one(
    b,
    freq,
    obs,
    pred,
    win_off,
    obs_spans,
    span_off,
    height,
    prom,
    rel_height,
    loss,
    peak_term,
    has_peak,
):
    """Peak-matching loss of model spectrum ``b`` (all windows)."""
    n_win = win_off.size - 1
    mae = 0.0
    term = 0.0
    any_peak = False
    for w in range(n_win):
        c0, c1 = win_off[w], win_off[w + 1]
        o = obs[c0:c1]
        p = pred[b, c0:c1]
        acc = 0.0
        for k in range(c1 - c0):
            acc += abs(o[k] - p[k])
        mae += acc / (c1 - c0)
        spans = obs_spans[span_off[w] : span_off[w + 1]]
        centres = 0.5 * (spans[:, 0] + spans[:, 1])
        t, found = window_peak_term(
            freq[c0:c1], o, p, spans, centres, height[w], prom[w], rel_height
        )
        term += t
        any_peak = any_peak or found
    peak_term[b] = term
    loss[b] = mae / n_win + term
    has_peak[b] = any_peak


@njit(cache=True, parallel=True)
def pm_loss_parallel(
    freq,
    obs,
    pred,
    win_off,
    obs_spans,
    span_off,
    height,
    prom,
    rel_height,
    loss,
    peak_term,
    has_peak,
):
    """Peak-matching loss for a batch of model spectra ``pred`` (n_batch, n_chan_total).

    Windows are concatenated (``win_off``); observed spans (MHz) of window w are
    rows ``span_off[w]:span_off[w+1]`` of ``obs_spans``. ``height``/``prom`` per window.
    Parallel over spectra.
    """
    for b in prange(pred.shape[0]):
        _pm_one(
            b,
            freq,
            obs,
            pred,
            win_off,
            obs_spans,
            span_off,
            height,
            prom,
            rel_height,
            loss,
            peak_term,
            has_peak,
        )


@njit(cache=True)
def pm_loss_serial(
    freq,
    obs,
    pred,
    win_off,
    obs_spans,
    span_off,
    height,
    prom,
    rel_height,
    loss,
    peak_term,
    has_peak,
):
    """As :func:`pm_loss_parallel`, on the calling thread (small batches)."""
    for b in range(pred.shape[0]):
        _pm_one(
            b,
            freq,
            obs,
            pred,
            win_off,
            obs_spans,
            span_off,
            height,
            prom,
            rel_height,
            loss,
            peak_term,
            has_peak,
        )


@njit(cache=True)
def chi2_value_grad(obs, weights, model, jac):
    """Σ w (y − m)² and its gradient −2 Σ w (y − m) ∂m/∂z in one pass over the channels."""
    n_chan, n_par = jac.shape
    grad = np.zeros(n_par)
    value = 0.0
    for k in range(n_chan):
        d = obs[k] - model[k]
        wd = weights[k] * d
        value += wd * d
        for j in range(n_par):
            grad[j] -= 2.0 * wd * jac[k, j]
    return value, grad
