"""Model spectra of many pixels at once, each with its own background temperature.

The LTE intensity J = η [S(T_ex) − T_bg − S(T_cmb)] (1 − e^−τ), summed over
species and averaged over channels, is linear in T_bg. Two prepared models
(T_bg = 0 K and 1 K) therefore give the spectra of any number of pixels with
different continuum levels: J(T_bg) = J₀ + T_bg (J₁ − J₀).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["model_spectra"]

_BATCH = 256  # pixels per model call


def model_spectra(
    rest_freqs: Sequence[np.ndarray],
    lines: Sequence,
    beam,
    params: np.ndarray,
    t_bg: np.ndarray,
) -> list[np.ndarray]:
    """Model spectra (K) per window, each (n_pix, n_chan).

    Parameters
    ----------
    rest_freqs
        Rest-frame channel frequencies per window, MHz.
    lines
        One line list per species.
    beam
        (B_maj, B_min) arcsec or a dish diameter in m.
    params
        Physical parameters (n_pix, n_species, 5): θ ″, T_ex K, N_tot cm⁻², Δv km/s, v_off km/s.
        Pixels with any NaN give NaN spectra.
    t_bg
        Background temperature per pixel and window, K, (n_pix, n_windows).
    """
    from ..model import LTEModel

    params = np.asarray(params, float)
    t_bg = np.asarray(t_bg, float)
    n_pix = params.shape[0]
    model0 = LTEModel(list(rest_freqs), list(lines), beam=beam, T_bg=0.0)
    model1 = LTEModel(list(rest_freqs), list(lines), beam=beam, T_bg=1.0)
    out = [np.full((n_pix, f.size), np.nan) for f in rest_freqs]
    good = np.flatnonzero(np.all(np.isfinite(params), axis=(1, 2)))
    for start in range(0, good.size, _BATCH):
        idx = good[start : start + _BATCH]
        j0, j1 = model0(params[idx]), model1(params[idx])
        for w in range(len(out)):
            out[w][idx] = j0[w] + t_bg[idx, w, None] * (j1[w] - j0[w])
    return out
