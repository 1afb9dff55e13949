"""Run-time settings: where the shared data and the caches live.

Nothing here is an absolute path in the source. Each location can be set with
an environment variable:

``SPECTUNER_NB_SHARED_DATA``
    Directory holding the test/benchmark data (``catalogs/``, ``spectra/``).
    Default: ``../shared/data`` next to the repository checkout, if present.
``SPECTUNER_NB_CACHE_DIR``
    Directory of the SQLite transition cache and compiled kernels.
    Default: the user cache directory (``platformdirs``).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigurationError

__all__ = ["package_data_dir", "cache_dir", "shared_data_dir"]

_PACKAGE_DIR = Path(__file__).resolve().parent


def package_data_dir() -> Path:
    """Directory of data shipped inside the package (starter catalog, checkpoint)."""
    return _PACKAGE_DIR / "data"


def cache_dir() -> Path:
    """Directory for the transition cache and other per-user caches (created)."""
    env = os.environ.get("SPECTUNER_NB_CACHE_DIR")
    if env:
        path = Path(env).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("spectuner_nb"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_data_dir(required: bool = True) -> Path | None:
    """Directory of the shared test data (real catalogs and cubes).

    Parameters
    ----------
    required
        Raise :class:`ConfigurationError` when it cannot be found, instead of
        returning ``None``.
    """
    env = os.environ.get("SPECTUNER_NB_SHARED_DATA")
    candidates = [Path(env).expanduser()] if env else []
    candidates += [
        _PACKAGE_DIR.parent.parent / "shared" / "data",
        Path.cwd().parent / "shared" / "data",
    ]
    for path in candidates:
        if (path / "catalogs").is_dir():
            return path
    if required:
        raise ConfigurationError(
            "shared data directory not found: set SPECTUNER_NB_SHARED_DATA to the folder "
            "holding catalogs/ and spectra/ (tried: " + ", ".join(map(str, candidates)) + ")"
        )
    return None
