"""SpeciesPicker: search the transition cache and pick species for an observation.

Species are listed alphabetically with the number of their catalog lines inside
the observed windows (an engine query). Which species explain the emission is
the line identification's answer (:mod:`spectuner_nb.identification`), not the picker's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from spectuner_nb.errors import SpectunerError

from .cubes import WidgetInputError
from .display import Component

__all__ = [
    "matches",
    "SpeciesPicker",
]


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
    return [
        n
        for n in names
        if any(w in n.lower() for w in wanted) or n.lower().split(";")[0] in formulas
    ]


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
        self.all_species: list[str] = sorted(self.catalog.species(), key=str.lower)
        self.n_lines: dict[str, int] = {}
        self._callbacks: list[Callable[[list[str]], None]] = []
        self.search = ipw.Text(
            placeholder="name or formula, e.g. CH3OH or C2H5CN",
            description="search",
            continuous_update=True,
        )
        self.search.add_class("spectuner-species-search")
        self.select = ipw.SelectMultiple(
            options=[], rows=10, description="species", layout=ipw.Layout(width="420px")
        )
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
        """Count each species' catalog lines in the windows of ``obs`` (keeps the selection);
        the windows, not the spectrum, matter, so a new pixel of the same cube costs nothing."""
        windows = None if obs is None else [tuple(round(v, 6) for v in w) for w in obs.windows]
        self.obs = obs
        if windows != getattr(self, "_windows", None):
            self._windows = windows
            self.n_lines = (
                {}
                if obs is None
                else {
                    n: len(self.catalog.lines(n, windows=obs.windows, pad_kms=0.0))
                    for n in self.all_species
                }
            )
            self._refresh()

    def resolve(self, name: str) -> str:
        """The list entry for ``name``: itself, or the entry the species resolver maps it to
        (so "CH3OH" picks "CH3OH;v=0;"); raises WidgetInputError when there is none."""
        from spectuner_nb.catalog.names import resolve

        if name in self.all_species:
            return name
        try:
            canonical = resolve(name)
        except SpectunerError as exc:
            raise WidgetInputError(f"unknown species {name!r}: {exc}") from exc
        if canonical in self.all_species:
            return canonical
        found = matches(name, self.all_species)
        if len(found) == 1:
            return found[0]
        raise WidgetInputError(
            f"species {name!r} is not in the catalog"
            + (f" (did you mean one of {found[:5]}?)" if found else "")
        )

    def choose(self, species: Sequence[str]) -> None:
        """Select ``species`` (any spelling the resolver knows, e.g. "H2CO" or "CH3OH;v=0;")."""
        names = tuple(dict.fromkeys(self.resolve(s) for s in species))
        self.search.value = ""
        self.select.value = names

    def label(self, name: str) -> str:
        """The list entry's text: name and its number of lines in the windows."""
        return f"{name} — {self.n_lines[name]} lines" if name in self.n_lines else name

    def _refresh(self) -> None:
        keep = tuple(self.select.value)
        names = matches(self.search.value, self.all_species)
        names += [n for n in keep if n not in names]
        with self.select.hold_sync():  # options and selection reach the page in one message
            self.select.options = [(self.label(n), n) for n in names]
            self.select.value = tuple(n for n in keep if n in names)

    def _on_select(self, change: dict) -> None:
        chosen = list(change["new"])
        self.chosen.value = "chosen: " + (", ".join(chosen) if chosen else "none")
        for callback in self._callbacks:
            callback(chosen)
