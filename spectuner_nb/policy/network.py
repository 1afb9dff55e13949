"""The policy network: a set encoder over transitions and spectrum patches, and a flow decoder.

Encoder (docs/method.md §5): each transition is a token (embedded features); the
observed spectrum around it, on a fixed velocity grid, is cut into patches
(ViT patching) that, within each transition, attend together with the
transition token ("patch-level" attention queried by that token). Then the
transition tokens plus a global [CLS] token attend to each other
("sequence-level"), with padding masks and no positional embeddings.
Decoder: the autoregressive flow of :mod:`.flow`, conditioned on [CLS].
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..parameters import TABLE1_BOUNDS
from .config import N_SPECTRUM_FEATURES, N_TRANSITION_FEATURES, PolicyConfig
from .flow import AutoregressiveFlow
from .layers import Block, RMSNorm

__all__ = ["EncoderBlock", "PolicyNetwork", "count_parameters"]


class EncoderBlock(nn.Module):
    """Patch-level layers per transition, then sequence-level layers over transitions."""

    def __init__(self, cfg: PolicyConfig):
        super().__init__()
        self.patch_layers = nn.ModuleList(
            Block(cfg.dim, cfg.n_heads, cfg.mlp_hidden) for _ in range(cfg.n_patch_layers)
        )
        self.sequence_layers = nn.ModuleList(
            Block(cfg.dim, cfg.n_heads, cfg.mlp_hidden) for _ in range(cfg.n_sequence_layers)
        )

    def forward(self, cls, trans, patches, mask):
        """cls (B, d), trans (B, T, d), patches (B, T, P, d), mask (B, T) True = real.

        Patch-level layers run on the real transitions only (padding never
        reaches [CLS]: it is masked out of the sequence-level keys).
        """
        real = mask.nonzero(as_tuple=True)
        t, p = trans[real], patches[real]
        for layer in self.patch_layers:
            tokens = layer(torch.cat([t.unsqueeze(-2), p], dim=-2))
            t, p = tokens[..., 0, :], tokens[..., 1:, :]
        trans, patches = trans.index_put(real, t), patches.index_put(real, p)
        seq = torch.cat([cls.unsqueeze(-2), trans], dim=-2)
        keep = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=-1)
        attn_mask = keep[:, None, :]
        for layer in self.sequence_layers:
            seq = layer(seq, mask=attn_mask)
        return seq[:, 0], seq[:, 1:], patches


class PolicyNetwork(nn.Module):
    """Encoder + flow decoder; ``log_prob`` and ``sample`` over fit-space parameters."""

    def __init__(self, cfg: PolicyConfig, bounds: np.ndarray = TABLE1_BOUNDS):
        super().__init__()
        self.cfg = cfg
        self._bounds = np.array(bounds, dtype=float)
        d = cfg.dim
        self.trans_embed = nn.Linear(N_TRANSITION_FEATURES, d)
        self.patch_embed = nn.Linear(cfg.patch_len * N_SPECTRUM_FEATURES, d)
        self.patch_position = nn.Parameter(torch.randn(cfg.n_patches, d) * 0.02)
        self.cls = nn.Parameter(torch.randn(d) * 0.02)
        self.blocks = nn.ModuleList(EncoderBlock(cfg) for _ in range(cfg.n_encoder_blocks))
        self.norm = RMSNorm(d)
        self.flow = AutoregressiveFlow(
            d, cfg.n_heads, cfg.mlp_hidden, cfg.n_decoder_blocks, bounds, cfg.n_bins
        )

    def encode(
        self, transitions: torch.Tensor, spectra: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Context (B, d) from transitions (B, T, F_t), spectra (B, T, G, F_s), mask (B, T)."""
        b, t = transitions.shape[:2]
        trans = self.trans_embed(transitions)
        patches = spectra.reshape(b, t, self.cfg.n_patches, -1)
        patches = self.patch_embed(patches) + self.patch_position
        cls = self.cls.expand(b, -1)
        for block in self.blocks:
            cls, trans, patches = block(cls, trans, patches, mask)
        return self.norm(cls)

    def bounds(self) -> np.ndarray:
        """(5, 2) fit-space bounds of the flow (float64, as given)."""
        return self._bounds.copy()

    def log_prob(self, context: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x | context) for fit-space x (B, n, 5) and context (B, d) → (B, n)."""
        ctx = context.unsqueeze(-2).expand(*x.shape[:-1], context.shape[-1])
        return self.flow.log_prob(x, ctx)

    def sample(self, context: torch.Tensor, n: int, generator: torch.Generator | None = None):
        """``n`` samples per context: (x (B, n, 5), log p (B, n))."""
        return self.flow.sample(context, n, generator)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
