"""ParameterMaps: the physical parameter maps of one fit of a cube, from any source.

A common form for comparing fits made by different tools: our cube fits
(:class:`~spectuner_nb.cube.results.CubeFitResult`), XCLASS molfit files per
pixel and XCLASS map-fit FITS images (readers in :mod:`spectuner_nb.xclass`).
Species names are canonicalised by the one resolver (docs/method.md §1), so
"CH3OH" from one source and "CH3OH;v=0;" from another are the same species.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ResultsError
from .parameters import N_PARAMS, PHYSICAL_NAMES

__all__ = ["ParameterMaps"]


@dataclass
class ParameterMaps:
    """Physical parameter maps of one fit of a cube.

    Attributes
    ----------
    label
        Name shown above the maps (e.g. "PM fit", "χ² fit", "XCLASS").
    species
        Species names (canonicalised on construction), in the order of the species axis.
    params
        (ny, nx, n_species, 5): θ (arcsec), T_ex (K), N_tot (cm⁻²), Δv (km/s),
        v_off (km/s); NaN where the source has no value.
    """

    label: str
    species: list[str]
    params: np.ndarray

    def __post_init__(self) -> None:
        from .catalog.names import resolve

        self.species = [resolve(s) for s in self.species]
        self.params = np.asarray(self.params, dtype=float)
        if self.params.ndim != 4 or self.params.shape[2:] != (len(self.species), N_PARAMS):
            raise ResultsError(
                f"{self.label}: params of shape {self.params.shape}, need "
                f"(ny, nx, {len(self.species)}, {N_PARAMS})"
            )

    def index(self, species: str) -> int | None:
        """Position of ``species`` (any spelling the resolver knows) on the species axis."""
        from .catalog.names import resolve

        name = resolve(species)
        return self.species.index(name) if name in self.species else None

    def map(self, species: str, parameter: str) -> np.ndarray:
        """(ny, nx) map of ``parameter`` (one of PHYSICAL_NAMES); NaN if the species is absent."""
        if parameter not in PHYSICAL_NAMES:
            raise ResultsError(f"unknown parameter {parameter!r}; one of {PHYSICAL_NAMES}")
        k = self.index(species)
        if k is None:
            return np.full(self.params.shape[:2], np.nan)
        return self.params[:, :, k, PHYSICAL_NAMES.index(parameter)]

    def pixel_params(self, x: int, y: int, species: list[str]) -> np.ndarray:
        """(n_species, 5) physical parameters of pixel (x, y) for ``species`` (NaN if absent)."""
        out = np.full((len(species), N_PARAMS), np.nan)
        for k, name in enumerate(species):
            j = self.index(name)
            if j is not None:
                out[k] = self.params[y, x, j]
        return out

    @classmethod
    def from_cube_result(cls, result: Any, label: str) -> ParameterMaps:
        """Maps of a :class:`~spectuner_nb.cube.results.CubeFitResult` (its ``map``)."""
        species = list(result.species)
        params = np.stack(
            [np.stack([result.map(s, p) for p in PHYSICAL_NAMES], axis=-1) for s in species], axis=2
        )
        return cls(label, species, params)
