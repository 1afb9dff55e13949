"""Moved to :mod:`spectuner_nb.policy.training.evaluate`; importable here for one release."""

import sys
import warnings

from .training import evaluate as _moved

warnings.warn(
    "spectuner_nb.policy.evaluate moved to spectuner_nb.policy.training.evaluate",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved
