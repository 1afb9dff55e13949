"""The lending pass of a tied cube fit (``fit_cube(..., tie=True)``; docs/cube.md).

The tie step (:func:`~spectuner_nb.ties.tie_unconstrained`) gives a species whose T_ex or η
a pixel's data leave unconstrained the range of the species that pixel does constrain. Near
the edge of a source often no species of a pixel is constrained in every parameter, and
nothing can be lent there: T_ex runs to 1000 K or η to 1. One emitting region extends over
neighbouring pixels, so after the first pass every such pixel is refitted once with the
tie step, lent the range that the constrained species of the pixels within
:data:`LEND_RADIUS` span (:func:`lent_ranges`), starting from its own first-pass solution.
"""

from __future__ import annotations

import numpy as np

from ..parameters import FIT_NAMES, at_bound
from ..ties import TIED_AT_BOUND, TIED_PARAMS, loose_values

__all__ = ["LEND_COLUMNS", "LEND_RADIUS", "lenders", "lent_ranges", "needs_lending"]

LEND_RADIUS: int = 2
"""Half-width in pixels of the square of neighbouring pixels whose constrained species lend
their range (a 5 × 5 square)."""
LEND_COLUMNS: tuple[int, ...] = tuple(FIT_NAMES.index(p) for p in (*TIED_PARAMS, *TIED_AT_BOUND))
"""Fit-space columns that can be lent: log10 η, T_ex, log10 Δv and v_off."""


def lenders(x: np.ndarray, x_err: np.ndarray, preset: np.ndarray) -> np.ndarray:
    """(n_pix, n_species) bool: the species the pixel's data constrain in every parameter
    (:func:`~spectuner_nb.ties.loose_values`; NaN fits lend nothing)."""
    return _lenders(x, loose_values(x, x_err, preset))


def _lenders(x: np.ndarray, loose: np.ndarray) -> np.ndarray:
    """:func:`lenders` from the fits' loose parameters (``loose``, (n_pix, n_species, 5))."""
    return np.all(np.isfinite(x), axis=-1) & ~loose.any(axis=-1)


def needs_lending(
    x: np.ndarray, x_err: np.ndarray, preset: np.ndarray, status_ok: np.ndarray
) -> np.ndarray:
    """(n_pix,) bool: fitted pixels with a species whose T_ex or η is loose or whose line
    width or v_off is at a bound of ``preset``, while none of the pixel's species lends a range."""
    loose = loose_values(x, x_err, preset)
    source = [FIT_NAMES.index(p) for p in TIED_PARAMS]
    edge = [FIT_NAMES.index(p) for p in TIED_AT_BOUND]
    wants = loose[..., source].any(axis=-1) | at_bound(x, preset)[..., edge].any(axis=-1)
    return status_ok & wants.any(axis=-1) & ~_lenders(x, loose).any(axis=-1)


def lent_ranges(
    shape: tuple[int, int],
    pixels: np.ndarray,
    x: np.ndarray,
    lend: np.ndarray,
    radius: int = LEND_RADIUS,
) -> np.ndarray:
    """(n_pix, 5, 2) fit-space [min, max] of each :data:`LEND_COLUMNS` parameter over the
    lending species (``lend``, (n_pix, n_species)) of the pixels within ``radius`` of each
    pixel (flat indices ``pixels`` of a (ny, nx) map); NaN where none lends, and for the
    other columns."""
    ny, nx = shape
    iy, ix = np.unravel_index(np.asarray(pixels, np.int64), shape)
    n_par = x.shape[-1]
    lent = np.broadcast_to(lend[..., None], x.shape)
    edges = []
    for fill, reduce in ((np.inf, np.min), (-np.inf, np.max)):
        own = np.full((ny, nx, n_par), fill)  # each pixel's own lenders' extreme
        own[iy, ix] = reduce(np.where(lent, x, fill), axis=1)
        pad = np.pad(own, ((radius, radius), (radius, radius), (0, 0)), constant_values=fill)
        windows = [
            pad[dy : dy + ny, dx : dx + nx]
            for dy in range(2 * radius + 1)
            for dx in range(2 * radius + 1)
        ]
        edges.append(reduce(windows, axis=0)[iy, ix])
    out = np.full((len(iy), n_par, 2), np.nan)
    cols = list(LEND_COLUMNS)
    found = np.isfinite(edges[0][:, cols])
    out[:, cols, 0] = np.where(found, edges[0][:, cols], np.nan)
    out[:, cols, 1] = np.where(found, edges[1][:, cols], np.nan)
    return out
