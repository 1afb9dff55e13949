"""Partition functions Q(T): a tabulated function with log-log interpolation.

docs/method.md §1: interpolate log10 Q against log10 T; beyond the table, extrapolate
with the power law through the two outermost nodes and flag it. Missing table
values (NaN, ``---``) are gaps and are dropped, never taken as zeros.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import CatalogError

__all__ = ["PartitionFunction"]


@dataclass(frozen=True)
class PartitionFunction:
    """A partition-function table.

    Attributes
    ----------
    temperature
        Node temperatures in K, strictly ascending, all > 0.
    q
        Q at those temperatures (dimensionless, > 0).
    """

    temperature: np.ndarray
    q: np.ndarray
    _log_t: np.ndarray = field(init=False, repr=False, compare=False)
    _log_q: np.ndarray = field(init=False, repr=False, compare=False)

    @classmethod
    def from_table(cls, temperature, q, *, name: str = "?") -> PartitionFunction:
        """Build from possibly unsorted nodes with gaps (NaN, ≤ 0 or non-finite are dropped).

        ``name`` (species or file) is used in error messages.
        """
        t = np.asarray(temperature, dtype=float).ravel()
        v = np.asarray(q, dtype=float).ravel()
        if t.shape != v.shape:
            raise CatalogError(
                f"partition function of {name}: {t.size} temperatures, {v.size} values"
            )
        ok = np.isfinite(t) & np.isfinite(v) & (t > 0) & (v > 0)
        t, v = t[ok], v[ok]
        order = np.argsort(t)
        t, v = t[order], v[order]
        keep = np.concatenate([[True], np.diff(t) > 0])
        t, v = t[keep], v[keep]
        if t.size < 2:
            raise CatalogError(
                f"partition function of {name}: fewer than two usable nodes after dropping gaps"
            )
        t.setflags(write=False)
        v.setflags(write=False)
        return cls(t, v)

    @classmethod
    def from_log10(cls, temperature, log10_q, *, name: str = "?") -> PartitionFunction:
        """Build from log10 Q values (as CDMS/JPL tabulate them)."""
        return cls.from_table(temperature, 10.0 ** np.asarray(log10_q, dtype=float), name=name)

    def __post_init__(self) -> None:
        # log10 nodes, computed once (Q is evaluated at every model call)
        object.__setattr__(self, "_log_t", np.log10(self.temperature))
        object.__setattr__(self, "_log_q", np.log10(self.q))

    def __call__(self, T) -> np.ndarray:
        """Q at temperature(s) ``T`` in K (log-log interpolation, power-law extrapolation)."""
        logt = np.log10(np.asarray(T, dtype=float))
        lt = self._log_t
        lq = self._log_q
        out = np.interp(logt, lt, lq)
        hi = logt > lt[-1]
        lo = logt < lt[0]
        if hi.any():
            slope = (lq[-1] - lq[-2]) / (lt[-1] - lt[-2])
            out = np.where(hi, lq[-1] + slope * (logt - lt[-1]), out)
        if lo.any():
            slope = (lq[1] - lq[0]) / (lt[1] - lt[0])
            out = np.where(lo, lq[0] + slope * (logt - lt[0]), out)
        return 10.0**out

    def log_slope(self, T) -> np.ndarray:
        """d ln Q / d ln T at temperature(s) ``T`` in K: the slope of the log-log segment
        holding T (of the outermost segment beyond the table), exact for this interpolant."""
        logt = np.log10(np.asarray(T, dtype=float))
        lt = self._log_t
        seg = np.clip(np.searchsorted(lt, logt, side="right") - 1, 0, lt.size - 2)
        return (self._log_q[seg + 1] - self._log_q[seg]) / (lt[seg + 1] - lt[seg])

    def is_extrapolated(self, T) -> np.ndarray:
        """True where ``T`` (K) lies outside the tabulated range."""
        t = np.asarray(T, dtype=float)
        return (t < self.temperature[0]) | (t > self.temperature[-1])

    def log_grid(self, n: int = 256, t_min: float = 1.0, t_max: float = 1000.0):
        """(T, Q) on ``n`` log-spaced temperatures, for fast lookups in compiled code."""
        t = np.geomspace(t_min, t_max, n)
        return t, self(t)
