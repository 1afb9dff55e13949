"""Refuse fits the data leave nothing to fit (docs/method.md §7).

A fit returns normal-looking parameters whatever the data, so the cases where no
LTE model within the bounds can explain the spectrum are caught before fitting:

* no transition of a species lies in (or within the line-search margin of) any window —
  frequencies in GHz given as MHz, or v_LSR in m/s given as km/s, look like this;
* emission brighter than the hottest allowed excitation temperature — an LTE line
  peaks below J(T_ex) ≤ T_ex, so a brighter spectrum is in the wrong unit (mJy/beam as K,
  a missing K conversion);
* absorption, dominating the spectrum, deeper than the continuum behind the gas
  (T_bg plus the cosmic background) — e.g. absorption lines with T_bg = 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .constants import H_OVER_K_K_PER_MHZ, T_CMB_K
from .errors import NothingToFitError

__all__ = ["N_SIGMA", "GHZ_HINT_MHZ", "radiation_temperature", "check_fittable"]

N_SIGMA: float = 6.0
"""Margin, in rms, by which the data must exceed a model limit to be refused."""
GHZ_HINT_MHZ: float = 2000.0
"""Windows entirely below this (MHz) are mentioned as possibly given in GHz."""


def radiation_temperature(freq_mhz: np.ndarray | float, t_k: float) -> np.ndarray:
    """Rayleigh–Jeans equivalent temperature J_ν(T) = (hν/k) / (exp(hν/kT) − 1), K."""
    hnu_k = H_OVER_K_K_PER_MHZ * np.asarray(freq_mhz, dtype=float)
    return hnu_k / np.expm1(hnu_k / t_k)


def check_fittable(obs, species: Sequence[str], lines: Sequence, *, t_ex_max: float) -> None:
    """Raise :class:`NothingToFitError` when ``obs`` leaves nothing to fit (module docstring).

    ``lines`` holds one line list per species (already restricted to the windows);
    ``t_ex_max`` is the upper T_ex bound of the fit, K.
    """
    empty = [name for name, ll in zip(species, lines, strict=True) if len(ll) == 0]
    if empty:
        windows = ", ".join(f"{a:.6g}–{b:.6g}" for a, b in obs.windows)
        hint = (
            " The windows lie below 2 GHz: frequencies must be in MHz, not GHz."
            if max(b for _, b in obs.windows) < GHZ_HINT_MHZ
            else ""
        )
        raise NothingToFitError(
            f"no line of {', '.join(empty)} in the windows ({windows} MHz, rest frame at "
            f"v_LSR = {obs.v_lsr:g} km/s).{hint} Check the frequency unit, and that v_LSR is "
            "in km/s (the FITS VELO-LSR keyword is in m/s)."
        )
    for w, (f, y) in enumerate(zip(obs.freqs, obs.intensities, strict=True)):
        margin = N_SIGMA * float(obs.rms[w])
        peak, dip = float(np.max(y)), float(-np.min(y))
        if peak > t_ex_max + margin:
            raise NothingToFitError(
                f"window {w}: emission of {peak:.4g} K exceeds anything an LTE line can reach "
                f"with T_ex ≤ {t_ex_max:g} K; are the intensities in K (not mJy/beam, or "
                "Jy/beam given as K)?"
            )
        limit = float(obs.T_bg[w]) + float(np.max(radiation_temperature(f, T_CMB_K)))
        if dip > limit + margin and dip > peak:
            raise NothingToFitError(
                f"window {w}: absorption of {dip:.4g} K is deeper than the continuum behind "
                f"the gas allows (T_bg = {obs.T_bg[w]:g} K plus the cosmic background, "
                f"{limit:.3g} K in all); give the continuum temperature (T_bg, --t-bg, or "
                "continuum images for a cube)"
            )
