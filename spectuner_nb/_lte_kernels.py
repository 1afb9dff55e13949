"""Numba kernels of the LTE model (private; the public API is :mod:`spectuner_nb.model`).

Units inside: frequencies MHz, temperatures K, velocities km/s, θ² arcsec²,
integrated opacities τ̂ in MHz (so that τ(ν) = Σ τ̂ φ(ν) with φ in MHz⁻¹).

Channel averages (docs/method.md §2, paper Eq. 9). Each channel reached by a
line is split into equal sub-intervals no wider than ``MIDPOINT_MAX`` times the
narrowest local line scale there (σ, shrunk on the steep flanks of saturated
lines). Each sub-interval is integrated by the value of 1 − e^−τ at its centre
plus the Taylor terms in h², h⁴ and h⁶ of its mean, from the frequency
derivatives of τ (sums of Hermite-weighted Gaussians, no extra exponentials);
the smooth factor η(S − S_cmb − T_bg) is applied per channel. Lines are
evaluated out to where their intensity falls below ``WING_TOL`` of their own
peak; channels no line reaches hold exactly 0 and get no sub-grid at all
(:func:`_reached_spans`). The Jacobian uses a
Gauss-Legendre sub-grid (2, 3 or 5 points) of the same accuracy, so the two
paths agree to < 1e-6 of the peak.

Compilation is cached on disk (``cache=True``) in the directory chosen by
:mod:`spectuner_nb._jit` (outside site-packages).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from . import _jit  # noqa: F401  (compile cache outside site-packages, before any @njit)
from .constants import C_KM_S, FWHM_TO_SIGMA, H_OVER_K_K_PER_MHZ

WING_TOL: float = 1e-8
"""A line's wing is dropped where its opacity falls below WING_TOL·min(1, peak τ),
i.e. where its intensity is below 1e-8 of its own peak."""
SUB_PER_SIGMA: float = 1.5
"""Largest 5-point Gauss-Legendre sub-interval of the Jacobian's grid, in local line scales."""
TWO_POINT_MAX: float = 0.1
THREE_POINT_MAX: float = 0.4
"""Channels narrower than these many local line scales use one 2-point (3-point)
Gauss-Legendre rule in the Jacobian's grid (errors below 1e-7 of the peak, like the 5-point
sub-intervals)."""
SIXTH_ORDER_MIN: float = 0.3
"""Sub-intervals narrower than this many local line scales drop the h⁶ correction (it is
below 4e-8 of the value there); lines reaching only such channels skip τ⁽⁵⁾ and τ⁽⁶⁾."""
MIDPOINT_MAX: float = 0.8
"""Largest sub-interval integrated by one corrected midpoint value (Taylor terms to h⁶),
in local line scales: the channel averages are then within 2e-7 of the peak of exact
ones for thin and saturated lines alike."""
EDGE_TAU_HI: float = 30.0
EDGE_TAU_LO: float = 1e-6
"""Saturated lines (peak τ > e^0.5) have steep flanks where EDGE_TAU_LO < τ < EDGE_TAU_HI;
only there is the finer scale σ/√(2 ln τ_peak) resolved (flat core, σ-smooth wings)."""
SOURCE_TOL: float = 1e-8
"""Relative accuracy of the interpolated source function S(ν, T) across a window."""
RUN_TOL: float = 1e-9
"""Relative spacing tolerance of a run of equally spaced nodes (Gaussian recurrence)."""
MAX_SUB: int = 4096
"""Upper bound on sub-intervals per channel."""
MAX_CUT_SIGMA: float = 40.0
"""No line reaches further than this many σ (τ̂ would have to exceed 1e300)."""

TAU_HAT_FACTOR: float = (C_KM_S * 1e3) ** 2 / (8.0 * math.pi) * 1e4 / 1e12 / 1e6
"""c²/(8π) (≈ 35.76) in units such that τ̂[MHz] = factor · N[cm⁻²] · A[s⁻¹] · g / (Q ν²[MHz²])."""

LN10: float = math.log(10.0)
# Gauss-Legendre nodes on [-1, 1] and weights normalised to sum 1 (1, 2, 3 and 5 points).
_GL_X1, _GL_W1 = np.zeros(1), np.ones(1)
_GL_X2, _GL_W2 = np.polynomial.legendre.leggauss(2)
_GL_X3, _GL_W3 = np.polynomial.legendre.leggauss(3)
_GL_X5, _GL_W5 = np.polynomial.legendre.leggauss(5)
_GL_W2, _GL_W3, _GL_W5 = _GL_W2 / 2.0, _GL_W3 / 2.0, _GL_W5 / 2.0
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_INV_FACT = np.array([1.0 / math.factorial(n) for n in range(8)])  # 1/n!
# Midpoint rule: mean of f over [−h/2, h/2] = Σ f⁽²ⁿ⁾(0)·h²ⁿ/(4ⁿ (2n+1)!), n = 1, 2, 3.
_MID_C2, _MID_C4, _MID_C6 = 1.0 / 24.0, 1.0 / 1920.0, 1.0 / 322560.0

# Column layout of the per-line work array built by _line_setup.
_L_CEN, _L_SIG, _L_AMP, _L_CUT, _L_DLNT, _L_DCEN, _L_PEAK, _L_SIX = 0, 1, 2, 3, 4, 5, 6, 7
_N_LCOL = 8
# Derivative columns of the per-node opacity work array (forward mode).
_D_T, _D_DV, _D_V = 0, 1, 2


@njit(cache=True, inline="always")
def _planck_temp(freq_mhz, t):
    """Radiation temperature S(ν, T) = (hν/k)/(exp(hν/kT) − 1), K."""
    a = H_OVER_K_K_PER_MHZ * freq_mhz
    return a / math.expm1(a / t)


@njit(cache=True, inline="always")
def _planck_temp_dt(freq_mhz, t):
    """∂S(ν, T)/∂T, dimensionless."""
    a = H_OVER_K_K_PER_MHZ * freq_mhz
    x = a / t
    em = math.expm1(x)
    return x * x * (em + 1.0) / (em * em)


@njit(cache=True, inline="always")
def _segment(pos, n):
    """Interpolation segment j (anchors j, j + 1) of a table of n anchors at position
    ``pos`` (in anchor spacings from the first), clamped to the table."""
    return min(max(int(pos), 0), n - 2)


@njit(cache=True)
def _source_table(edges_lo, edges_hi, spans, k_first, k_last, t_ex, cmb, t_cmb, grad):
    """S(ν, T_ex) − [S(ν, T_cmb)] at equally spaced anchors over channels k_first…k_last.

    The spacing keeps linear interpolation within SOURCE_TOL of the value:
    |S''| Δ²/8 ≤ SOURCE_TOL·S with |S''|/S ≤ (x/ν)², x = hν/kT. Only the anchors of
    segments inside the reached ``spans`` (:func:`_reached_spans`) are computed (the
    others are never read). With ``grad``, ∂S(ν, T_ex)/∂T_ex is tabulated at the same
    anchors (it is as smooth in ν).
    Returns (values, derivatives (empty without ``grad``), first anchor MHz, spacing MHz).
    """
    f_lo = edges_lo[k_first]
    f_hi = edges_hi[k_last]
    t_min = min(t_ex, t_cmb) if cmb else t_ex
    x_max = max(1.0, H_OVER_K_K_PER_MHZ * f_hi / t_min)
    step = f_hi / x_max * math.sqrt(8.0 * SOURCE_TOL)
    n = int((f_hi - f_lo) / step) + 2
    step = max(f_hi - f_lo, 1e-9) / (n - 1)
    inv_step = 1.0 / step
    values = np.empty(n)
    slopes = np.empty(n if grad else 0)
    for sp in range(spans.shape[0]):
        k0 = max(spans[sp, 0], k_first)
        k1 = min(spans[sp, 1] - 1, k_last)
        if k1 < k0:
            continue
        j0 = _segment((edges_lo[k0] - f_lo) * inv_step, n)
        j1 = _segment((edges_hi[k1] - f_lo) * inv_step, n) + 1
        for j in range(j0, j1 + 1):
            nu = f_lo + j * step
            values[j] = _planck_temp(nu, t_ex)
            if cmb:
                values[j] -= _planck_temp(nu, t_cmb)
            if grad:
                slopes[j] = _planck_temp_dt(nu, t_ex)
    return values, slopes, f_lo, step


@njit(cache=True)
def _line_setup(freq, a_g, e_low, lo, hi, t_ex, n_tot, q, dlnq_dlnt, dv, v_off, work):
    """Fill ``work`` (n_lines, 7) for one species and return the number of kept lines.

    Rows kept are lines whose truncated profile reaches [lo, hi] (MHz).
    Columns: centre ν_c, σ, τ̂ (MHz), cut radius (MHz), ∂ln τ̂/∂T_ex (K⁻¹),
    ∂ν_c/∂v_off (MHz per km/s), peak opacity.
    """
    n_keep = 0
    shift = 1.0 - v_off / C_KM_S
    # Rest frequencies that can reach [lo, hi] at all (lines are sorted by frequency).
    reach = MAX_CUT_SIGMA * dv * FWHM_TO_SIGMA / C_KM_S
    i0 = np.searchsorted(freq, lo / (shift * (1.0 + reach)))
    i1 = freq.size if reach >= 1.0 else np.searchsorted(freq, hi / (shift * (1.0 - reach)), "right")
    for i in range(i0, i1):
        nu = freq[i]
        cen = nu * shift
        sig = cen * dv * FWHM_TO_SIGMA / C_KM_S
        x = H_OVER_K_K_PER_MHZ * nu / t_ex
        boltz = math.exp(-e_low[i] / t_ex)
        stim = -math.expm1(-x)
        amp = TAU_HAT_FACTOR * n_tot * a_g[i] / (q * nu * nu) * boltz * stim
        peak = amp / (sig * _SQRT_2PI)
        if peak <= 0.0:
            continue
        cut = sig * math.sqrt(2.0 * (max(math.log(peak), 0.0) - math.log(WING_TOL)))
        if cen + cut < lo or cen - cut > hi or amp <= 0.0:
            continue
        work[n_keep, _L_CEN] = cen
        work[n_keep, _L_SIG] = sig
        work[n_keep, _L_AMP] = amp
        work[n_keep, _L_CUT] = cut
        # d ln τ̂ / dT: Boltzmann factor, stimulated emission, partition function.
        work[n_keep, _L_DLNT] = (
            e_low[i] / (t_ex * t_ex) - (x / t_ex) / math.expm1(x) - dlnq_dlnt / t_ex
        )
        work[n_keep, _L_DCEN] = -cen / (C_KM_S - v_off)
        work[n_keep, _L_PEAK] = peak
        n_keep += 1
    return n_keep


@njit(cache=True, inline="always")
def _lower(req, edges_lo, edges_hi, f0, f1, scale):
    """req[k] = min(req[k], scale) for the channels overlapping [f0, f1] (MHz); returns
    the widest of those channels (MHz)."""
    k0 = np.searchsorted(edges_hi, f0)
    k1 = np.searchsorted(edges_lo, f1, "right")
    widest = 0.0
    for k in range(k0, k1):
        if scale < req[k]:
            req[k] = scale
        widest = max(widest, edges_hi[k] - edges_lo[k])
    return widest


@njit(cache=True)
def _resolution(edges_lo, edges_hi, work, n_keep, req, broad):
    """Lower ``req`` (per channel, MHz) to the local scale of every kept line.

    σ over the whole evaluated range; for saturated lines, σ/√(2 ln τ_peak)
    on the flanks where EDGE_TAU_LO < τ < EDGE_TAU_HI. A scale ≥ ``broad`` (MHz)
    cannot refine any channel of the window: such a range is left alone (the
    channels it reaches are known from :func:`_reached_spans`).
    """
    for li in range(n_keep):
        cen = work[li, _L_CEN]
        sig = work[li, _L_SIG]
        cut = work[li, _L_CUT]
        if sig >= broad:
            work[li, _L_SIX] = 0.0
        else:
            widest = _lower(req, edges_lo, edges_hi, cen - cut, cen + cut, sig)
            work[li, _L_SIX] = 1.0 if widest > SIXTH_ORDER_MIN * sig else 0.0
        ln_peak = math.log(work[li, _L_PEAK])
        if ln_peak <= 0.5:
            continue
        fine = sig / math.sqrt(2.0 * ln_peak)
        if fine >= broad:
            continue
        z_lo = sig * math.sqrt(max(0.0, 2.0 * (ln_peak - math.log(EDGE_TAU_HI))))
        z_hi = sig * math.sqrt(2.0 * (ln_peak - math.log(EDGE_TAU_LO)))
        _lower(req, edges_lo, edges_hi, cen - z_hi, cen - z_lo, fine)
        _lower(req, edges_lo, edges_hi, cen + z_lo, cen + z_hi, fine)


@njit(cache=True)
def _reached_spans(edges_lo, edges_hi, work, n_keep):
    """Channels the kept lines reach, as disjoint ascending spans [start, stop) (n_spans, 2).

    A line reaches the channels overlapping [ν_c − cut, ν_c + cut] (found by bisection
    on the channel edges); only these channels get sub-grid nodes, so the cost of a
    window scales with the channels its lines reach, not with its size.
    """
    n_lines = 0
    for s in range(n_keep.size):
        n_lines += n_keep[s]
    starts = np.empty(n_lines, dtype=np.int64)
    stops = np.empty(n_lines, dtype=np.int64)
    m = 0
    for s in range(n_keep.size):
        for li in range(n_keep[s]):
            cen = work[s, li, _L_CEN]
            cut = work[s, li, _L_CUT]
            k0 = np.searchsorted(edges_hi, cen - cut)
            k1 = np.searchsorted(edges_lo, cen + cut, "right")
            if k1 > k0:
                starts[m] = k0
                stops[m] = k1
                m += 1
    spans = np.empty((m, 2), dtype=np.int64)
    n_spans = 0
    for j in np.argsort(starts[:m]):
        if n_spans > 0 and starts[j] <= spans[n_spans - 1, 1]:
            spans[n_spans - 1, 1] = max(spans[n_spans - 1, 1], stops[j])
        else:
            spans[n_spans, 0] = starts[j]
            spans[n_spans, 1] = stops[j]
            n_spans += 1
    return spans[:n_spans]


@njit(cache=True)
def _sub_grid(edges_lo, edges_hi, req, spans, midpoint):
    """Sub-grid of one window: node frequencies (MHz), their averaging weights, the channel
    of each and the number of sub-intervals per channel (set at reached channels only).

    Only the channels of ``spans`` (:func:`_reached_spans`) get nodes. ``req`` is the
    local line scale per channel (MHz, ∞ where only lines too broad to refine it reach),
    ρ = width / req. With ``midpoint`` (intensities) a channel gets ceil(ρ / MIDPOINT_MAX)
    (at most MAX_SUB, at least 1) equal sub-intervals, each represented by its centre and
    integrated by the corrected midpoint rule (:func:`_transfer`). Otherwise (Jacobian)
    Gauss-Legendre rules: one 2-point rule for ρ ≤ TWO_POINT_MAX, one 3-point rule for
    ρ ≤ THREE_POINT_MAX, else ceil(ρ / SUB_PER_SIGMA) sub-intervals of 5-point rules.
    """
    n_chan = edges_lo.size
    max_width = MIDPOINT_MAX if midpoint else SUB_PER_SIGMA
    n_sub = np.empty(n_chan, dtype=np.int64)  # set (and read) at reached channels only
    n_pts = np.empty(n_chan, dtype=np.int64)
    total = 0
    for sp in range(spans.shape[0]):
        for k in range(spans[sp, 0], spans[sp, 1]):
            n_sub[k] = 1
            n_pts[k] = 1
            if req[k] < np.inf:
                ratio = (edges_hi[k] - edges_lo[k]) / (max_width * req[k])
                n_sub[k] = max(1, int(min(MAX_SUB, math.ceil(ratio))))
                if not midpoint:
                    rho = (edges_hi[k] - edges_lo[k]) / req[k]
                    if rho <= THREE_POINT_MAX:
                        n_sub[k] = 1
                        n_pts[k] = 2 if rho <= TWO_POINT_MAX else 3
                    else:
                        n_pts[k] = 5
            total += n_pts[k] * n_sub[k]
    nodes = np.empty(total)
    weights = np.empty(0 if midpoint else total)  # the midpoint rule has none
    chan = np.empty(total, dtype=np.int64)
    i = 0
    if midpoint:  # sub-interval centres only
        for sp in range(spans.shape[0]):
            for k in range(spans[sp, 0], spans[sp, 1]):
                m = n_sub[k]
                h = (edges_hi[k] - edges_lo[k]) / m
                for j in range(m):
                    nodes[i] = edges_lo[k] + (j + 0.5) * h
                    chan[i] = k
                    i += 1
        return nodes, weights, chan, n_sub
    for sp in range(spans.shape[0]):
        for k in range(spans[sp, 0], spans[sp, 1]):
            m = n_sub[k]
            x, w = _GL_X1, _GL_W1
            if n_pts[k] == 2:
                x, w = _GL_X2, _GL_W2
            elif n_pts[k] == 3:
                x, w = _GL_X3, _GL_W3
            elif n_pts[k] == 5:
                x, w = _GL_X5, _GL_W5
            h = (edges_hi[k] - edges_lo[k]) / m
            for j in range(m):
                base = edges_lo[k] + (j + 0.5) * h
                for g in range(x.size):
                    nodes[i] = base + 0.5 * h * x[g]
                    weights[i] = w[g] / m
                    chan[i] = k
                    i += 1
    return nodes, weights, chan, n_sub


@njit(cache=True, inline="always")
def _deposit(i, z, val, inv_sig, line, cen, tau, dtau, grad):
    """Add one line's opacity ``val`` at node ``i`` (z = (ν − ν_c)/σ) and its derivatives:
    with ``grad`` ∂τ/∂T_ex, ∂τ/∂log10 Δv and ∂τ/∂v_off, otherwise dⁿτ/dνⁿ for n = 1…4,
    and 5, 6 for lines that reach sub-intervals wider than SIXTH_ORDER_MIN·σ
    (dⁿg/dνⁿ = (−1)ⁿ Heₙ(z)·g/σⁿ, Hermite polynomials He₁…He₆)."""
    tau[i] += val
    z2 = z * z
    if grad:
        dtau[i, _D_T] += val * line[_L_DLNT]
        dtau[i, _D_DV] += val * (z2 - 1.0) * LN10
        # ν_c = ν_t (1 − v/c) and σ ∝ ν_c: ∂/∂v of both.
        dcen = line[_L_DCEN]
        dtau[i, _D_V] += val * (z * inv_sig * dcen + (z2 - 1.0) * dcen / cen)
    else:
        v1 = val * inv_sig
        v2 = v1 * inv_sig
        v3 = v2 * inv_sig
        v4 = v3 * inv_sig
        z4 = z2 * z2
        dtau[i, 0] -= v1 * z
        dtau[i, 1] += v2 * (z2 - 1.0)
        dtau[i, 2] -= v3 * z * (z2 - 3.0)
        dtau[i, 3] += v4 * (z4 - 6.0 * z2 + 3.0)
        if line[_L_SIX] > 0.0:
            v5 = v4 * inv_sig
            dtau[i, 4] -= v5 * z * (z4 - 10.0 * z2 + 15.0)
            dtau[i, 5] += v5 * inv_sig * (z4 * (z2 - 15.0) + 45.0 * z2 - 15.0)


@njit(cache=True)
def _add_opacity(nodes, work, n_keep, tau, dtau, grad):
    """Add the Gaussian opacity profiles of the kept lines onto ``tau`` at ``nodes``.

    With ``grad``, also accumulate ∂τ/∂T_ex, ∂τ/∂log10 Δv and ∂τ/∂v_off in ``dtau``,
    otherwise the first six frequency derivatives of τ (:func:`_deposit`). Along runs
    of equally spaced nodes the Gaussian is advanced by the exact two-factor recurrence
    g(z + δ) = g(z)·r, r ← r·exp(−δ²), one multiplication per node instead of exp.
    Returns the first and one-past-last node index touched.
    """
    first = nodes.size
    last = 0
    for li in range(n_keep):
        line = work[li]
        cen = line[_L_CEN]
        sig = line[_L_SIG]
        cut = line[_L_CUT]
        i0 = np.searchsorted(nodes, cen - cut)
        i1 = np.searchsorted(nodes, cen + cut, side="right")
        first = min(first, i0)
        last = max(last, i1)
        norm = line[_L_AMP] / (sig * _SQRT_2PI)
        inv_sig = 1.0 / sig
        i = i0
        while i < i1:
            z = (nodes[i] - cen) * inv_sig
            g = math.exp(-0.5 * z * z)
            _deposit(i, z, norm * g, inv_sig, line, cen, tau, dtau, grad)
            i += 1
            if i + 1 >= i1:
                continue
            step = nodes[i] - nodes[i - 1]
            if abs(nodes[i + 1] - nodes[i] - step) > RUN_TOL * step:
                continue
            delta = step * inv_sig
            r = math.exp(-z * delta - 0.5 * delta * delta)
            c = math.exp(-delta * delta)
            while i < i1 and abs(nodes[i] - nodes[i - 1] - step) <= RUN_TOL * step:
                g *= r
                r *= c
                z = (nodes[i] - cen) * inv_sig
                _deposit(i, z, norm * g, inv_sig, line, cen, tau, dtau, grad)
                i += 1
    return first, last


@njit(cache=True, inline="always")
def _absorption(t):
    """1 − e^−τ: its Taylor series (Horner, multiplications only) below τ = 0.02
    (remainder < 1e-16 relative), else exp."""
    if t < 0.02:
        return t * (
            1.0
            - t
            * (
                0.5
                - t
                * (
                    _INV_FACT[3]
                    - t
                    * (_INV_FACT[4] - t * (_INV_FACT[5] - t * (_INV_FACT[6] - t * _INV_FACT[7])))
                )
            )
        )
    return 1.0 - math.exp(-t)


@njit(cache=True, inline="always")
def _interp(table, a_lo, inv_step, nu):
    """Linear interpolation of ``table`` (anchors a_lo + j/inv_step, MHz) at ν (MHz):
    (value, segment j, fraction within it)."""
    pos = (nu - a_lo) * inv_step
    j = _segment(pos, table.size)
    frac = pos - j
    return table[j] + frac * (table[j + 1] - table[j]), j, frac


@njit(cache=True, inline="always")
def _beam_sq(tb_sq_mode, tb_sq_val, nu):
    """θ_b² (arcsec²) at ν (MHz): value/ν² for a dish (mode 1), value for an interferometer."""
    return tb_sq_val / (nu * nu) if tb_sq_mode == 1 else tb_sq_val


@njit(cache=True, inline="always")
def _factor(nu, k, anchors, a_lo, inv_step, t_bg, eta0, theta_sq, tb_sq_mode, tb_sq_val):
    """F(ν) = η(ν)·(S(ν, T_ex) − S(ν, T_cmb) − T_bg of channel k), K; η0 ≥ 0 is a
    frequency-independent η (interferometer), otherwise η = θ²/(θ² + θ_b²(ν))."""
    eta = eta0
    if eta0 < 0.0:
        eta = theta_sq / (theta_sq + _beam_sq(tb_sq_mode, tb_sq_val, nu))
    return eta * (_interp(anchors, a_lo, inv_step, nu)[0] - t_bg[k])


@njit(cache=True, inline="always")
def _midpoint_correction(d, i, c2, c4, c6):
    """(mean of f over a sub-interval − f(centre)) / e^−τ for f = 1 − e^−τ, from the
    derivatives d[i] = (τ', …, τ⁽⁶⁾) at the centre and c2 = h²/24, c4 = h⁴/1920,
    c6 = h⁶/322560.

    f⁽ⁿ⁾ = −e^−τ·Bₙ(−τ', …, −τ⁽ⁿ⁾) with the complete Bell polynomials B₂, B₄, B₆.
    """
    x1, x2, x3, x4 = -d[i, 0], -d[i, 1], -d[i, 2], -d[i, 3]
    x1_sq = x1 * x1
    b2 = x1_sq + x2
    b4 = x1_sq * (x1_sq + 6.0 * x2) + 4.0 * x1 * x3 + 3.0 * x2 * x2 + x4
    if c6 == 0.0:
        return -(c2 * b2 + c4 * b4)
    b6 = (
        x1_sq * x1_sq * (x1_sq + 15.0 * x2)
        + 20.0 * x1_sq * x1 * x3
        + 45.0 * x1_sq * x2 * x2
        + 15.0 * x2 * x2 * x2
        + 60.0 * x1 * x2 * x3
        + 15.0 * x1_sq * x4
        + 10.0 * x3 * x3
        + 15.0 * x2 * x4
        - 6.0 * x1 * d[i, 4]
        - d[i, 5]
    )
    return -(c2 * b2 + c4 * b4 + c6 * b6)


@njit(cache=True)
def _transfer(
    nodes,
    chan,
    n_sub,
    req,
    tau,
    dtau,
    first,
    last,
    anchors,
    a_lo,
    a_step,
    edges_lo,
    edges_hi,
    t_bg,
    theta_sq,
    tb_sq_mode,
    tb_sq_val,
    s,
    out,
    tau_out,
    want_tau,
):
    """Add one species' channel-averaged intensity η(S − S_cmb − T_bg)(1 − e^−τ) to ``out``.

    Each sub-interval of width h is integrated by its midpoint value of f = 1 − e^−τ
    plus the Taylor corrections h²/24·f⁽²⁾ + h⁴/1920·f⁽⁴⁾ + h⁶/322560·f⁽⁶⁾
    (:func:`_midpoint_correction`). A channel of one sub-interval takes the factor
    F(ν) = η(ν)·(S(ν) − T_bg) at its centre; in a channel of several, F is linear to
    far below 1e-8 of itself (it varies on scales of ν, not of the channel) and is
    evaluated at the two edges only. Resets ``tau`` and ``dtau`` to 0 for the next species.
    """
    inv_step = 1.0 / a_step
    eta0 = -1.0 if tb_sq_mode == 1 else theta_sq / (theta_sq + tb_sq_val)
    k = -1
    m = 0
    c2 = 0.0
    c4 = 0.0
    c6 = 0.0
    s0 = 0.0
    s1 = 0.0
    lo = 0.0
    inv_w = 0.0
    for i in range(first, last):
        ti = tau[i]
        if ti == 0.0:
            continue
        if chan[i] != k:
            if m > 1:
                out[k] += _edge_average(
                    k,
                    s0,
                    s1,
                    m,
                    anchors,
                    a_lo,
                    inv_step,
                    edges_lo,
                    edges_hi,
                    t_bg,
                    eta0,
                    theta_sq,
                    tb_sq_mode,
                    tb_sq_val,
                )
            k = chan[i]
            m = n_sub[k]
            lo = edges_lo[k]
            inv_w = 1.0 / (edges_hi[k] - lo)
            h = edges_hi[k] - lo
            if m > 1:
                h /= m
            h_sq = h * h
            c2 = h_sq * _MID_C2
            c4 = h_sq * h_sq * _MID_C4
            # The h⁶ term only where a sub-interval is wider than SIXTH_ORDER_MIN line scales.
            c6 = h_sq * h_sq * h_sq * _MID_C6 if h > SIXTH_ORDER_MIN * req[k] else 0.0
            s0 = 0.0
            s1 = 0.0
        absorb = _absorption(ti)
        absorb += (1.0 - absorb) * _midpoint_correction(dtau, i, c2, c4, c6)
        if want_tau:
            tau_out[s, k] += (ti + c2 * dtau[i, 1] + c4 * dtau[i, 3] + c6 * dtau[i, 5]) / m
        for j in range(6):
            dtau[i, j] = 0.0
        tau[i] = 0.0
        if m == 1:
            out[k] += absorb * _factor(
                nodes[i], k, anchors, a_lo, inv_step, t_bg, eta0, theta_sq, tb_sq_mode, tb_sq_val
            )
        else:
            s0 += absorb
            s1 += absorb * (nodes[i] - lo) * inv_w
    if m > 1:
        out[k] += _edge_average(
            k,
            s0,
            s1,
            m,
            anchors,
            a_lo,
            inv_step,
            edges_lo,
            edges_hi,
            t_bg,
            eta0,
            theta_sq,
            tb_sq_mode,
            tb_sq_val,
        )


@njit(cache=True, inline="always")
def _edge_average(
    k,
    s0,
    s1,
    m,
    anchors,
    a_lo,
    inv_step,
    edges_lo,
    edges_hi,
    t_bg,
    eta0,
    theta_sq,
    tb_sq_mode,
    tb_sq_val,
):
    """Average of F·(1 − e^−τ) over channel k of ``m`` sub-intervals, from
    s0 = Σ(1 − e^−τ) and s1 = Σ(1 − e^−τ)·u (u = relative position in the channel),
    F linear between its values at the channel edges."""
    f_lo = _factor(
        edges_lo[k], k, anchors, a_lo, inv_step, t_bg, eta0, theta_sq, tb_sq_mode, tb_sq_val
    )
    f_hi = _factor(
        edges_hi[k], k, anchors, a_lo, inv_step, t_bg, eta0, theta_sq, tb_sq_mode, tb_sq_val
    )
    return (f_lo * (s0 - s1) + f_hi * s1) / m


@njit(cache=True)
def _transfer_grad(
    nodes,
    weights,
    chan,
    tau,
    dtau,
    first,
    last,
    anchors,
    slopes,
    a_lo,
    a_step,
    t_bg,
    theta_sq,
    tb_sq_mode,
    tb_sq_val,
    tb_sq_ref,
    s,
    out,
    jac,
):
    """Add one species' intensity to ``out`` and its derivatives to ``jac``, node by node.

    ∂θ²/∂log10 η_fit is taken at the reference beam (fit-space chain rule).
    Resets ``tau`` and ``dtau`` to 0 for the next species.
    """
    inv_step = 1.0 / a_step
    eta_ref = theta_sq / (theta_sq + tb_sq_ref)
    dthsq = tb_sq_ref / (1.0 - eta_ref) ** 2 * eta_ref * LN10
    col = s * 5
    for i in range(first, last):
        ti = tau[i]
        if ti == 0.0:
            continue
        nu = nodes[i]
        k = chan[i]
        w = weights[i]
        absorb = _absorption(ti)
        tb_sq = _beam_sq(tb_sq_mode, tb_sq_val, nu)
        eta = theta_sq / (theta_sq + tb_sq)
        value, j, frac = _interp(anchors, a_lo, inv_step, nu)
        diff = value - t_bg[k]
        out[k] += w * eta * diff * absorb
        et = (1.0 - absorb) * eta * diff
        deta = tb_sq / (theta_sq + tb_sq) ** 2 * dthsq
        ds_dt = slopes[j] + frac * (slopes[j + 1] - slopes[j])
        jac[k, col + 0] += w * deta * diff * absorb
        jac[k, col + 1] += w * (eta * ds_dt * absorb + et * dtau[i, _D_T])
        jac[k, col + 2] += w * et * ti * LN10
        jac[k, col + 3] += w * et * dtau[i, _D_DV]
        jac[k, col + 4] += w * et * dtau[i, _D_V]
        dtau[i, 0] = 0.0
        dtau[i, 1] = 0.0
        dtau[i, 2] = 0.0
        tau[i] = 0.0


@njit(cache=True)
def _eval_window(
    params,
    lines_off,
    freq,
    a_g,
    e_low,
    q,
    dlnq,
    edges_lo,
    edges_hi,
    t_bg,
    w_max,
    tb_sq_mode,
    tb_sq_val,
    tb_sq_ref,
    cmb,
    t_cmb,
    out,
    jac,
    tau_out,
    grad,
    want_tau,
):
    """Channel-averaged spectrum of one parameter set in one window (widest channel w_max, MHz).

    params: (n_species, 5) physical. ``out`` (n_chan,) receives the intensity (K);
    with ``grad``, ``jac`` (n_chan, n_species*5) receives ∂out/∂(fit parameters)
    (on the Gauss-Legendre grid); with ``want_tau``, ``tau_out`` (n_species, n_chan)
    receives channel-averaged τ.
    """
    n_species = params.shape[0]
    n_chan = edges_lo.size
    lo = edges_lo[0]
    hi = edges_hi[n_chan - 1]
    out[:] = 0.0
    if grad:
        jac[:, :] = 0.0
    if want_tau:
        tau_out[:, :] = 0.0
    # Lines of every species that reach the window, and the resolution each channel needs.
    max_lines = 0
    for s in range(n_species):
        max_lines = max(max_lines, lines_off[s + 1] - lines_off[s])
    work = np.empty((n_species, max(max_lines, 1), _N_LCOL))
    n_keep = np.zeros(n_species, dtype=np.int64)
    for s in range(n_species):
        if params[s, 0] <= 0.0 or params[s, 2] <= 0.0:
            continue  # no source or no molecules: no emission
        a, b = lines_off[s], lines_off[s + 1]
        n_keep[s] = _line_setup(
            freq[a:b],
            a_g[a:b],
            e_low[a:b],
            lo,
            hi,
            params[s, 1],
            params[s, 2],
            q[s],
            dlnq[s],
            params[s, 3],
            params[s, 4],
            work[s],
        )
    spans = _reached_spans(edges_lo, edges_hi, work, n_keep)
    # Local line scale per channel (MHz); only the reached channels are ever read.
    req = np.empty(n_chan)
    for sp in range(spans.shape[0]):
        req[spans[sp, 0] : spans[sp, 1]] = np.inf
    # Lines broader than this refine no channel (intensity grid: no h⁶ term either).
    broad = np.inf if grad else w_max / SIXTH_ORDER_MIN
    for s in range(n_species):
        _resolution(edges_lo, edges_hi, work[s], n_keep[s], req, broad)
    nodes, weights, chan, n_sub = _sub_grid(edges_lo, edges_hi, req, spans, not grad)
    n_nodes = nodes.size
    if n_nodes == 0:
        return
    tau = np.zeros(n_nodes)
    dtau = np.zeros((n_nodes, 3 if grad else 6))
    for s in range(n_species):
        if n_keep[s] == 0:
            continue
        first, last = _add_opacity(nodes, work[s], n_keep[s], tau, dtau, grad)
        if last <= first:
            continue
        theta_sq = params[s, 0] * params[s, 0]
        # S(ν, T_ex) − S(ν, T_cmb) (and ∂S/∂T_ex) tabulated over the channels touched.
        anchors, slopes, a_lo, a_step = _source_table(
            edges_lo,
            edges_hi,
            spans,
            chan[first],
            chan[last - 1],
            params[s, 1],
            cmb,
            t_cmb,
            grad,
        )
        if grad:
            _transfer_grad(
                nodes,
                weights,
                chan,
                tau,
                dtau,
                first,
                last,
                anchors,
                slopes,
                a_lo,
                a_step,
                t_bg,
                theta_sq,
                tb_sq_mode,
                tb_sq_val,
                tb_sq_ref,
                s,
                out,
                jac,
            )
        else:
            _transfer(
                nodes,
                chan,
                n_sub,
                req,
                tau,
                dtau,
                first,
                last,
                anchors,
                a_lo,
                a_step,
                edges_lo,
                edges_hi,
                t_bg,
                theta_sq,
                tb_sq_mode,
                tb_sq_val,
                s,
                out,
                tau_out,
                want_tau,
            )


@njit(cache=True)
def _batch_task(
    task,
    params,
    lines_off,
    freq,
    a_g,
    e_low,
    q,
    dlnq,
    edges_lo,
    edges_hi,
    t_bg,
    win_off,
    win_wmax,
    tb_sq_mode,
    tb_sq_val,
    cmb,
    t_cmb,
    out,
    tau_out,
    want_tau,
):
    """Evaluate task = (parameter set b, window w) of a batch."""
    n_win = win_off.size - 1
    b = task // n_win
    w = task % n_win
    c0, c1 = win_off[w], win_off[w + 1]
    _eval_window(
        params[b],
        lines_off,
        freq,
        a_g,
        e_low,
        q[b],
        dlnq[b],
        edges_lo[c0:c1],
        edges_hi[c0:c1],
        t_bg[c0:c1],
        win_wmax[w],
        tb_sq_mode,
        tb_sq_val,
        1.0,
        cmb,
        t_cmb,
        out[b, c0:c1],
        np.zeros((1, 1)),
        tau_out[b if want_tau else 0, :, c0:c1],
        False,
        want_tau,
    )


@njit(cache=True, parallel=True)
def batch_parallel(
    params,
    lines_off,
    freq,
    a_g,
    e_low,
    q,
    dlnq,
    edges_lo,
    edges_hi,
    t_bg,
    win_off,
    win_wmax,
    tb_sq_mode,
    tb_sq_val,
    cmb,
    t_cmb,
    out,
    tau_out,
    want_tau,
):
    """Intensities for a batch of physical params (n_batch, n_species, 5), in parallel.

    ``q`` and ``dlnq`` (n_batch, n_species) hold Q(T_ex) and d ln Q/d ln T.
    Windows are concatenated: channel k of window w is index ``win_off[w] + k``
    of ``edges_lo``, ``edges_hi``, ``t_bg`` and of ``out`` (n_batch, n_chan_total);
    ``win_wmax`` holds the widest channel of each window (MHz).
    With ``want_tau``, ``tau_out`` (n_batch, n_species, n_chan_total) receives the
    channel-averaged opacities (otherwise pass a (1, n_species, n_chan_total) dummy).
    Parallel over (parameter set, window) pairs (the caller may set Numba's parallel
    chunk size so that they are handed out as threads become free).
    """
    n_tasks = params.shape[0] * (win_off.size - 1)
    for task in prange(n_tasks):
        _batch_task(
            task,
            params,
            lines_off,
            freq,
            a_g,
            e_low,
            q,
            dlnq,
            edges_lo,
            edges_hi,
            t_bg,
            win_off,
            win_wmax,
            tb_sq_mode,
            tb_sq_val,
            cmb,
            t_cmb,
            out,
            tau_out,
            want_tau,
        )


@njit(cache=True)
def batch_serial(
    params,
    lines_off,
    freq,
    a_g,
    e_low,
    q,
    dlnq,
    edges_lo,
    edges_hi,
    t_bg,
    win_off,
    win_wmax,
    tb_sq_mode,
    tb_sq_val,
    cmb,
    t_cmb,
    out,
    tau_out,
    want_tau,
):
    """As :func:`batch_parallel` on the calling thread (no thread start-up: small batches)."""
    n_tasks = params.shape[0] * (win_off.size - 1)
    for task in range(n_tasks):
        _batch_task(
            task,
            params,
            lines_off,
            freq,
            a_g,
            e_low,
            q,
            dlnq,
            edges_lo,
            edges_hi,
            t_bg,
            win_off,
            win_wmax,
            tb_sq_mode,
            tb_sq_val,
            cmb,
            t_cmb,
            out,
            tau_out,
            want_tau,
        )


@njit(cache=True)
def spectra_jacobian(
    params,
    lines_off,
    freq,
    a_g,
    e_low,
    q,
    dlnq,
    edges_lo,
    edges_hi,
    t_bg,
    win_off,
    tb_sq_mode,
    tb_sq_val,
    tb_sq_ref,
    cmb,
    t_cmb,
    out,
    jac,
):
    """One parameter set (n_species, 5): intensities ``out`` (n_chan_total,) and
    ``jac`` (n_chan_total, n_species*5) = ∂out/∂[log10 η, T_ex, log10 N, log10 Δv, v_off]."""
    n_win = win_off.size - 1
    dummy_tau = np.zeros((1, 1))
    for w in range(n_win):
        c0, c1 = win_off[w], win_off[w + 1]
        _eval_window(
            params,
            lines_off,
            freq,
            a_g,
            e_low,
            q,
            dlnq,
            edges_lo[c0:c1],
            edges_hi[c0:c1],
            t_bg[c0:c1],
            np.inf,
            tb_sq_mode,
            tb_sq_val,
            tb_sq_ref,
            cmb,
            t_cmb,
            out[c0:c1],
            jac[c0:c1],
            dummy_tau,
            True,
            False,
        )


@njit(cache=True)
def partition_values(t_ex, log_t, log_q, q_off, slope):
    """Q(T_ex) and d ln Q/d ln T (each (n_batch, n_species)) for T_ex (K, same shape).

    Species s has the log10 nodes ``log_t[q_off[s]:q_off[s+1]]`` and ``log_q[…]`` of its
    :class:`~spectuner_nb.catalog.partition.PartitionFunction`, whose rule this is
    (compiled: the model calls it at every evaluation): log10 Q linear in log10 T
    between nodes, the power law through the two outermost nodes beyond the table.
    The slope (only with ``slope``, else 0) is that of the segment holding T_ex.
    """
    n_batch, n_species = t_ex.shape
    q = np.empty((n_batch, n_species))
    dlnq = np.zeros((n_batch, n_species))
    for s in range(n_species):
        lt = log_t[q_off[s] : q_off[s + 1]]
        lq = log_q[q_off[s] : q_off[s + 1]]
        n = lt.size
        for b in range(n_batch):
            x = math.log10(t_ex[b, s])
            j = min(max(np.searchsorted(lt, x, "right") - 1, 0), n - 2)
            seg_slope = (lq[j + 1] - lq[j]) / (lt[j + 1] - lt[j])
            if x > lt[n - 1]:
                log_value = lq[n - 1] + seg_slope * (x - lt[n - 1])
            elif x == lt[n - 1]:
                log_value = lq[n - 1]
            else:
                log_value = seg_slope * (x - lt[j]) + lq[j]
            q[b, s] = 10.0**log_value
            if slope:
                dlnq[b, s] = seg_slope
    return q, dlnq


@njit(cache=True)
def fit_to_physical(x, theta_b_sq):
    """Fit-space sets x (n_batch, n_species, 5) → physical (same shape), and a problem code:
    0 none, 1 non-finite value, 5 η = 10^x₀ outside (0, 1).

    The rule of :func:`spectuner_nb.parameters.fit_to_physical` (compiled: the optimisers
    call the model with fit-space batches): θ = √(θ_b² η / (1 − η)) arcsec, N = 10^x₂,
    Δv = 10^x₃, T_ex and v_off as they are.
    """
    p = np.empty_like(x)
    for b in range(x.shape[0]):
        for s in range(x.shape[1]):
            for j in range(x.shape[2]):
                if not math.isfinite(x[b, s, j]):
                    return p, 1
            eta = 10.0 ** x[b, s, 0]
            if eta <= 0.0 or eta >= 1.0:
                return p, 5
            p[b, s, 0] = math.sqrt(theta_b_sq * eta / (1.0 - eta))
            p[b, s, 1] = x[b, s, 1]
            p[b, s, 2] = 10.0 ** x[b, s, 2]
            p[b, s, 3] = 10.0 ** x[b, s, 3]
            p[b, s, 4] = x[b, s, 4]
    return p, 0


@njit(cache=True)
def params_problem(p, c_km_s):
    """First problem found in physical parameter sets p (n_batch, n_species, 5), as a code:
    0 none, 1 non-finite value, 2 θ or N_tot < 0, 3 T_ex or Δv ≤ 0, 4 |v_off| ≥ c."""
    for b in range(p.shape[0]):
        for s in range(p.shape[1]):
            for j in range(p.shape[2]):
                if not math.isfinite(p[b, s, j]):
                    return 1
            if p[b, s, 0] < 0.0 or p[b, s, 2] < 0.0:
                return 2
            if p[b, s, 1] <= 0.0 or p[b, s, 3] <= 0.0:
                return 3
            if abs(p[b, s, 4]) >= c_km_s:
                return 4
    return 0


@njit(cache=True)
def linear_rows(spectrum, jac, dz):
    """Rows spectrum + jac·dz[r] (n_rows, n_chan): a model linearised with its Jacobian
    jac (n_chan, n_par), for parameter offsets dz (n_rows, n_par); zero offsets are skipped."""
    n_rows, n_par = dz.shape
    out = np.empty((n_rows, spectrum.size))
    for r in range(n_rows):
        out[r] = spectrum
        for j in range(n_par):
            d = dz[r, j]
            if d != 0.0:
                for k in range(spectrum.size):
                    out[r, k] += d * jac[k, j]
    return out
