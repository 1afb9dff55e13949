"""The transformer + normalizing-flow policy that proposes initial parameters.

``Policy.load()`` gives the checkpoint shipped with the package; see
:mod:`.network` (architecture), :mod:`.flow` (decoder), :mod:`.features`
(inputs), :mod:`.train` (reinforcement learning) and :mod:`.checkpoint`.
"""

from .config import PolicyConfig, get_config
from .policy import Policy

__all__ = ["Policy", "PolicyConfig", "get_config"]
