"""Numba kernels of the LTE model (private; the public API is :mod:`spectuner_nb.model`).

Units inside: frequencies MHz, temperatures K, velocities km/s, θ² arcsec²,
integrated opacities τ̂ in MHz (so that τ(ν) = Σ τ̂ φ(ν) with φ in MHz⁻¹).

Channel averages (docs/method.md §2, paper Eq. 9) are computed by splitting each
channel reached by a line into ``n_sub`` equal sub-intervals with 3-point
Gauss-Legendre nodes each. ``n_sub`` is chosen per channel (and per parameter
set) so that a sub-interval is no wider than ``SUB_PER_SIGMA`` times the
narrowest effective scale of the lines reaching that channel (σ, shrunk for
saturated lines whose flat tops have steep edges). Lines are evaluated out to
where their intensity falls below ``WING_TOL`` of their own peak; channels no
line reaches hold exactly 0. Channels much narrower than the local scale use a
2-point rule.

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
SUB_PER_SIGMA: float = 1.0
"""Largest 3-point sub-interval width, in units of the local line scale."""
TWO_POINT_MAX: float = 0.25
"""Channels narrower than this many local line scales use one 2-point Gauss-Legendre rule."""
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
_GL_X = np.array([-math.sqrt(0.6), 0.0, math.sqrt(0.6)])  # 3-point nodes on [-1, 1]
_GL_W = np.array([5.0 / 18.0, 8.0 / 18.0, 5.0 / 18.0])  # their weights on [0, 1], sum 1
_GL2_X = 1.0 / math.sqrt(3.0)  # 2-point nodes ±1/√3 on [-1, 1], weights 1/2
_SQRT_2PI = math.sqrt(2.0 * math.pi)

# Column layout of the per-line work array built by _line_setup.
_L_CEN, _L_SIG, _L_AMP, _L_CUT, _L_DLNT, _L_DCEN, _L_PEAK = 0, 1, 2, 3, 4, 5, 6
_N_LCOL = 7
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


@njit(cache=True)
def _source_table(f_lo, f_hi, t_ex, cmb, t_cmb, grad):
    """S(ν, T_ex) − [S(ν, T_cmb)] at equally spaced anchors over [f_lo, f_hi] (MHz).

    The spacing keeps linear interpolation within SOURCE_TOL of the value:
    |S''| Δ²/8 ≤ SOURCE_TOL·S with |S''|/S ≤ (x/ν)², x = hν/kT. With ``grad``,
    ∂S(ν, T_ex)/∂T_ex is tabulated at the same anchors (it is as smooth in ν).
    Returns (values, derivatives (empty without ``grad``), first anchor MHz, spacing MHz).
    """
    t_min = min(t_ex, t_cmb) if cmb else t_ex
    x_max = max(1.0, H_OVER_K_K_PER_MHZ * f_hi / t_min)
    step = f_hi / x_max * math.sqrt(8.0 * SOURCE_TOL)
    n = int((f_hi - f_lo) / step) + 2
    step = max(f_hi - f_lo, 1e-9) / (n - 1)
    values = np.empty(n)
    slopes = np.empty(n if grad else 0)
    for j in range(n):
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
    """req[k] = min(req[k], scale) for the channels overlapping [f0, f1] (MHz)."""
    k0 = np.searchsorted(edges_hi, f0)
    k1 = np.searchsorted(edges_lo, f1, "right")
    for k in range(k0, k1):
        if scale < req[k]:
            req[k] = scale


@njit(cache=True)
def _resolution(edges_lo, edges_hi, work, n_keep, req):
    """Lower ``req`` (per channel, MHz) to the local scale of every kept line.

    σ over the whole evaluated range; for saturated lines, σ/√(2 ln τ_peak)
    on the flanks where EDGE_TAU_LO < τ < EDGE_TAU_HI.
    """
    for li in range(n_keep):
        cen = work[li, _L_CEN]
        sig = work[li, _L_SIG]
        _lower(req, edges_lo, edges_hi, cen - work[li, _L_CUT], cen + work[li, _L_CUT], sig)
        ln_peak = math.log(work[li, _L_PEAK])
        if ln_peak <= 0.5:
            continue
        z_lo = sig * math.sqrt(max(0.0, 2.0 * (ln_peak - math.log(EDGE_TAU_HI))))
        z_hi = sig * math.sqrt(2.0 * (ln_peak - math.log(EDGE_TAU_LO)))
        fine = sig / math.sqrt(2.0 * ln_peak)
        _lower(req, edges_lo, edges_hi, cen - z_hi, cen - z_lo, fine)
        _lower(req, edges_lo, edges_hi, cen + z_lo, cen + z_hi, fine)


@njit(cache=True)
def _node_grid(edges_lo, edges_hi, req, midpoint):
    """Sub-grid of one window: node frequencies (MHz), averaging weights, channel of each node
    and the curvature weight h²/24 (MHz²) of corrected midpoint nodes (0 elsewhere).

    A channel with local scale ``req`` (MHz; inf = no line) narrower than
    TWO_POINT_MAX·req gets one node: with ``midpoint``, its centre, whose value
    is corrected by h²/24 times the second derivative (Euler-Maclaurin);
    otherwise a 2-point Gauss-Legendre rule. Wider channels get
    ceil(width / (SUB_PER_SIGMA · req)) sub-intervals of 3-point rules.
    """
    n_chan = edges_lo.size
    n_sub = np.zeros(n_chan, dtype=np.int64)  # > 0: 3-point sub-intervals; -1: one 2-point rule
    total = 0
    for k in range(n_chan):
        if np.isfinite(req[k]):
            ratio = (edges_hi[k] - edges_lo[k]) / req[k]
            if ratio <= TWO_POINT_MAX:
                n_sub[k] = -1
                total += 1 if midpoint else 2
            else:
                n_sub[k] = int(min(MAX_SUB, math.ceil(ratio / SUB_PER_SIGMA)))
                total += 3 * n_sub[k]
    nodes = np.empty(total)
    weights = np.empty(total)
    chan = np.empty(total, dtype=np.int64)
    curv = np.zeros(total)
    i = 0
    for k in range(n_chan):
        m = n_sub[k]
        if m == 0:
            continue
        if m < 0:
            half = 0.5 * (edges_hi[k] - edges_lo[k])
            mid = edges_lo[k] + half
            if midpoint:
                nodes[i] = mid
                weights[i] = 1.0
                chan[i] = k
                curv[i] = half * half / 6.0  # h²/24 with h = 2·half
                i += 1
                continue
            for sgn in (-1.0, 1.0):
                nodes[i] = mid + sgn * half * _GL2_X
                weights[i] = 0.5
                chan[i] = k
                i += 1
            continue
        h = (edges_hi[k] - edges_lo[k]) / m
        for j in range(m):
            base = edges_lo[k] + (j + 0.5) * h
            for g in range(3):
                nodes[i] = base + 0.5 * h * _GL_X[g]
                weights[i] = _GL_W[g] / m
                chan[i] = k
                i += 1
    return nodes, weights, chan, curv


@njit(cache=True, inline="always")
def _deposit(i, z, val, inv_sig, line, cen, curv, tau, dtau, grad):
    """Add one line's opacity ``val`` at node ``i`` (z = (ν − ν_c)/σ) and its derivatives."""
    tau[i] += val
    if grad:
        dtau[i, _D_T] += val * line[_L_DLNT]
        dtau[i, _D_DV] += val * (z * z - 1.0) * LN10
        # ν_c = ν_t (1 − v/c) and σ ∝ ν_c: ∂/∂v of both.
        dcen = line[_L_DCEN]
        dtau[i, _D_V] += val * (z * inv_sig * dcen + (z * z - 1.0) * dcen / cen)
    elif curv[i] > 0.0:
        dtau[i, 0] -= val * z * inv_sig
        dtau[i, 1] += val * (z * z - 1.0) * inv_sig * inv_sig


@njit(cache=True)
def _add_opacity(nodes, curv, work, n_keep, tau, dtau, grad):
    """Add the Gaussian opacity profiles of the kept lines onto ``tau`` at ``nodes``.

    With ``grad``, also accumulate ∂τ/∂T_ex, ∂τ/∂log10 Δv and ∂τ/∂v_off in ``dtau``;
    otherwise dτ/dν and d²τ/dν² at corrected midpoint nodes (``curv`` > 0) in
    ``dtau[:, 0]`` and ``dtau[:, 1]``. Along runs of equally spaced nodes the
    Gaussian is advanced by the exact two-factor recurrence
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
            _deposit(i, z, norm * g, inv_sig, line, cen, curv, tau, dtau, grad)
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
                _deposit(i, z, norm * g, inv_sig, line, cen, curv, tau, dtau, grad)
                i += 1
    return first, last


@njit(cache=True)
def _eval_window(
    params, lines_off, freq, a_g, e_low, q, dlnq, edges_lo, edges_hi, t_bg, tb_sq_mode,
    tb_sq_val, tb_sq_ref, cmb, t_cmb, out, jac, tau_out, grad, want_tau,
):
    """Channel-averaged spectrum of one parameter set in one window.

    params: (n_species, 5) physical. ``out`` (n_chan,) receives the intensity (K);
    with ``grad``, ``jac`` (n_chan, n_species*5) receives ∂out/∂(fit parameters);
    with ``want_tau``, ``tau_out`` (n_species, n_chan) receives channel-averaged τ.
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
    req = np.full(n_chan, np.inf)
    for s in range(n_species):
        if params[s, 0] <= 0.0 or params[s, 2] <= 0.0:
            continue  # no source or no molecules: no emission
        a, b = lines_off[s], lines_off[s + 1]
        n_keep[s] = _line_setup(
            freq[a:b], a_g[a:b], e_low[a:b], lo, hi, params[s, 1], params[s, 2], q[s],
            dlnq[s], params[s, 3], params[s, 4], work[s],
        )
        _resolution(edges_lo, edges_hi, work[s], n_keep[s], req)
    nodes, weights, chan, curv = _node_grid(edges_lo, edges_hi, req, not grad)
    n_nodes = nodes.size
    if n_nodes == 0:
        return
    tau = np.zeros(n_nodes)
    dtau = np.zeros((n_nodes, 3))
    for s in range(n_species):
        if n_keep[s] == 0:
            continue
        theta_sq = params[s, 0] * params[s, 0]
        t_ex = params[s, 1]
        first, last = _add_opacity(nodes, curv, work[s], n_keep[s], tau, dtau, grad)
        if last <= first:
            continue
        # S(ν, T_ex) − S(ν, T_cmb) (and ∂S/∂T_ex) tabulated across the window, interpolated.
        anchors, slopes, a_lo, a_step = _source_table(nodes[first], nodes[last - 1], t_ex, cmb,
                                                      t_cmb, grad)
        # ∂θ²/∂log10 η_fit at the reference beam (fit-space chain rule).
        eta_ref = theta_sq / (theta_sq + tb_sq_ref)
        dthsq = tb_sq_ref / (1.0 - eta_ref) ** 2 * eta_ref * LN10
        for i in range(first, last):
            ti = tau[i]
            if ti == 0.0:
                continue
            nu = nodes[i]
            k = chan[i]
            w = weights[i]
            em = math.expm1(-ti)
            absorb = -em
            if curv[i] > 0.0:  # midpoint value + h²/24 · second derivative
                d1 = dtau[i, 0]
                d2 = dtau[i, 1]
                absorb += curv[i] * (1.0 + em) * (d2 - d1 * d1)
                ti += curv[i] * d2
                dtau[i, 0] = 0.0
                dtau[i, 1] = 0.0
            if want_tau:
                tau_out[s, k] += w * ti
            tb_sq = tb_sq_val / (nu * nu) if tb_sq_mode == 1 else tb_sq_val
            eta = theta_sq / (theta_sq + tb_sq)
            pos = (nu - a_lo) / a_step
            j = min(int(pos), anchors.size - 2)
            frac = pos - j
            diff = anchors[j] + frac * (anchors[j + 1] - anchors[j]) - t_bg[k]
            out[k] += w * eta * diff * absorb
            if grad:
                et = (1.0 + em) * eta * diff
                col = s * 5
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
def _batch_task(
    task, params, lines_off, freq, a_g, e_low, q, dlnq, edges_lo, edges_hi, t_bg, win_off,
    tb_sq_mode, tb_sq_val, cmb, t_cmb, out, tau_out, want_tau,
):
    """Evaluate task = (parameter set b, window w) of a batch."""
    n_win = win_off.size - 1
    b = task // n_win
    w = task % n_win
    c0, c1 = win_off[w], win_off[w + 1]
    _eval_window(
        params[b], lines_off, freq, a_g, e_low, q[b], dlnq[b], edges_lo[c0:c1],
        edges_hi[c0:c1], t_bg[c0:c1], tb_sq_mode, tb_sq_val, 1.0, cmb, t_cmb,
        out[b, c0:c1], np.zeros((1, 1)), tau_out[b if want_tau else 0, :, c0:c1], False,
        want_tau,
    )


@njit(cache=True, parallel=True)
def batch_parallel(
    params, lines_off, freq, a_g, e_low, q, dlnq, edges_lo, edges_hi, t_bg, win_off,
    tb_sq_mode, tb_sq_val, cmb, t_cmb, out, tau_out, want_tau,
):
    """Intensities for a batch of physical params (n_batch, n_species, 5), in parallel.

    ``q`` and ``dlnq`` (n_batch, n_species) hold Q(T_ex) and d ln Q/d ln T.
    Windows are concatenated: channel k of window w is index ``win_off[w] + k``
    of ``edges_lo``, ``edges_hi``, ``t_bg`` and of ``out`` (n_batch, n_chan_total).
    With ``want_tau``, ``tau_out`` (n_batch, n_species, n_chan_total) receives the
    channel-averaged opacities (otherwise pass a (1, n_species, n_chan_total) dummy).
    Parallel over (parameter set, window) pairs.
    """
    n_tasks = params.shape[0] * (win_off.size - 1)
    for task in prange(n_tasks):
        _batch_task(
            task, params, lines_off, freq, a_g, e_low, q, dlnq, edges_lo, edges_hi, t_bg,
            win_off, tb_sq_mode, tb_sq_val, cmb, t_cmb, out, tau_out, want_tau,
        )


@njit(cache=True)
def batch_serial(
    params, lines_off, freq, a_g, e_low, q, dlnq, edges_lo, edges_hi, t_bg, win_off,
    tb_sq_mode, tb_sq_val, cmb, t_cmb, out, tau_out, want_tau,
):
    """As :func:`batch_parallel` on the calling thread (no thread start-up: small batches)."""
    n_tasks = params.shape[0] * (win_off.size - 1)
    for task in range(n_tasks):
        _batch_task(
            task, params, lines_off, freq, a_g, e_low, q, dlnq, edges_lo, edges_hi, t_bg,
            win_off, tb_sq_mode, tb_sq_val, cmb, t_cmb, out, tau_out, want_tau,
        )


@njit(cache=True)
def spectra_jacobian(
    params, lines_off, freq, a_g, e_low, q, dlnq, edges_lo, edges_hi, t_bg, win_off,
    tb_sq_mode, tb_sq_val, tb_sq_ref, cmb, t_cmb, out, jac,
):
    """One parameter set (n_species, 5): intensities ``out`` (n_chan_total,) and
    ``jac`` (n_chan_total, n_species*5) = ∂out/∂[log10 η, T_ex, log10 N, log10 Δv, v_off]."""
    n_win = win_off.size - 1
    dummy_tau = np.zeros((1, 1))
    for w in range(n_win):
        c0, c1 = win_off[w], win_off[w + 1]
        _eval_window(
            params, lines_off, freq, a_g, e_low, q, dlnq, edges_lo[c0:c1], edges_hi[c0:c1],
            t_bg[c0:c1], tb_sq_mode, tb_sq_val, tb_sq_ref, cmb, t_cmb, out[c0:c1],
            jac[c0:c1], dummy_tau, True, False,
        )


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
