"""Physical constants (SI unless stated) shared by every module.

Values are CODATA 2018 exact/recommended values, as used by astropy.
"""

from __future__ import annotations

__all__ = [
    "C_M_S",
    "C_KM_S",
    "H_J_S",
    "K_B_J_K",
    "H_OVER_K_K_PER_MHZ",
    "C2_CM_K",
    "MHZ_PER_CM1",
    "T_CMB_K",
    "LGINT_TO_A_FACTOR",
    "T0_CATALOG_K",
    "FWHM_TO_SIGMA",
]

C_M_S: float = 299_792_458.0
"""Speed of light, m/s (exact)."""

C_KM_S: float = C_M_S / 1e3
"""Speed of light, km/s."""

H_J_S: float = 6.626_070_15e-34
"""Planck constant, J s (exact)."""

K_B_J_K: float = 1.380_649e-23
"""Boltzmann constant, J/K (exact)."""

H_OVER_K_K_PER_MHZ: float = H_J_S * 1e6 / K_B_J_K
"""h/k in K per MHz: hν/k = H_OVER_K_K_PER_MHZ * ν[MHz]."""

C2_CM_K: float = 1.438777
"""Second radiation constant hc/k in cm K (docs/method.md §1 value)."""

MHZ_PER_CM1: float = 29979.2458
"""1 cm⁻¹ in MHz."""

T_CMB_K: float = 2.726
"""Cosmic microwave background temperature, K (XCLASS/spectuner convention)."""

LGINT_TO_A_FACTOR: float = 2.7964e-16
"""Factor in the LGINT → A_ul relation of docs/method.md §1 (ν in MHz)."""

T0_CATALOG_K: float = 300.0
"""Reference temperature of CDMS/JPL LGINT values, K."""

FWHM_TO_SIGMA: float = 1.0 / (2.0 * (2.0 * 0.6931471805599453) ** 0.5)
"""σ = FWHM · FWHM_TO_SIGMA for a Gaussian."""
