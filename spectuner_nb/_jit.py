"""Where Numba keeps compiled kernels: outside site-packages, in the package cache.

Import this module before any module that defines ``cache=True`` kernels. It
sets ``NUMBA_CACHE_DIR`` to ``<spectuner_nb.settings.cache_dir()>/numba``
unless the user already set it (then that choice wins).
"""

from __future__ import annotations

import os
import sys

from .settings import cache_dir


def configure_cache() -> str:
    """Point Numba's on-disk cache at the package cache directory; return the path used."""
    path = os.environ.get("NUMBA_CACHE_DIR")
    if not path:
        path = str(cache_dir() / "numba")
        os.environ["NUMBA_CACHE_DIR"] = path
    if "numba" in sys.modules:  # numba read its config already: update it in place
        from numba.core import config

        config.CACHE_DIR = path
    return path


NUMBA_CACHE_DIR: str = configure_cache()
"""The directory holding compiled kernels for this process."""
