"""Neighbour starts of a cube fit (``init="neighbour"``, docs/method.md §8).

A coarse grid of seed pixels (every ``stride``-th row and column) is fitted first; every
other pixel then starts from the solutions of its :data:`N_NEIGHBOURS` nearest seed
pixels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["N_NEIGHBOURS", "neighbour_inits", "pixel_plan"]

N_NEIGHBOURS: int = 4
"""Seed pixels whose solutions start one other pixel."""


def pixel_plan(keep: np.ndarray, init: str, stride: int) -> tuple[np.ndarray, int]:
    """Pixel order (flat indices of the kept pixels, seed pixels first) and the number of
    seed pixels; without ``init="neighbour"`` every pixel is a seed pixel."""
    flat = np.flatnonzero(keep.ravel())
    if init != "neighbour":
        return flat, flat.size
    iy, ix = np.unravel_index(flat, keep.shape)
    seeds = (iy % stride == 0) & (ix % stride == 0)
    if not seeds.any():
        return flat, flat.size
    return np.concatenate([flat[seeds], flat[~seeds]]), int(seeds.sum())


def neighbour_inits(
    shape: tuple[int, int], seed_pix: np.ndarray, seed_x: np.ndarray, pix: np.ndarray
) -> np.ndarray:
    """Fit-space starts (n_pix, N_NEIGHBOURS, n_species, 5) of the pixels ``pix``: the
    solutions ``seed_x`` of the nearest fitted seed pixels ``seed_pix`` (NaN where fewer)."""
    ok = np.all(np.isfinite(seed_x), axis=(1, 2))
    seed_pix, seed_x = seed_pix[ok], seed_x[ok]
    out = np.full((pix.size, N_NEIGHBOURS) + seed_x.shape[1:], np.nan)
    if seed_pix.size == 0:
        return out
    sy, sx = np.unravel_index(seed_pix, shape)
    py, px = np.unravel_index(pix, shape)
    dist = (py[:, None] - sy[None]) ** 2 + (px[:, None] - sx[None]) ** 2
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :N_NEIGHBOURS]
    out[:, : nearest.shape[1]] = seed_x[nearest]
    return out
