"""Loading the policy checkpoint in use, with the identity of its weights.

The checkpoint is the directory named by ``$SPECTUNER_NB_POLICY_CHECKPOINT`` when set,
else the one shipped with the package. :meth:`Policy.load` caches it per process, so
calling :func:`load_policy` once per fit or per task costs nothing after the first call.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..digests import policy_digest
from ..errors import CheckpointError

__all__ = ["CHECKPOINT_ENV", "checkpoint_dir", "load_policy", "policy_available"]

CHECKPOINT_ENV = "SPECTUNER_NB_POLICY_CHECKPOINT"
"""Environment variable naming a checkpoint directory to use instead of the shipped one."""


def checkpoint_dir() -> Path:
    """The checkpoint directory in use (``$SPECTUNER_NB_POLICY_CHECKPOINT`` or the shipped one)."""
    from .checkpoint import default_checkpoint_dir

    return Path(os.environ.get(CHECKPOINT_ENV) or default_checkpoint_dir())


def load_policy(*, required: bool = False):
    """The policy in use and the digest of its weights: ``(Policy, digest)``
    (:func:`~spectuner_nb.digests.policy_digest`, the identity resumable runs store).

    When no checkpoint loads (missing, malformed, torch absent) this returns
    ``(None, None)``, or raises :class:`~spectuner_nb.errors.CheckpointError` naming the
    directory and the cause when ``required``.
    """
    directory = checkpoint_dir()
    try:
        from .policy import Policy

        policy = Policy.load(directory)
        digest = policy_digest(policy)
    except (ImportError, AttributeError, CheckpointError, OSError) as exc:
        if required:
            raise CheckpointError(
                f"no policy checkpoint can be loaded from {directory} ({exc}); use "
                "init='random' (or init='auto', which falls back to random starts)"
            ) from exc
        return None, None
    return policy, digest


def policy_available() -> bool:
    """True when the policy checkpoint in use can be loaded."""
    return load_policy()[0] is not None
