"""SpeciesPicker: search the transition cache and pick species for an observation.

For every species the picker lists how many of its catalog lines fall inside
the observed windows and how many observed peaks (engine peak finder,
docs/method.md §3) have a line within reach of the velocity-offset bound of
Table 1, so the likely carriers of the emission come first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spectuner_nb.constants import C_KM_S
from spectuner_nb.errors import SpectunerError
from spectuner_nb.losses import find_peak_spans
from spectuner_nb.parameters import V_OFF_MAX_KMS

from .display import Component

__all__ = [
    "SpeciesSummary", "observed_peak_ranges", "explained_peaks", "summarise", "matches",
    "SpeciesPicker",
]


@dataclass(frozen=True)
class SpeciesSummary:
    """What one species could do for an observation.

    Attributes
    ----------
    species
        Canonical name.
    n_lines
        Catalog lines inside the observed windows (rest frame).
    n_explained
        Observed peaks with at least one of those lines within ±V_OFF_MAX_KMS of the peak span.
    n_peaks
        Observed peaks in all windows.
    """

    species: str
    n_lines: int
    n_explained: int
    n_peaks: int

    @property
    def label(self) -> str:
        """One-line description for the selection list."""
        return (f"{self.species} — {self.n_lines} lines, explains "
                f"{self.n_explained}/{self.n_peaks} peaks")


def observed_peak_ranges(obs: Any) -> list[tuple[float, float]]:
    """Rest-frame frequency ranges (MHz) of the observed peaks of ``obs`` in all windows."""
    ranges: list[tuple[float, float]] = []
    for freq, spec, rms in zip(obs.rest_freqs, obs.intensities, obs.rms, strict=True):
        spans = find_peak_spans(spec, float(rms))
        channels = np.arange(freq.size, dtype=float)
        for left, right in np.asarray(spans, dtype=float).reshape(-1, 2):
            lo, hi = np.interp([left, right], channels, freq)
            ranges.append((float(min(lo, hi)), float(max(lo, hi))))
    return ranges


def explained_peaks(line_freqs: np.ndarray, peaks: Sequence[tuple[float, float]],
                    v_reach_kms: float = V_OFF_MAX_KMS) -> int:
    """Number of peak ranges (MHz) holding a line once shifted by at most ±``v_reach_kms``."""
    freqs = np.sort(np.asarray(line_freqs, dtype=float))
    n = 0
    for lo, hi in peaks:
        lo_reach = lo * (1.0 - v_reach_kms / C_KM_S)
        hi_reach = hi * (1.0 + v_reach_kms / C_KM_S)
        if np.searchsorted(freqs, hi_reach, "right") > np.searchsorted(freqs, lo_reach, "left"):
            n += 1
    return n


def summarise(catalog: Any, obs: Any, species: Sequence[str]) -> list[SpeciesSummary]:
    """:class:`SpeciesSummary` of each species for ``obs``, most explained peaks first."""
    peaks = observed_peak_ranges(obs)
    out = []
    for name in species:
        lines = catalog.lines(name, windows=obs.windows, pad_kms=0.0)
        out.append(SpeciesSummary(name, len(lines), explained_peaks(lines.freq, peaks),
                                  len(peaks)))
    out.sort(key=lambda s: (-s.n_explained, -s.n_lines, s.species))
    return out


def matches(query: str, names: Sequence[str]) -> list[str]:
    """Names matching ``query``: case-insensitive substring of the name or of its resolved
    canonical form (so "C2H5CN" finds "CH3CH2CN"); an empty query matches everything."""
    from spectuner_nb.catalog.names import resolve

    query = query.strip()
    if not query:
        return list(names)
    wanted = {query.lower()}
    try:
        wanted.add(resolve(query).lower())
    except SpectunerError:
        pass
    formulas = {w.split(";")[0].split(",")[0] for w in wanted}
    return [n for n in names
            if any(w in n.lower() for w in wanted) or n.lower().split(";")[0] in formulas]


class SpeciesPicker(Component):
    """Search box + multi-select list of species, annotated for one observation.

    Parameters
    ----------
    catalog
        A :class:`~spectuner_nb.catalog.cache.TransitionCache` (default: the user cache).
    obs
        The :class:`~spectuner_nb.observation.Observation` the annotations refer to
        (None: names only; call :meth:`set_observation` later).
    """

    def __init__(self, catalog: Any = None, obs: Any = None) -> None:
        import ipywidgets as ipw

        self.catalog = catalog
        self.all_species: list[str] = list(self.catalog.species())
        self.summaries: dict[str, SpeciesSummary] = {}
        self._callbacks: list[Callable[[list[str]], None]] = []
        self.search = ipw.Text(placeholder="name or formula, e.g. CH3OH or C2H5CN",
                               description="search", continuous_update=True)
        self.search.add_class("spectuner-species-search")
        self.select = ipw.SelectMultiple(options=[], rows=10, description="species",
                                         layout=ipw.Layout(width="420px"))
        self.select.add_class("spectuner-species-select")
        self.chosen = ipw.HTML("")
        self.chosen.add_class("spectuner-species-chosen")
        self.search.observe(lambda _c: self._refresh(), names="value")
        self.select.observe(self._on_select, names="value")
        self.widget = ipw.VBox([self.search, self.select, self.chosen])
        self.widget.add_class("spectuner-species-picker")
        self.set_observation(obs)

    @property
    def selected(self) -> list[str]:
        """The chosen species (canonical names)."""
        return list(self.select.value)

    def on_change(self, callback: Callable[[list[str]], None]) -> None:
        """Call ``callback(species)`` whenever the selection changes."""
        self._callbacks.append(callback)

    def set_observation(self, obs: Any) -> None:
        """Annotate the species for a new observation (keeps the selection)."""
        self.obs = obs
        self.summaries = ({} if obs is None else
                          {s.species: s for s in summarise(self.catalog, obs, self.all_species)})
        self._refresh()

    def choose(self, species: Sequence[str]) -> None:
        """Select ``species`` programmatically (names must be in the list)."""
        self.search.value = ""
        self.select.value = tuple(species)

    def _ordered(self, names: list[str]) -> list[str]:
        if not self.summaries:
            return sorted(names)
        rank = {s: i for i, s in enumerate(self.summaries)}
        return sorted(names, key=lambda n: rank.get(n, len(rank)))

    def _refresh(self) -> None:
        keep = tuple(self.select.value)
        names = self._ordered(matches(self.search.value, self.all_species))
        names += [n for n in keep if n not in names]
        options = [(self.summaries[n].label if n in self.summaries else n, n) for n in names]
        self.select.options = options
        self.select.value = tuple(n for n in keep if n in names)

    def _on_select(self, change: dict) -> None:
        chosen = list(change["new"])
        self.chosen.value = "chosen: " + (", ".join(chosen) if chosen else "none")
        for callback in self._callbacks:
            callback(chosen)
