"""Monotone piecewise-quadratic transforms of the unit interval (Müller et al. 2019).

A transform with ``K`` bins is given by unnormalised bin widths ``w`` (..., K)
and unnormalised vertex heights ``h`` (..., K+1). The density on [0, 1] is the
piecewise-linear function through the vertices; the transform is its CDF, a
monotone piecewise-quadratic bijection of [0, 1] onto itself. Everything is
batched over the leading axes and differentiable in torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "MIN_BIN_WIDTH",
    "MIN_DENSITY",
    "quadratic_forward",
    "quadratic_inverse",
    "n_transform_params",
    "split_params",
]

MIN_BIN_WIDTH: float = 1e-3
"""Smallest allowed bin width (fraction of the interval)."""
MIN_DENSITY: float = 1e-3
"""Smallest allowed vertex density, keeps the inverse well conditioned."""
_EPS: float = 1e-6


def _bins(w: torch.Tensor, h: torch.Tensor):
    """Normalised widths (..., K), vertex densities (..., K+1), left edges and CDF at edges."""
    n_bins = w.shape[-1]
    widths = MIN_BIN_WIDTH + (1.0 - MIN_BIN_WIDTH * n_bins) * torch.softmax(w, dim=-1)
    heights = F.softplus(h) + MIN_DENSITY
    area = 0.5 * (heights[..., :-1] + heights[..., 1:]) * widths
    heights = heights / area.sum(dim=-1, keepdim=True)
    area = 0.5 * (heights[..., :-1] + heights[..., 1:]) * widths
    zero = torch.zeros_like(widths[..., :1])
    edges = torch.cat([zero, torch.cumsum(widths, dim=-1)], dim=-1)
    cdf = torch.cat([zero, torch.cumsum(area, dim=-1)], dim=-1)
    return widths, heights, edges, cdf


def _gather(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return torch.gather(t, -1, idx.unsqueeze(-1)).squeeze(-1)


def quadratic_forward(
    x: torch.Tensor, w: torch.Tensor, h: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Map x ∈ [0, 1] (...,) to y = CDF(x); return (y, log dy/dx)."""
    widths, heights, edges, cdf = _bins(w, h)
    x = x.clamp(_EPS, 1.0 - _EPS)
    n_bins = widths.shape[-1]
    idx = (
        torch.searchsorted(edges[..., 1:-1].contiguous(), x.unsqueeze(-1))
        .squeeze(-1)
        .clamp(0, n_bins - 1)
    )
    x0, wb = _gather(edges, idx), _gather(widths, idx)
    v0, v1 = _gather(heights, idx), _gather(heights[..., 1:], idx)
    alpha = ((x - x0) / wb).clamp(0.0, 1.0)
    y = _gather(cdf, idx) + wb * (v0 * alpha + 0.5 * (v1 - v0) * alpha**2)
    density = v0 + (v1 - v0) * alpha
    return y.clamp(0.0, 1.0), torch.log(density)


def quadratic_inverse(
    y: torch.Tensor, w: torch.Tensor, h: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Map y ∈ [0, 1] back to x with CDF(x) = y; return (x, log dx/dy)."""
    widths, heights, edges, cdf = _bins(w, h)
    y = y.clamp(_EPS, 1.0 - _EPS)
    n_bins = widths.shape[-1]
    idx = (
        torch.searchsorted(cdf[..., 1:-1].contiguous(), y.unsqueeze(-1))
        .squeeze(-1)
        .clamp(0, n_bins - 1)
    )
    x0, wb, c0 = _gather(edges, idx), _gather(widths, idx), _gather(cdf, idx)
    v0, v1 = _gather(heights, idx), _gather(heights[..., 1:], idx)
    # Solve 0.5 (v1 - v0) a² + v0 a - (y - c0)/wb = 0 for a in [0, 1] (stable form).
    a_q = 0.5 * (v1 - v0)
    c_q = (y - c0) / wb
    disc = (v0**2 + 4.0 * a_q * c_q).clamp_min(0.0)
    alpha = (2.0 * c_q / (v0 + torch.sqrt(disc))).clamp(0.0, 1.0)
    x = x0 + alpha * wb
    density = v0 + (v1 - v0) * alpha
    return x.clamp(0.0, 1.0), -torch.log(density)


def n_transform_params(n_bins: int) -> int:
    """Number of conditioner outputs per dimension: K widths and K+1 heights."""
    return 2 * n_bins + 1


def split_params(theta: torch.Tensor, n_bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split conditioner output (..., 2K+1) into (widths (..., K), heights (..., K+1))."""
    return theta[..., :n_bins], theta[..., n_bins:]
