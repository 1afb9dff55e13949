"""Moved to :mod:`spectuner_nb.policy.training.dataset`; importable here for one release."""

import sys
import warnings

from .training import dataset as _moved

warnings.warn(
    "spectuner_nb.policy.dataset moved to spectuner_nb.policy.training.dataset",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved
