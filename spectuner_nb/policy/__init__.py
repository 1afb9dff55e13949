"""The transformer + normalizing-flow policy that proposes initial parameters.

``Policy.load()`` gives the checkpoint shipped with the package; see
:mod:`.network` (architecture), :mod:`.flow` (decoder), :mod:`.features`
(inputs), :mod:`.checkpoint` and :mod:`.loader` (the checkpoint in use); training
lives in :mod:`.training`. The names below are loaded on first use, so that
importing :mod:`.loader` (as the fitting layer's start strategies do) costs no torch
import until a policy is actually loaded.
"""

from __future__ import annotations

import importlib

_LAZY: dict[str, str] = {"Policy": ".policy", "PolicyConfig": ".config", "get_config": ".config"}
"""Public name → submodule that defines it (imported on first access)."""

__all__ = list(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
