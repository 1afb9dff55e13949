"""Autoregressive normalizing flow over the 5 Table-1 parameters.

Density model: each fit-space parameter x_i is mapped affinely to u_i ∈ [0, 1]
inside the Table-1 bounds, then through a piecewise-quadratic CDF (32 bins)
whose parameters depend on the context and on x_<i (a masked transformer
conditioner: one token per parameter, causal attention). The base distribution
is uniform on [0, 1]⁵, so log p(x) = Σ_i log CDF_i'(u_i) − Σ_i log(hi_i − lo_i),
exact. Sampling inverts the CDFs one parameter at a time.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .layers import Block, RMSNorm
from .transforms import n_transform_params, quadratic_forward, quadratic_inverse, split_params

__all__ = ["AutoregressiveFlow"]


class AutoregressiveFlow(nn.Module):
    """Conditional autoregressive flow with bounded piecewise-quadratic transforms.

    Parameters
    ----------
    dim, n_heads, mlp_hidden, n_blocks
        Size of the masked-transformer conditioner.
    bounds
        (n_params, 2) lower/upper bounds of each parameter (fit space, Table 1).
    n_bins
        Bins per piecewise-quadratic transform.
    """

    lower: torch.Tensor  # registered buffers, (n_params,)
    span: torch.Tensor
    causal: torch.Tensor
    has_previous: torch.Tensor

    def __init__(
        self,
        dim: int,
        n_heads: int,
        mlp_hidden: int,
        n_blocks: int,
        bounds: np.ndarray,
        n_bins: int = 32,
    ):
        super().__init__()
        limits = torch.as_tensor(np.asarray(bounds, dtype=np.float32))
        self.n_params = int(limits.shape[0])
        self.n_bins = n_bins
        self.register_buffer("lower", limits[:, 0].clone())
        self.register_buffer("span", (limits[:, 1] - limits[:, 0]).clone())
        self.param_tokens = nn.Parameter(torch.randn(self.n_params, dim) * 0.02)
        self.value_embed = nn.Linear(1, dim)
        self.blocks = nn.ModuleList(Block(dim, n_heads, mlp_hidden) for _ in range(n_blocks))
        self.norm = RMSNorm(dim)
        self.head = nn.Linear(dim, n_transform_params(n_bins))
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        causal = torch.tril(torch.ones(self.n_params, self.n_params, dtype=torch.bool))
        self.register_buffer("causal", causal)
        has_previous = (torch.arange(self.n_params) > 0).to(torch.float32).unsqueeze(-1)
        self.register_buffer("has_previous", has_previous)

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Fit-space parameters (..., n_params) → unit cube."""
        return (x - self.lower) / self.span

    def from_unit(self, u: torch.Tensor) -> torch.Tensor:
        """Unit cube → fit-space parameters (..., n_params)."""
        return self.lower + u * self.span

    def _conditioner(self, u: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Transform parameters (..., n_params, 2K+1); output i depends on u_<i only."""
        shifted = torch.cat([torch.zeros_like(u[..., :1]), u[..., :-1]], dim=-1)
        values = self.value_embed(2.0 * shifted.unsqueeze(-1) - 1.0) * self.has_previous
        tokens = self.param_tokens + values + context.unsqueeze(-2)
        for block in self.blocks:
            tokens = block(tokens, mask=self.causal)
        return self.head(self.norm(tokens))

    def log_prob(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Exact log-density of fit-space ``x`` (..., n_params) given ``context`` (..., dim)."""
        u = self.to_unit(x).clamp(0.0, 1.0)
        w, h = split_params(self._conditioner(u, context), self.n_bins)
        _, logdet = quadratic_forward(u, w, h)
        return logdet.sum(-1) - torch.log(self.span).sum()

    def sample(
        self, context: torch.Tensor, n: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` samples per context (..., dim): (x (..., n, n_params), log p (..., n)).

        Parameters are drawn one at a time; the conditioner keeps the attention
        keys/values of the earlier tokens (``Block.step``), so step i processes
        one token per sample instead of re-running the whole causal sequence.
        """
        ctx = context.unsqueeze(-2).expand(*context.shape[:-1], n, context.shape[-1])
        z = torch.rand(
            *ctx.shape[:-1],
            self.n_params,
            generator=generator,
            device=context.device,
            dtype=context.dtype,
        )
        caches: list[list[torch.Tensor]] = [[] for _ in self.blocks]
        u_cols, ld_cols = [], []
        previous = torch.zeros_like(z[..., :1])
        for i in range(self.n_params):
            token = self.param_tokens[i] + ctx
            if i > 0:
                token = token + self.value_embed(2.0 * previous - 1.0)
            for block, cache in zip(self.blocks, caches, strict=True):
                assert isinstance(block, Block)
                token = block.step(token, cache)
            w, h = split_params(self.head(self.norm(token)), self.n_bins)
            previous, ld = quadratic_inverse(z[..., i], w, h)
            previous = previous.unsqueeze(-1)
            u_cols.append(previous)
            ld_cols.append(-ld)
        u = torch.cat(u_cols, dim=-1)
        log_p = torch.stack(ld_cols, dim=-1).sum(-1) - torch.log(self.span).sum()
        return self.from_unit(u), log_p
