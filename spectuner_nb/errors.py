"""Exceptions raised by spectuner_nb.

Every error the package raises on purpose derives from :class:`SpectunerError`,
so callers can catch them all with one ``except`` clause. Messages name the
file, species or value at fault.
"""

from __future__ import annotations

__all__ = [
    "SpectunerError",
    "ConfigurationError",
    "CatalogError",
    "CatalogFormatError",
    "SpeciesNotFoundError",
    "CacheCorruptError",
    "OfflineError",
    "ModelInputError",
    "ObservationError",
    "FitError",
    "CheckpointError",
    "CubeError",
    "CubeReadError",
    "ResultsError",
    "IncompleteResultError",
    "MolfitError",
    "TaskParameterError",
]


class SpectunerError(Exception):
    """Base class of every error raised by spectuner_nb."""


class ConfigurationError(SpectunerError):
    """A setting or environment variable is missing or invalid."""


class CatalogError(SpectunerError):
    """Problem with spectroscopic catalog data."""


class CatalogFormatError(CatalogError):
    """A catalog file cannot be parsed (names the file and line)."""


class SpeciesNotFoundError(CatalogError, KeyError):
    """A species name or tag is unknown to the resolver or the cache."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CacheCorruptError(CatalogError):
    """The SQLite transition cache is unreadable; the message says how to rebuild it."""


class CacheAccessError(CatalogError):
    """The SQLite transition cache is intact but cannot be used as asked (see subclasses)."""


class CacheReadOnlyError(CacheAccessError):
    """The transition cache cannot be written (write-protected file or read-only file system)."""


class CacheBusyError(CacheAccessError):
    """Another process held the transition cache's write lock for longer than the timeout."""


class OfflineError(CatalogError):
    """A network service could not be reached; the message names offline options."""


class ModelInputError(SpectunerError, ValueError):
    """Invalid input to the LTE model or the losses (shapes, NaNs, units)."""


class ObservationError(SpectunerError, ValueError):
    """Invalid observed data (frequencies, intensities, beam, rms, units)."""


class FitError(SpectunerError):
    """A fit could not be set up or run."""


class NothingToFitError(FitError):
    """The data leave a fit nothing to fit: no line of the species in the windows,
    intensities no LTE model within the bounds can reach, absorption without continuum."""


class IdentificationError(SpectunerError):
    """A line identification cannot run: no candidates, unknown names, a foreign workdir."""


class CheckpointError(SpectunerError):
    """A policy checkpoint is missing, malformed or incompatible."""


class CubeError(SpectunerError):
    """Problem loading, preprocessing or fitting a cube."""


class CubeReadError(CubeError, ObservationError):
    """A cube file cannot be read: missing, not FITS or a CASA image, truncated, no spectral
    axis in MHz, no beam, no brightness unit (names the file)."""


class WorkdirBusyError(CubeError):
    """A work directory (cube fit or identification) is locked by another running process."""


class ResultsError(SpectunerError):
    """A results directory or file is inconsistent or cannot be written."""


class IncompleteResultError(ResultsError):
    """A result folder is incomplete (a write interrupted before its index was written) or
    mixes files of two results (a file differs from the SHA-256 its index lists)."""


class MolfitError(SpectunerError, ValueError):
    """An XCLASS molfit file cannot be read or written."""


class TaskParameterError(SpectunerError, ValueError):
    """A CASA-style task was called with invalid parameters."""
