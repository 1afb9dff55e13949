"""Policy architecture configurations (the size is configuration, not code)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..errors import CheckpointError

__all__ = [
    "PARTITION_TEMPERATURES_K",
    "N_TRANSITION_FEATURES",
    "N_SPECTRUM_FEATURES",
    "PolicyConfig",
    "CONFIGS",
    "get_config",
]

PARTITION_TEMPERATURES_K: tuple[float, ...] = (
    2.725,
    5.0,
    9.375,
    18.75,
    37.5,
    75.0,
    150.0,
    225.0,
    300.0,
    500.0,
    1000.0,
)
"""Temperatures (K) at which Q(T) enters the transition features (the CDMS table nodes)."""

N_TRANSITION_FEATURES: int = 4 + len(PARTITION_TEMPERATURES_K)
"""log10 A_ul, log10 g_u, asinh E_low, asinh E_up, asinh Q(T) at the table temperatures."""
N_SPECTRUM_FEATURES: int = 8
"""v/200, asinh T, peak flag, out-of-window flag, grid/channel ratio, asinh T_c, asinh rms, beam."""


@dataclass(frozen=True)
class PolicyConfig:
    """Sizes of the policy network and of its inputs.

    Attributes
    ----------
    dim, n_heads, mlp_hidden
        Embedding width, attention heads and SwiGLU hidden width.
    n_encoder_blocks
        Encoder blocks; each has ``n_patch_layers`` spectrum-patch layers (per
        transition, queried by the transition token) and ``n_sequence_layers``
        layers over the set of transitions.
    n_decoder_blocks
        Masked-transformer blocks of the flow conditioner.
    n_bins
        Bins of each piecewise-quadratic transform.
    n_grid, n_patches, velocity_span_kms
        Velocity grid per transition (points, patches, full span in km/s).
    max_transitions
        Largest number of transitions fed to the encoder (seeded subsampling).
    """

    dim: int = 96
    n_heads: int = 4
    mlp_hidden: int = 256
    n_encoder_blocks: int = 2
    n_patch_layers: int = 1
    n_sequence_layers: int = 1
    n_decoder_blocks: int = 1
    n_bins: int = 32
    n_grid: int = 256
    n_patches: int = 8
    velocity_span_kms: float = 200.0
    max_transitions: int = 24

    def __post_init__(self) -> None:
        if self.n_grid % self.n_patches:
            raise CheckpointError(f"n_grid {self.n_grid} is not divisible by n_patches")
        if self.dim % self.n_heads:
            raise CheckpointError(f"dim {self.dim} is not divisible by n_heads {self.n_heads}")

    @property
    def patch_len(self) -> int:
        """Grid points per patch."""
        return self.n_grid // self.n_patches

    def to_dict(self) -> dict:
        """JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PolicyConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`CheckpointError`."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise CheckpointError(f"unknown policy config keys: {sorted(unknown)}")
        return cls(**data)


CONFIGS: dict[str, PolicyConfig] = {
    "paper": PolicyConfig(
        dim=768,
        n_heads=8,
        mlp_hidden=2048,
        n_encoder_blocks=2,
        n_patch_layers=4,
        n_sequence_layers=2,
        n_decoder_blocks=1,
        n_grid=1920,
        max_transitions=64,
    ),
    "small": PolicyConfig(),
    "tiny": PolicyConfig(dim=32, n_heads=2, mlp_hidden=64, n_grid=64, max_transitions=8),
}
"""Named configurations: ``paper`` (Qiu et al. size), ``small`` (shipped, CPU), ``tiny`` (tests)."""


def get_config(name: str) -> PolicyConfig:
    """A named configuration (``paper``, ``small``, ``tiny``)."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise CheckpointError(f"unknown policy config {name!r}; known: {sorted(CONFIGS)}") from None
