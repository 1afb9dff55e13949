"""Moved to :mod:`spectuner_nb.policy.training.recipe`; importable here for one release."""

import sys
import warnings

from .training import recipe as _moved

warnings.warn(
    "spectuner_nb.policy.recipe moved to spectuner_nb.policy.training.recipe",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved
