"""Spectroscopic data: readers, species names, the SQLite transition cache."""

from .build import ensure_full_catalog
from .cache import DEFAULT_PRECEDENCE, SpeciesEntry, TransitionCache
from .linelist import LineList
from .names import family, resolve, spellings
from .partfunc import partition_for_tag
from .partition import PartitionFunction
from .spcat import read_spcat
from .starter import default_cache

__all__ = [
    "DEFAULT_PRECEDENCE",
    "LineList",
    "PartitionFunction",
    "SpeciesEntry",
    "TransitionCache",
    "default_cache",
    "ensure_full_catalog",
    "family",
    "partition_for_tag",
    "read_spcat",
    "resolve",
    "spellings",
]
