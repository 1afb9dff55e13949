"""Moved to :mod:`spectuner_nb.policy.training.train`; importable here for one release."""

import sys
import warnings

from .training import train as _moved

warnings.warn(
    "spectuner_nb.policy.train moved to spectuner_nb.policy.training.train",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved
