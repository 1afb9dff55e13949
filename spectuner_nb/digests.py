"""Identities of a run's inputs: SHA-256 digests of arrays, line lists and policy weights.

Resumable runs (cube fits, :mod:`spectuner_nb.cube.store`; identifications,
:mod:`spectuner_nb.identification.store`) store these with their results and refuse
to resume when one differs, so results of two inputs are never mixed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

__all__ = ["array_digest", "linelist_digest", "policy_digest", "update_with_array"]

DIGEST_CHARS = 16
"""Hex characters kept of a digest (64 bits)."""


def update_with_array(h: Any, arr: Any) -> None:
    """Feed an array (as float64, with its shape) into a ``hashlib`` object."""
    a = np.ascontiguousarray(np.asarray(arr, dtype=float))
    h.update(str(a.shape).encode())
    h.update(a.tobytes())


def array_digest(*arrays: Any, text: str = "") -> str:
    """Digest of ``text`` and the arrays' float64 values and shapes."""
    h = hashlib.sha256(text.encode())
    for a in arrays:
        update_with_array(h, a)
    return h.hexdigest()[:DIGEST_CHARS]


def linelist_digest(ll: Any) -> str:
    """Digest of a :class:`~spectuner_nb.catalog.LineList`: its species name, transitions
    (frequency, A_ul, E_low, E_up, g_u) and partition-function table."""
    return array_digest(
        ll.freq,
        ll.A_ul,
        ll.E_low,
        ll.E_up,
        ll.g_u,
        ll.partition.temperature,
        ll.partition.q,
        text=str(ll.species),
    )


def policy_digest(policy: Any) -> str:
    """Digest of a policy's network weights, input normalisation and configuration; of
    its class name for a start strategy without a network."""
    if not hasattr(policy, "network"):
        return array_digest(text=type(policy).__qualname__)
    state = policy.network.state_dict()
    arrays = [state[k].detach().cpu().numpy() for k in sorted(state)]
    return array_digest(
        *arrays,
        policy.norm.mean,
        policy.norm.std,
        text=json.dumps(policy.config, sort_keys=True, default=str),
    )
