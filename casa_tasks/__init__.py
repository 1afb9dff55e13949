"""CASA-style tasks of spectuner_nb: thin adapters over the engine.

``spectunerfit`` (fit a MeasurementSet or cubes), ``spectunerid`` (identify the
species of a MeasurementSet or cubes and map them jointly), ``spectunerpredict`` (model
spectra/cubes on a grid) and ``spectunerprep`` (cube preprocessing). Each task
has flat, lowercase, typed parameters described in ``<task>.xml`` (buildmytasks
format), logs to casalog with its name as origin when casatools is present,
checks every parameter before it writes anything, and returns a dict.
casatools is imported offline through :mod:`.casaenv`; importing this package
sets ``CASASITECONFIG`` (when unset) so a later ``import casatasks`` works offline too.
"""

from . import casaenv
from .spectunerfit import spectunerfit
from .spectunerid import spectunerid
from .spectunerpredict import spectunerpredict
from .spectunerprep import spectunerprep

casaenv.prepare()

TASKS = ("spectunerfit", "spectunerid", "spectunerpredict", "spectunerprep")
"""Task names; each has a module and an XML definition of the same name."""

__all__ = ["TASKS", "spectunerfit", "spectunerid", "spectunerpredict", "spectunerprep"]
