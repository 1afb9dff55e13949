"""spectuner_nb: LTE line fitting of interstellar molecules, Spectuner-D1 style."""

from .errors import SpectunerError

__version__ = "0.1.0"

__all__ = ["SpectunerError", "__version__"]
