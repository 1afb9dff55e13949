"""Prioritised replay buffer of docs/method.md §6: one priority queue per entry.

An entry is (dataset, pixel, species, augmentation), named by a string key.
Its queue keeps the ``capacity`` best actions seen so far (fit-space
parameters), where lower peak-matching loss means higher priority.
Saved without pickle: a safetensors file of arrays plus the key order in JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from ...errors import CheckpointError

__all__ = ["QUEUE_SIZE", "ReplayBuffer"]

QUEUE_SIZE: int = 32
"""Actions kept per entry (paper)."""


class ReplayBuffer:
    """Per-entry queues of the lowest-loss actions."""

    def __init__(self, capacity: int = QUEUE_SIZE):
        self.capacity = int(capacity)
        self._x: dict[str, np.ndarray] = {}
        self._loss: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._x)

    def __contains__(self, key: str) -> bool:
        return key in self._x

    def keys(self) -> list[str]:
        """Entry keys in insertion order."""
        return list(self._x)

    def push(self, key: str, x: np.ndarray, loss: np.ndarray) -> None:
        """Offer actions ``x`` (n, 5) with losses (n,); keep the ``capacity`` lowest."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, 5)
        loss = np.asarray(loss, dtype=np.float64).ravel()
        ok = np.isfinite(loss)
        x, loss = x[ok], loss[ok]
        if key in self._x:
            x = np.concatenate([self._x[key], x])
            loss = np.concatenate([self._loss[key], loss])
        if loss.size == 0:
            return
        order = np.argsort(loss, kind="stable")[: self.capacity]
        self._x[key], self._loss[key] = x[order], loss[order]

    def get(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(actions (m, 5), losses (m,)) of one entry, best first."""
        return self._x[key], self._loss[key]

    def best_loss(self, key: str) -> float:
        """Lowest loss seen for ``key``."""
        return float(self._loss[key][0])

    def sample_keys(self, n: int, rng: np.random.Generator) -> list[str]:
        """``n`` entry keys drawn uniformly (with replacement when needed)."""
        keys = self.keys()
        if not keys:
            return []
        idx = rng.choice(len(keys), size=n, replace=n > len(keys))
        return [keys[i] for i in idx]

    def save(self, path: str | Path) -> None:
        """Write ``path``.safetensors and ``path``.json (atomic replace)."""
        path = Path(path)
        keys = self.keys()
        arrays = {}
        for i, k in enumerate(keys):
            arrays[f"x.{i}"] = np.ascontiguousarray(self._x[k])
            arrays[f"loss.{i}"] = np.ascontiguousarray(self._loss[k])
        tensors = path.with_suffix(".safetensors")
        tmp = tensors.with_name(tensors.name + ".tmp")
        if arrays:
            save_file(arrays, str(tmp))
            tmp.replace(tensors)
        meta = path.with_suffix(".json")
        meta.with_name(meta.name + ".tmp").write_text(
            json.dumps({"capacity": self.capacity, "keys": keys})
        )
        meta.with_name(meta.name + ".tmp").replace(meta)

    @classmethod
    def load(cls, path: str | Path) -> ReplayBuffer:
        """Read a buffer written by :meth:`save`."""
        path = Path(path)
        try:
            meta = json.loads(path.with_suffix(".json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"cannot read replay buffer {path}: {exc}") from exc
        buf = cls(meta["capacity"])
        if meta["keys"]:
            arrays = load_file(str(path.with_suffix(".safetensors")))
            for i, k in enumerate(meta["keys"]):
                buf._x[k], buf._loss[k] = arrays[f"x.{i}"], arrays[f"loss.{i}"]
        return buf
