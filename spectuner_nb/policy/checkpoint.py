"""Policy checkpoints: safetensors weights + a JSON config. No pickle anywhere.

A checkpoint is a directory holding ``weights.safetensors`` and ``config.json``
(format version, architecture, feature normalisation, parameter bounds and
free-form training metadata). Loading checks the version, the bounds and every
tensor's name and shape, and raises :class:`CheckpointError` with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import CheckpointError
from ..settings import package_data_dir
from .config import PolicyConfig
from .features import FeatureNorm
from .network import PolicyNetwork

__all__ = [
    "FORMAT_VERSION",
    "WEIGHTS_FILE",
    "CONFIG_FILE",
    "default_checkpoint_dir",
    "save_checkpoint",
    "read_config",
    "load_checkpoint",
]

FORMAT_VERSION: int = 1
"""Checkpoint format version written and accepted."""
WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "config.json"


def default_checkpoint_dir() -> Path:
    """The shipped checkpoint directory inside the package."""
    return package_data_dir() / "policy"


def save_checkpoint(
    path: str | Path,
    network: PolicyNetwork,
    norm: FeatureNorm,
    metadata: dict | None = None,
) -> Path:
    """Write ``network`` and its normalisation to directory ``path`` (created); return it."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().clone() for k, v in network.state_dict().items()}
    tmp = path / (WEIGHTS_FILE + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(path / WEIGHTS_FILE)
    config = {
        "format_version": FORMAT_VERSION,
        "architecture": network.cfg.to_dict(),
        "feature_norm": norm.to_dict(),
        "bounds": network.bounds().tolist(),
        "metadata": metadata or {},
    }
    tmp = path / (CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(config, indent=1))
    tmp.replace(path / CONFIG_FILE)
    return path


def read_config(path: str | Path) -> dict:
    """The validated JSON config of a checkpoint directory."""
    file = Path(path) / CONFIG_FILE
    if not file.is_file():
        raise CheckpointError(f"no policy checkpoint at {path} (missing {CONFIG_FILE})")
    try:
        config = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{file} is not valid JSON: {exc}") from exc
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{file}: checkpoint format version {version!r}, this code reads {FORMAT_VERSION}"
        )
    for key in ("architecture", "feature_norm", "bounds"):
        if key not in config:
            raise CheckpointError(f"{file}: missing key {key!r}")
    return config


def load_checkpoint(path: str | Path | None = None) -> tuple[PolicyNetwork, FeatureNorm, dict]:
    """(network in eval mode, feature normalisation, config) from a checkpoint directory."""
    path = default_checkpoint_dir() if path is None else Path(path)
    config = read_config(path)
    cfg = PolicyConfig.from_dict(config["architecture"])
    bounds = np.asarray(config["bounds"], dtype=float)
    if bounds.shape != (5, 2) or not np.all(bounds[:, 1] > bounds[:, 0]):
        raise CheckpointError(f"{path}: bounds must be (5, 2) with upper > lower, got {bounds}")
    norm = FeatureNorm.from_dict(config["feature_norm"])
    network = PolicyNetwork(cfg, bounds)
    weights = Path(path) / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"no weights at {weights}")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{weights} is not a readable safetensors file: {exc}") from exc
    expected = network.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise CheckpointError(f"{weights}: missing tensors {missing[:5]}, unexpected {extra[:5]}")
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise CheckpointError(
                f"{weights}: tensor {name} has shape {tuple(tensor.shape)}, "
                f"the config implies {tuple(expected[name].shape)}"
            )
    network.load_state_dict(tensors)
    network.eval()
    return network, norm, config
