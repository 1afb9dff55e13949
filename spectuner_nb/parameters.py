"""The parameter spaces of one LTE component, and the paper's Table 1.

This is the one place that knows Table 1 and the θ ↔ η conversion.

Physical parameters, in this order (``PHYSICAL_NAMES``): θ (source size, arcsec),
T_ex (K), N_tot (cm⁻²), Δv (FWHM, km/s), v_off (km/s).

Fit ("scaled") parameters, in the same order (``FIT_NAMES``): log10 η, T_ex (K),
log10 N_tot, log10 Δv, v_off (km/s), where η = θ² / (θ² + θ_b²) is the beam filling factor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .constants import C_M_S
from .errors import ModelInputError

if TYPE_CHECKING:  # typing.TypeIs is Python ≥ 3.13
    from typing_extensions import TypeIs

__all__ = [
    "AUTO_PRESET",
    "PRESET_CHOICES",
    "is_auto_preset",
    "resolve_preset",
    "PHYSICAL_NAMES",
    "PHYSICAL_UNITS",
    "FIT_NAMES",
    "N_PARAMS",
    "TABLE1_BOUNDS",
    "V_OFF_MAX_KMS",
    "DELTA_V_MAX_KMS",
    "is_single_dish",
    "beam_size_sq",
    "eta_from_theta",
    "theta_from_eta",
    "reference_beam_sq",
    "fit_to_physical",
    "physical_to_fit",
    "clip_to_bounds",
    "at_bound",
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

COLD_CORE_BOUNDS: np.ndarray = np.array(
    [
        [-3.0, -0.00043],  # log10 η: as Table 1
        [2.0, 60.0],  # T_ex, K
        [10.0, 17.0],  # log10 N_tot, cm⁻²
        [-1.0, 0.5],  # log10 Δv, km/s: 0.1 … 3.2 km/s
        [-3.0, 3.0],  # v_off, km/s
    ]
)
"""Bounds for cold, quiescent sources (dark clouds, prestellar cores), fit space (5, 2).

Why these limits: such gas has T_ex ≈ 3–15 K (2.7 K CMB floor, kinetic temperatures
≈ 10 K), and 60 K leaves room for warmer envelopes while keeping the fits away from
Table 1's hot-core 1000 K; column densities of the species seen there are ≈ 10^11–10^15
cm⁻² (the MADCUBA fits of L1517B give log10 N = 11–12 with FWHM 0.28–0.35 km/s), so
log10 N ∈ [10, 17] covers faint species and optically thick CO-like ones; lines are
close to thermal plus a small turbulent width, 0.1–3 km/s, below Table 1's 0.32 km/s
lower limit; a quiescent core moves as one body, so velocity offsets from the
systemic velocity stay within ±3 km/s.
"""
COLD_CORE_BOUNDS.setflags(write=False)

BOUND_PRESETS: dict[str, np.ndarray] = {"hot_core": TABLE1_BOUNDS, "cold_core": COLD_CORE_BOUNDS}
"""Named fit-space bounds (5, 2): "hot_core" = Table 1 (the policy's training range),
"cold_core" = :data:`COLD_CORE_BOUNDS`."""
AUTO_PRESET: str = "auto"
"""The ``bounds`` value that picks the preset from the observed line widths
(:func:`choose_preset`)."""
PRESET_CHOICES: tuple[str, ...] = (AUTO_PRESET, *sorted(BOUND_PRESETS))
"""Bound preset names an entry point accepts: :data:`AUTO_PRESET` and every
:data:`BOUND_PRESETS` name."""

COLD_CORE_MAX_FWHM_KMS: float = 0.7
"""Median observed line width (FWHM, km/s) below which :func:`choose_preset` picks "cold_core"."""

V_OFF_MAX_KMS: float = float(TABLE1_BOUNDS[4, 1])
"""Largest absolute v_off allowed by Table 1, km/s."""
DELTA_V_MAX_KMS: float = float(10.0 ** TABLE1_BOUNDS[3, 1])
"""Largest Δv (FWHM) allowed by Table 1, km/s."""

_ARCSEC_PER_RAD = 180.0 / np.pi * 3600.0

BeamSpec = float | tuple[float, float] | Sequence[float]
"""A beam: a single-dish diameter in m (float), or (B_maj, B_min) in arcsec."""


def is_single_dish(beam: BeamSpec) -> TypeIs[float]:
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


def bounds_preset(name: str) -> np.ndarray:
    """Fit-space bounds (5, 2) of a named preset in :data:`BOUND_PRESETS` (a copy)."""
    try:
        return np.array(BOUND_PRESETS[name], dtype=float)
    except (KeyError, TypeError) as exc:
        raise ModelInputError(
            f"unknown bound preset {name!r}; use one of {sorted(BOUND_PRESETS)}"
        ) from exc


def is_auto_preset(bounds) -> bool:
    """True when ``bounds`` asks for the preset chosen from the data (:data:`AUTO_PRESET`)."""
    return isinstance(bounds, str) and bounds == AUTO_PRESET


def resolve_preset(bounds, obs):
    """``bounds`` with :data:`AUTO_PRESET` replaced by :func:`choose_preset` of ``obs``."""
    return choose_preset(obs) if is_auto_preset(bounds) else bounds


def choose_preset(obs) -> str:
    """The bound preset suited to an observation, from its observed line widths.

    Every observed peak (docs/method.md §3: 4 rms, span at relative height 0.25 of the
    prominence) gives a width; a Gaussian's span there is
    √(ln(4/3)/ln 2) = 0.644 of its FWHM, and the channel (top hat of width Δ) adds
    8 ln2/12 Δ² to the FWHM². The median FWHM (km/s) below
    :data:`COLD_CORE_MAX_FWHM_KMS` gives "cold_core", anything else (or no peak)
    "hot_core".
    """
    from .doppler import velocity_width
    from .losses import find_peak_spans

    widths = []
    for freq, y, rms in zip(obs.rest_freqs, obs.intensities, obs.rms, strict=True):
        spans = find_peak_spans(y, float(rms))
        if spans.size == 0:
            continue
        chan = np.abs(np.gradient(freq))
        mid = np.clip(np.rint(spans.mean(axis=1)).astype(int), 0, freq.size - 1)
        span_kms = velocity_width((spans[:, 1] - spans[:, 0]) * chan[mid], freq[mid])
        chan_kms = velocity_width(chan[mid], freq[mid])
        fwhm_sq = (span_kms / _SPAN_PER_FWHM) ** 2 - _CHANNEL_FWHM_SQ * chan_kms**2
        widths.append(np.sqrt(np.maximum(fwhm_sq, 0.0)))
    if not widths:
        return "hot_core"
    return (
        "cold_core"
        if float(np.median(np.concatenate(widths))) < COLD_CORE_MAX_FWHM_KMS
        else "hot_core"
    )


_SPAN_PER_FWHM = float(np.sqrt(np.log(4.0 / 3.0) / np.log(2.0)))
_CHANNEL_FWHM_SQ = 8.0 * np.log(2.0) / 12.0


def within_bounds(inner: np.ndarray, outer: np.ndarray = TABLE1_BOUNDS) -> bool:
    """True when fit-space bounds ``inner`` (..., 5, 2) lie inside ``outer`` (5, 2)."""
    inner = np.asarray(inner, dtype=float)
    return bool(np.all(inner[..., 0] >= outer[:, 0]) and np.all(inner[..., 1] <= outer[:, 1]))


def clip_to_bounds(x: np.ndarray, bounds: np.ndarray = TABLE1_BOUNDS) -> np.ndarray:
    """Clip fit-space parameters (..., 5) into ``bounds`` (5, 2)."""
    return np.clip(x, bounds[:, 0], bounds[:, 1])


def at_bound(x: np.ndarray, bounds: np.ndarray = TABLE1_BOUNDS, rtol: float = 1e-3) -> np.ndarray:
    """Boolean (..., 5): parameter lies within ``rtol`` of the bound range from a bound
    (``bounds`` (5, 2), or (..., 5, 2) broadcast against ``x``)."""
    bounds = np.asarray(bounds, dtype=float)
    span = bounds[..., 1] - bounds[..., 0]
    x = np.asarray(x, dtype=float)
    return (x - bounds[..., 0] <= rtol * span) | (bounds[..., 1] - x <= rtol * span)
