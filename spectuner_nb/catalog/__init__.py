"""Spectroscopic data: readers, species names, the SQLite transition cache."""

from .linelist import LineList
from .partition import PartitionFunction

__all__ = ["LineList", "PartitionFunction"]
