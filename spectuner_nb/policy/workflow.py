"""Moved to :mod:`spectuner_nb.policy.training.workflow`; importable here for one release."""

import sys
import warnings

from .training import workflow as _moved

warnings.warn(
    "spectuner_nb.policy.workflow moved to spectuner_nb.policy.training.workflow",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved
