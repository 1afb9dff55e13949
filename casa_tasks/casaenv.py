"""Make casatools importable offline, without downloads and without log files in the cwd.

casatools refuses to import without measures data and, left to itself, tries
to download them. The PyPI package ``casadata`` ships them. When the user has
not named a site configuration (environment variable ``CASASITECONFIG``), this
module writes one into ``<cache>/casa/casasiteconfig.py`` that points CASA at
casadata, switches every automatic update off and sends the CASA log to
``<cache>/casa/casa.log``. A site configuration set by the user always wins.

casatools creates its default log file (``casa-<date>.log``, a relative name)
in the current directory at import time, whatever ``nologfile`` says; the
import therefore runs from ``<cache>/casa`` so relative log names land there.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from spectuner_nb.errors import ConfigurationError
from spectuner_nb.settings import cache_dir

__all__ = [
    "SITE_CONFIG_NAME",
    "casa_dir",
    "casatools_installed",
    "casatasks_installed",
    "ensure_site_config",
    "prepare",
    "working_directory",
    "casatools",
    "casatasks",
]

SITE_CONFIG_NAME = "casasiteconfig.py"

_SITE_CONFIG = """\
# CASA site configuration written by spectuner_nb (casa_tasks/casaenv.py).
# Measures data come from the casadata PyPI package; CASA never downloads anything.
import casadata

measurespath = casadata.datapath
measures_auto_update = False
data_auto_update = False
nologfile = True
logfile = {logfile!r}
"""


def casa_dir() -> Path:
    """``<cache>/casa``: the generated site configuration and CASA's log file (created)."""
    path = cache_dir() / "casa"
    path.mkdir(parents=True, exist_ok=True)
    return path


def casatools_installed() -> bool:
    """True when the casatools package is installed (nothing is imported)."""
    return "casatools" in sys.modules or importlib.util.find_spec("casatools") is not None


def casatasks_installed() -> bool:
    """True when the casatasks package is installed (nothing is imported)."""
    return "casatasks" in sys.modules or importlib.util.find_spec("casatasks") is not None


def ensure_site_config() -> Path:
    """Path of the CASA site configuration in effect, writing ours when none is set.

    Sets ``CASASITECONFIG`` for this process when the user has not. Raises
    :class:`ConfigurationError` when the user's file is missing, or when no
    configuration is set and casadata (the offline measures data) is absent.
    """
    env = os.environ.get("CASASITECONFIG")
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ConfigurationError(f"CASASITECONFIG names a missing file: {path}")
        return path
    if importlib.util.find_spec("casadata") is None:
        raise ConfigurationError(
            "casatools needs measures data and spectuner_nb never downloads them: "
            "`pip install casadata`, or set CASASITECONFIG to your own CASA site configuration"
        )
    path = casa_dir() / SITE_CONFIG_NAME
    text = _SITE_CONFIG.format(logfile=str(casa_dir() / "casa.log"))
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    os.environ["CASASITECONFIG"] = str(path)
    return path


def prepare() -> None:
    """Set ``CASASITECONFIG`` to our offline configuration if CASA is not configured yet.

    Called when :mod:`spectuner_nb.casa_tasks` is imported, so that a later
    ``import casatasks`` by the user also works offline. Does nothing when
    casatools is already imported, when the user set ``CASASITECONFIG``, or when
    casadata is absent (the error then comes when CASA is first needed).
    """
    if "casatools" in sys.modules or os.environ.get("CASASITECONFIG"):
        return
    if importlib.util.find_spec("casadata") is not None:
        ensure_site_config()


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """Run the block from ``path``: CASA drops scratch files (TempLattice*) in the cwd."""
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _import_offline(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    ensure_site_config()
    with working_directory(casa_dir()):
        return importlib.import_module(name)


def casatools() -> ModuleType:
    """The casatools module, imported offline (see the module docstring).

    Raises :class:`ConfigurationError` when casatools is not installed.
    """
    if not casatools_installed():
        raise ConfigurationError(
            "casatools is not installed: `pip install spectuner_nb[casa]` "
            "(casatools==6.7.0.31, casatasks, casadata)"
        )
    return _import_offline("casatools")


def casatasks() -> ModuleType:
    """The casatasks module, imported offline. Raises :class:`ConfigurationError` if absent."""
    if not casatasks_installed():
        raise ConfigurationError(
            "casatasks is not installed: `pip install spectuner_nb[casa]` "
            "(casatools==6.7.0.31, casatasks, casadata)"
        )
    casatools()
    return _import_offline("casatasks")
