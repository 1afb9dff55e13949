"""Moved to :mod:`spectuner_nb.policy.training.augment`; importable here for one release."""

import sys
import warnings

from .training import augment as _moved

warnings.warn(
    "spectuner_nb.policy.augment moved to spectuner_nb.policy.training.augment",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved
