"""The parameter spaces of one LTE component, and the paper's Table 1.

This is the one place that knows Table 1 and the θ ↔ η conversion.

Physical parameters, in this order (``PHYSICAL_NAMES``):
    θ (source size, arcsec), T_ex (K), N_tot (cm⁻²), Δv (FWHM, km/s), v_off (km/s).
Fit ("scaled") parameters, in the same order (``FIT_NAMES``):
    log10 η, T_ex (K), log10 N_tot, log10 Δv, v_off (km/s),
where η = θ² / (θ² + θ_b²) is the beam filling factor.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .constants import C_M_S
from .errors import ModelInputError

__all__ = [
    "PHYSICAL_NAMES", "PHYSICAL_UNITS", "FIT_NAMES", "N_PARAMS", "TABLE1_BOUNDS", "V_OFF_MAX_KMS",
    "DELTA_V_MAX_KMS", "is_single_dish", "beam_size_sq", "eta_from_theta", "theta_from_eta",
    "reference_beam_sq", "fit_to_physical", "physical_to_fit", "clip_to_bounds", "at_bound",
]

PHYSICAL_NAMES: tuple[str, ...] = ("theta", "T_ex", "N_tot", "delta_v", "v_off")
PHYSICAL_UNITS: tuple[str, ...] = ("arcsec", "K", "cm-2", "km/s", "km/s")
FIT_NAMES: tuple[str, ...] = ("log10_eta", "T_ex", "log10_N_tot", "log10_delta_v", "v_off")
N_PARAMS: int = 5

TABLE1_BOUNDS: np.ndarray = np.array(
    [
        [-3.0, -0.00043],  # log10 η
        [1.0, 1000.0],  # T_ex, K
        [12.0, 22.0],  # log10 N_tot, cm⁻²
        [-0.5, 1.5],  # log10 Δv, km/s
        [-12.0, 12.0],  # v_off, km/s
    ]
)
"""Paper Table 1 bounds in fit space, shape (5, 2): [lower, upper] per parameter."""
TABLE1_BOUNDS.setflags(write=False)

V_OFF_MAX_KMS: float = float(TABLE1_BOUNDS[4, 1])
"""Largest |v_off| allowed by Table 1, km/s."""
DELTA_V_MAX_KMS: float = float(10.0 ** TABLE1_BOUNDS[3, 1])
"""Largest Δv (FWHM) allowed by Table 1, km/s."""

_ARCSEC_PER_RAD = 180.0 / np.pi * 3600.0

BeamSpec = float | tuple[float, float] | Sequence[float]
"""A beam: a single-dish diameter in m (float), or (B_maj, B_min) in arcsec."""


def is_single_dish(beam: BeamSpec) -> bool:
    """True when ``beam`` is a dish diameter (a scalar), False for (B_maj, B_min)."""
    return np.ndim(beam) == 0


def beam_size_sq(beam: BeamSpec, freq_mhz: np.ndarray | float) -> np.ndarray:
    """θ_b² in arcsec² at the given frequencies (MHz).

    Interferometer ``beam=(B_maj, B_min)`` in arcsec: θ_b² = B_maj·B_min,
    independent of frequency. Single dish ``beam=D`` (m): θ_b = 1.22 c/(ν D).
    """
    freq = np.asarray(freq_mhz, dtype=float)
    if is_single_dish(beam):
        diameter = float(beam)
        if not np.isfinite(diameter) or diameter <= 0:
            raise ModelInputError(f"dish diameter must be positive and finite, got {beam!r} m")
        theta_b = 1.22 * C_M_S / (freq * 1e6 * diameter) * _ARCSEC_PER_RAD
        return theta_b**2
    b = np.asarray(beam, dtype=float)
    if b.shape != (2,) or not np.all(np.isfinite(b)) or np.any(b <= 0):
        raise ModelInputError(
            f"beam must be a dish diameter in m or (B_maj, B_min) in arcsec > 0, got {beam!r}"
        )
    return np.full(freq.shape, b[0] * b[1])


def eta_from_theta(theta: np.ndarray | float, theta_b_sq: np.ndarray | float) -> np.ndarray:
    """Filling factor η = θ²/(θ² + θ_b²) (θ in arcsec, θ_b² in arcsec²)."""
    t2 = np.square(np.asarray(theta, dtype=float))
    return t2 / (t2 + np.asarray(theta_b_sq, dtype=float))


def theta_from_eta(eta: np.ndarray | float, theta_b_sq: np.ndarray | float) -> np.ndarray:
    """Source size θ (arcsec) from filling factor η < 1: θ = θ_b √(η/(1−η))."""
    e = np.asarray(eta, dtype=float)
    if np.any((e <= 0) | (e >= 1)):
        raise ModelInputError(f"filling factor η must lie in (0, 1), got {e}")
    return np.sqrt(np.asarray(theta_b_sq, dtype=float) * e / (1.0 - e))


def reference_beam_sq(beam: BeamSpec, freq_ref_mhz: float) -> float:
    """θ_b² (arcsec²) used to convert between θ and one η for a whole spectrum.

    For an interferometer this is B_maj·B_min; for a single dish it is
    evaluated at ``freq_ref_mhz`` (by convention the mean observed frequency).
    """
    return float(beam_size_sq(beam, np.asarray([freq_ref_mhz]))[0])


def fit_to_physical(x: np.ndarray, theta_b_sq: float) -> np.ndarray:
    """Fit-space parameters (..., 5) → physical (..., 5) [θ″, T_ex K, N cm⁻², Δv km/s, v km/s]."""
    x = np.asarray(x, dtype=float)
    if x.shape[-1] != N_PARAMS:
        raise ModelInputError(f"last axis must hold {N_PARAMS} parameters, got shape {x.shape}")
    out = np.empty_like(x)
    out[..., 0] = theta_from_eta(10.0 ** x[..., 0], theta_b_sq)
    out[..., 1] = x[..., 1]
    out[..., 2] = 10.0 ** x[..., 2]
    out[..., 3] = 10.0 ** x[..., 3]
    out[..., 4] = x[..., 4]
    return out


def physical_to_fit(p: np.ndarray, theta_b_sq: float) -> np.ndarray:
    """Physical parameters (..., 5) → fit space (..., 5); inverse of :func:`fit_to_physical`."""
    p = np.asarray(p, dtype=float)
    if p.shape[-1] != N_PARAMS:
        raise ModelInputError(f"last axis must hold {N_PARAMS} parameters, got shape {p.shape}")
    if np.any(p[..., 1:4] <= 0) or np.any(p[..., 0] <= 0):
        raise ModelInputError("θ, T_ex, N_tot and Δv must be positive")
    out = np.empty_like(p)
    out[..., 0] = np.log10(eta_from_theta(p[..., 0], theta_b_sq))
    out[..., 1] = p[..., 1]
    out[..., 2] = np.log10(p[..., 2])
    out[..., 3] = np.log10(p[..., 3])
    out[..., 4] = p[..., 4]
    return out


def clip_to_bounds(x: np.ndarray, bounds: np.ndarray = TABLE1_BOUNDS) -> np.ndarray:
    """Clip fit-space parameters (..., 5) into ``bounds`` (5, 2)."""
    return np.clip(x, bounds[:, 0], bounds[:, 1])


def at_bound(x: np.ndarray, bounds: np.ndarray = TABLE1_BOUNDS, rtol: float = 1e-3) -> np.ndarray:
    """Boolean (..., 5): parameter lies within ``rtol`` of the bound range from a bound."""
    span = bounds[:, 1] - bounds[:, 0]
    x = np.asarray(x, dtype=float)
    return (x - bounds[:, 0] <= rtol * span) | (bounds[:, 1] - x <= rtol * span)
