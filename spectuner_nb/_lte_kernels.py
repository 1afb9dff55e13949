"""Numba kernels of the LTE model (private; the public API is :mod:`spectuner_nb.model`).

Units inside: frequencies MHz, temperatures K, velocities km/s, θ² arcsec²,
integrated opacities τ̂ in MHz (so that τ(ν) = Σ τ̂ φ(ν) with φ in MHz⁻¹).

Channel averages (METHOD.md §2, paper Eq. 9) are computed by splitting each
channel reached by a line into ``n_sub`` equal sub-intervals with 3-point
Gauss-Legendre nodes each. ``n_sub`` is chosen per channel (and per parameter
set) so that a sub-interval is no wider than ``SUB_PER_SIGMA`` times the
narrowest effective scale of the lines reaching that channel (σ, shrunk for
saturated lines whose flat tops have steep edges). Lines are evaluated out to
where their opacity falls below ``TAU_FLOOR`` (and at least ``MIN_CUT_SIGMA``
σ); channels no line reaches hold exactly 0.

Compilation is cached on disk (``cache=True``) in the directory chosen by
:mod:`spectuner_nb._jit` (outside site-packages).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from . import _jit  # noqa: F401  (compile cache outside site-packages, before any @njit)
from .constants import C_KM_S, FWHM_TO_SIGMA, H_OVER_K_K_PER_MHZ

TAU_FLOOR: float = 1e-10
"""Opacity below which a line wing is not evaluated."""
MIN_CUT_SIGMA: float = 7.0
"""Every line is evaluated out to at least this many σ from its centre."""
SUB_PER_SIGMA: float = 1.0
"""Largest sub-interval width in units of the effective line scale."""
MAX_SUB: int = 4096
"""Upper bound on sub-intervals per channel."""
MAX_CUT_SIGMA: float = 40.0
"""No line reaches further than this many σ (τ̂ would have to exceed 1e300)."""

TAU_HAT_FACTOR: float = (C_KM_S * 1e3) ** 2 / (8.0 * math.pi) * 1e4 / 1e12 / 1e6
"""c²/(8π) (≈ 35.76) in units such that τ̂[MHz] = factor · N[cm⁻²] · A[s⁻¹] · g / (Q ν²[MHz²])."""

LN10: float = math.log(10.0)
_GL_X = np.array([-math.sqrt(0.6), 0.0, math.sqrt(0.6)])
_GL_W = np.array([5.0 / 18.0, 8.0 / 18.0, 5.0 / 18.0])  # weights on [0, 1], sum 1
_SQRT_2PI = math.sqrt(2.0 * math.pi)

# Column layout of the per-line work array built by _line_setup.
_L_CEN, _L_SIG, _L_AMP, _L_CUT, _L_DLNT, _L_DCEN, _L_SCALE = 0, 1, 2, 3, 4, 5, 6
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
def _line_setup(freq, a_g, e_low, lo, hi, t_ex, n_tot, q, dlnq_dlnt, dv, v_off, work):
    """Fill ``work`` (n_lines, 7) for one species and return the number of kept lines.

    Rows kept are lines whose truncated profile reaches [lo, hi] (MHz).
    Columns: centre ν_c, σ, τ̂ (MHz), cut radius (MHz), ∂ln τ̂/∂T_ex (K⁻¹),
    ∂ν_c/∂v_off (MHz per km/s), effective scale to resolve (MHz).
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
        if peak > 0.0:
            lnr = math.log(peak / TAU_FLOOR)
        else:
            lnr = 0.0
        zcut = math.sqrt(2.0 * max(lnr, 0.5 * MIN_CUT_SIGMA * MIN_CUT_SIGMA))
        cut = zcut * sig
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
        work[n_keep, _L_SCALE] = sig / max(1.0, math.sqrt(2.0 * math.log(max(peak, 1.0))))
        n_keep += 1
    return n_keep


@njit(cache=True)
def _resolution(edges_lo, edges_hi, work, n_keep, req):
    """Lower ``req`` (per channel, MHz) to the scale of every kept line reaching a channel."""
    for li in range(n_keep):
        cen = work[li, _L_CEN]
        cut = work[li, _L_CUT]
        k0 = np.searchsorted(edges_hi, cen - cut)
        k1 = np.searchsorted(edges_lo, cen + cut, "right")
        scale = work[li, _L_SCALE]
        for k in range(k0, k1):
            if scale < req[k]:
                req[k] = scale


@njit(cache=True)
def _node_grid(edges_lo, edges_hi, req):
    """Sub-grid of one window: node frequencies (MHz), averaging weights, channel of each node.

    A channel with required scale ``req`` (MHz; inf = no line) gets
    ceil(width / (SUB_PER_SIGMA · req)) sub-intervals of 3 Gauss-Legendre nodes.
    """
    n_chan = edges_lo.size
    n_sub = np.zeros(n_chan, dtype=np.int64)
    total = 0
    for k in range(n_chan):
        if np.isfinite(req[k]):
            width = edges_hi[k] - edges_lo[k]
            n_sub[k] = int(min(MAX_SUB, max(1.0, math.ceil(width / (SUB_PER_SIGMA * req[k])))))
            total += n_sub[k]
    nodes = np.empty(3 * total)
    weights = np.empty(3 * total)
    chan = np.empty(3 * total, dtype=np.int64)
    i = 0
    for k in range(n_chan):
        m = n_sub[k]
        if m == 0:
            continue
        h = (edges_hi[k] - edges_lo[k]) / m
        for j in range(m):
            base = edges_lo[k] + (j + 0.5) * h
            for g in range(3):
                nodes[i] = base + 0.5 * h * _GL_X[g]
                weights[i] = _GL_W[g] / m
                chan[i] = k
                i += 1
    return nodes, weights, chan


@njit(cache=True)
def _add_opacity(nodes, work, n_keep, tau, dtau, grad):
    """Add the Gaussian opacity profiles of the kept lines onto ``tau`` at ``nodes``.

    With ``grad``, also accumulate ∂τ/∂T_ex, ∂τ/∂log10 Δv and ∂τ/∂v_off in ``dtau``.
    Returns the first and one-past-last node index touched.
    """
    first = nodes.size
    last = 0
    for li in range(n_keep):
        cen = work[li, _L_CEN]
        sig = work[li, _L_SIG]
        amp = work[li, _L_AMP]
        cut = work[li, _L_CUT]
        i0 = np.searchsorted(nodes, cen - cut)
        i1 = np.searchsorted(nodes, cen + cut, side="right")
        first = min(first, i0)
        last = max(last, i1)
        norm = amp / (sig * _SQRT_2PI)
        inv_sig = 1.0 / sig
        for i in range(i0, i1):
            z = (nodes[i] - cen) * inv_sig
            val = norm * math.exp(-0.5 * z * z)
            tau[i] += val
            if grad:
                dtau[i, _D_T] += val * work[li, _L_DLNT]
                dtau[i, _D_DV] += val * (z * z - 1.0) * LN10
                # ν_c = ν_t (1 − v/c) and σ ∝ ν_c: ∂/∂v of both.
                dcen = work[li, _L_DCEN]
                dtau[i, _D_V] += val * (z * inv_sig * dcen + (z * z - 1.0) * dcen / cen)
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
    nodes, weights, chan = _node_grid(edges_lo, edges_hi, req)
    n_nodes = nodes.size
    if n_nodes == 0:
        return
    tau = np.zeros(n_nodes)
    dtau = np.zeros((n_nodes if grad else 1, 3))
    for s in range(n_species):
        if n_keep[s] == 0:
            continue
        theta_sq = params[s, 0] * params[s, 0]
        t_ex = params[s, 1]
        first, last = _add_opacity(nodes, work[s], n_keep[s], tau, dtau, grad)
        if grad:
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
            if want_tau:
                tau_out[s, k] += w * ti
            tb_sq = tb_sq_val / (nu * nu) if tb_sq_mode == 1 else tb_sq_val
            eta = theta_sq / (theta_sq + tb_sq)
            diff = _planck_temp(nu, t_ex) - t_bg[k]
            if cmb:
                diff -= _planck_temp(nu, t_cmb)
            absorb = -math.expm1(-ti)
            out[k] += w * eta * diff * absorb
            if grad:
                et = math.exp(-ti) * eta * diff
                col = s * 5
                deta = tb_sq / (theta_sq + tb_sq) ** 2 * dthsq
                jac[k, col + 0] += w * deta * diff * absorb
                jac[k, col + 1] += w * (
                    eta * _planck_temp_dt(nu, t_ex) * absorb + et * dtau[i, _D_T]
                )
                jac[k, col + 2] += w * et * ti * LN10
                jac[k, col + 3] += w * et * dtau[i, _D_DV]
                jac[k, col + 4] += w * et * dtau[i, _D_V]
                dtau[i, 0] = 0.0
                dtau[i, 1] = 0.0
                dtau[i, 2] = 0.0
            tau[i] = 0.0


@njit(cache=True, parallel=True)
def spectra_batch(
    params, lines_off, freq, a_g, e_low, q, dlnq, edges_lo, edges_hi, t_bg, win_off,
    tb_sq_mode, tb_sq_val, cmb, t_cmb, out,
):
    """Intensities for a batch of physical params (n_batch, n_species, 5).

    ``q`` and ``dlnq`` (n_batch, n_species) hold Q(T_ex) and d ln Q/d ln T.

    Windows are concatenated: channel k of window w is index ``win_off[w] + k``
    of ``edges_lo``, ``edges_hi``, ``t_bg`` and of ``out`` (n_batch, n_chan_total).
    Parallel over (parameter set, window) pairs.
    """
    n_batch = params.shape[0]
    n_win = win_off.size - 1
    dummy_jac = np.zeros((1, 1))
    dummy_tau = np.zeros((1, 1))
    for task in prange(n_batch * n_win):
        b = task // n_win
        w = task % n_win
        c0, c1 = win_off[w], win_off[w + 1]
        _eval_window(
            params[b], lines_off, freq, a_g, e_low, q[b], dlnq[b], edges_lo[c0:c1],
            edges_hi[c0:c1], t_bg[c0:c1], tb_sq_mode, tb_sq_val, 1.0, cmb, t_cmb,
            out[b, c0:c1], dummy_jac, dummy_tau, False, False,
        )


@njit(cache=True, parallel=True)
def spectra_jacobian(
    params, lines_off, freq, a_g, e_low, q, dlnq, edges_lo, edges_hi, t_bg, win_off,
    tb_sq_mode, tb_sq_val, tb_sq_ref, cmb, t_cmb, out, jac,
):
    """One parameter set (n_species, 5): intensities ``out`` (n_chan_total,) and
    ``jac`` (n_chan_total, n_species*5) = ∂out/∂[log10 η, T_ex, log10 N, log10 Δv, v_off]."""
    n_win = win_off.size - 1
    dummy_tau = np.zeros((1, 1))
    for w in prange(n_win):
        c0, c1 = win_off[w], win_off[w + 1]
        _eval_window(
            params, lines_off, freq, a_g, e_low, q, dlnq, edges_lo[c0:c1], edges_hi[c0:c1],
            t_bg[c0:c1], tb_sq_mode, tb_sq_val, tb_sq_ref, cmb, t_cmb, out[c0:c1],
            jac[c0:c1], dummy_tau, True, False,
        )


@njit(cache=True, parallel=True)
def opacity_batch(
    params, lines_off, freq, a_g, e_low, q, dlnq, edges_lo, edges_hi, t_bg, win_off,
    tb_sq_mode, tb_sq_val, cmb, t_cmb, out, tau_out,
):
    """As :func:`spectra_batch`, also filling ``tau_out`` (n_batch, n_species, n_chan_total)
    with channel-averaged opacities per species."""
    n_batch = params.shape[0]
    n_win = win_off.size - 1
    dummy_jac = np.zeros((1, 1))
    for task in prange(n_batch * n_win):
        b = task // n_win
        w = task % n_win
        c0, c1 = win_off[w], win_off[w + 1]
        _eval_window(
            params[b], lines_off, freq, a_g, e_low, q[b], dlnq[b], edges_lo[c0:c1],
            edges_hi[c0:c1], t_bg[c0:c1], tb_sq_mode, tb_sq_val, 1.0, cmb, t_cmb,
            out[b, c0:c1], dummy_jac, tau_out[b, :, c0:c1], False, True,
        )
