"""The five training augmentations of docs/method.md §6, reproducible per entry.

Velocity shift U(−5, 5) km/s; global rms × U(0.85, 1.25); with p = 0.2 a
top-hat smoothing over 2, 4 or 8 channels (rms / √K); continuum × U(0.5, 2);
beam × U(0.5, 2). Augmentation 0 is the identity; augmentation ``k > 0`` of an
entry draws its factors from a seed derived from the entry key, so the same
entry always sees the same augmented observation.

Optional sixth augmentation (not in the paper; off unless ``degeneracy_log10`` > 0):
the degeneracy convention. Catalogs differ in how they count spin-statistical and
symmetry weights (CDMS, JPL and SLAIM entries of one molecule can differ in g_u and
Q(T) by the same whole factor, e.g. 18 for SLAIM CH3OCH3). The LTE model depends on
g_u/Q only, so scaling both by k = 10^U(−d, d) leaves every spectrum and reward
unchanged and shifts only the policy's transition features (log10 g_u and asinh Q):
the network learns that only the ratio carries information.

Optional seventh augmentation (not in the paper; off unless ``strength_log10`` > 0):
the line strength. A_ul and N_tot enter the LTE opacity only as their product, so
scaling every A_ul of the entry's line list by k = 10^U(−s, s) is exactly a shift of
the optimal log10 N_tot by −log10 k. The transition features carry log10(k A_ul) and
the rewards are computed at log10 N_tot + log10 k: the species' spectra stay those of
the catalog, but the column density that reproduces them moves with the features, so
the network cannot learn a species' typical brightness by heart and has to read it
from the line strengths (what it needs for species it never saw).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...observation import Observation
from ...parameters import is_single_dish

__all__ = [
    "VELOCITY_SHIFT_KMS",
    "RMS_FACTOR",
    "SMOOTH_PROB",
    "SMOOTH_WIDTHS",
    "CONTINUUM_FACTOR",
    "BEAM_FACTOR",
    "hash_seed",
    "Augmentation",
]

VELOCITY_SHIFT_KMS: float = 5.0
RMS_FACTOR: tuple[float, float] = (0.85, 1.25)
SMOOTH_PROB: float = 0.2
SMOOTH_WIDTHS: tuple[int, ...] = (2, 4, 8)
CONTINUUM_FACTOR: tuple[float, float] = (0.5, 2.0)
BEAM_FACTOR: tuple[float, float] = (0.5, 2.0)


def hash_seed(key: str) -> int:
    """A stable 31-bit seed from a string key."""
    return zlib.crc32(key.encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class Augmentation:
    """Factors of one augmentation (identity by default)."""

    v_shift_kms: float = 0.0
    rms_factor: float = 1.0
    smooth: int = 1
    continuum_factor: float = 1.0
    beam_factor: float = 1.0
    degeneracy_scale: float = 1.0
    strength_scale: float = 1.0

    @classmethod
    def draw(
        cls, rng: np.random.Generator, degeneracy_log10: float = 0.0, strength_log10: float = 0.0
    ) -> Augmentation:
        """Random factors from the docs/method.md §6 distributions; with ``degeneracy_log10``
        > 0 also a degeneracy-convention factor 10^U(−d, d), then with ``strength_log10``
        > 0 a line-strength factor 10^U(−s, s) (drawn last, so the other factors of a key
        do not depend on them)."""
        smooth = int(rng.choice(SMOOTH_WIDTHS)) if rng.random() < SMOOTH_PROB else 1
        factors: dict[str, Any] = {  # the field values (smooth is an int)
            "v_shift_kms": float(rng.uniform(-VELOCITY_SHIFT_KMS, VELOCITY_SHIFT_KMS)),
            "rms_factor": float(rng.uniform(*RMS_FACTOR)),
            "smooth": smooth,
            "continuum_factor": float(rng.uniform(*CONTINUUM_FACTOR)),
            "beam_factor": float(rng.uniform(*BEAM_FACTOR)),
        }
        if degeneracy_log10 > 0.0:
            factors["degeneracy_scale"] = float(
                10.0 ** rng.uniform(-degeneracy_log10, degeneracy_log10)
            )
        if strength_log10 > 0.0:
            factors["strength_scale"] = float(10.0 ** rng.uniform(-strength_log10, strength_log10))
        return cls(**factors)

    @classmethod
    def for_key(
        cls, key: str, index: int, degeneracy_log10: float = 0.0, strength_log10: float = 0.0
    ) -> Augmentation:
        """Augmentation ``index`` of an entry (0 = identity), seeded by the key."""
        if index == 0:
            return cls()
        return cls.draw(
            np.random.default_rng(hash_seed(f"{key}#{index}")), degeneracy_log10, strength_log10
        )

    def apply(self, obs: Observation) -> Observation:
        """The augmented observation.

        The velocity shift changes v_LSR (the lines move by ``v_shift_kms`` in the
        source frame); smoothing is a running mean over ``smooth`` channels.
        """
        intens = obs.intensities
        rms = obs.rms * self.rms_factor
        if self.smooth > 1:
            kernel = np.ones(self.smooth) / self.smooth
            intens = tuple(np.convolve(y, kernel, mode="same") for y in intens)
            rms = rms / np.sqrt(self.smooth)
        beam = obs.beam
        if is_single_dish(beam):
            beam = float(beam) / self.beam_factor  # a smaller dish gives a larger beam
        else:
            beam = (beam[0] * self.beam_factor, beam[1] * self.beam_factor)
        return Observation(
            freqs=obs.freqs,
            intensities=tuple(intens),
            rms=np.asarray(rms, dtype=float),
            T_bg=obs.T_bg * self.continuum_factor,
            beam=beam,
            v_lsr=obs.v_lsr - self.v_shift_kms,
            name=obs.name,
        )
