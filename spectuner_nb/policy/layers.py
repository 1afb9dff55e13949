"""Transformer building blocks: RMS norm, SwiGLU MLP, multi-head attention, blocks.

Pre-norm residual blocks, no positional embeddings (inputs are sets unless the
caller adds its own token embeddings).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RMSNorm", "SwiGLU", "Attention", "Block"]


class RMSNorm(nn.Module):
    """Root-mean-square layer norm with a learned gain."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class SwiGLU(nn.Module):
    """SwiGLU MLP: W2 (silu(W1 x) * W3 x)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Attention(nn.Module):
    """Multi-head attention of queries ``x`` (..., Lq, d) over keys/values ``kv`` (..., Lk, d)."""

    def __init__(self, dim: int, n_heads: int):
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"dimension {dim} is not divisible by {n_heads} heads")
        self.n_heads = n_heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(dim, 2 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def forward(
        self, x: torch.Tensor, kv: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``mask`` broadcastable to (..., Lq, Lk), True where attention is allowed."""
        lead, lq, d = x.shape[:-2], x.shape[-2], x.shape[-1]
        lk = kv.shape[-2]
        h = self.n_heads
        q = self.q(x).reshape(*lead, lq, h, d // h).transpose(-2, -3)
        k, v = self.kv(kv).reshape(*lead, lk, 2, h, d // h).unbind(-3)
        k, v = k.transpose(-2, -3), v.transpose(-2, -3)
        if mask is not None:
            mask = mask.unsqueeze(-3)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(-2, -3).reshape(*lead, lq, d))

    def step(self, x: torch.Tensor, cache: list[torch.Tensor]) -> torch.Tensor:
        """Causal self-attention of one new token ``x`` (..., d) over the earlier ones.

        ``cache`` holds [keys, values] (..., heads, L, d/heads) of the earlier
        tokens (empty before the first call) and is extended in place, so a
        sequence of L calls equals :meth:`forward` with a causal mask, at the
        cost of one token per call (autoregressive sampling).
        """
        lead, d, h = x.shape[:-1], x.shape[-1], self.n_heads
        q = self.q(x).reshape(*lead, h, 1, d // h)
        k, v = self.kv(x).reshape(*lead, 2, h, 1, d // h).unbind(-4)
        if cache:
            k, v = torch.cat([cache[0], k], dim=-2), torch.cat([cache[1], v], dim=-2)
        cache[:] = [k, v]
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.reshape(*lead, d))


class Block(nn.Module):
    """Pre-norm block: (cross- or self-) attention then SwiGLU MLP, both residual."""

    def __init__(self, dim: int, n_heads: int, mlp_hidden: int):
        super().__init__()
        self.norm_q = RMSNorm(dim)
        self.norm_kv = RMSNorm(dim)
        self.attn = Attention(dim, n_heads)
        self.norm_mlp = RMSNorm(dim)
        self.mlp = SwiGLU(dim, mlp_hidden)

    def forward(
        self,
        x: torch.Tensor,
        kv: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Self-attention when ``kv`` is None, else cross-attention over ``kv``."""
        q = self.norm_q(x)
        src = q if kv is None else self.norm_kv(kv)
        x = x + self.attn(q, src, mask)
        return x + self.mlp(self.norm_mlp(x))

    def step(self, x: torch.Tensor, cache: list[torch.Tensor]) -> torch.Tensor:
        """One new token (..., d) of a causal self-attention sequence (see Attention.step)."""
        x = x + self.attn.step(self.norm_q(x), cache)
        return x + self.mlp(self.norm_mlp(x))
