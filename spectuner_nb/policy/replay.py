"""Moved to :mod:`spectuner_nb.policy.training.replay`; importable here for one release."""

import sys
import warnings

from .training import replay as _moved

warnings.warn(
    "spectuner_nb.policy.replay moved to spectuner_nb.policy.training.replay",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved
