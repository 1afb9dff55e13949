"""IdentificationLayer: an identification drawn over the spectra of a CubeBrowser.

Per window: the model of each identified species alone and the joint model (from
:class:`~spectuner_nb.identification.IdentificationResult`), a marker in the species'
colour above every observed peak a species is assigned to (hover: species, transition,
rest frequency, E_up, A_ul, share of the peak), and a "U" over every unknown line.
Everything drawn comes from the result and from engine functions
(:func:`~spectuner_nb.identification.assign.strongest_transition` names the transition);
the layer follows the browser's axis, velocity reference and brightness unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from spectuner_nb.cube.maps import sky_frequency
from spectuner_nb.identification.assign import split_cell, strongest_transition

from .cube_browser import CubeBrowser

__all__ = ["SPECIES_COLOURS", "UNKNOWN_COLOUR", "IdentificationLayer", "species_colours"]

SPECIES_COLOURS: tuple[str, ...] = (
    "#1f77b4",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#7b4173",
    "#3182bd",
    "#31a354",
    "#e6550d",
    "#756bb1",
)
"""Colours of identified species, by rank (no red: red marks unknown lines and fits)."""
UNKNOWN_COLOUR = "#d62728"
JOINT_COLOUR = "#444444"
LEGEND_WIDTH = 170
"""Pixels added to each spectrum figure for the identification's legend, right of the frame."""
MARKER_STEP = 0.08
"""Vertical spacing of the markers of species sharing a peak, as a fraction of its height."""

_EMPTY = {
    "models": ("xs", "ys", "freqs", "colour", "label"),
    "joint": ("x", "y", "freq"),
    "markers": ("x", "y", "freq", "colour", "label", "qn", "rest", "E_up", "A_ul", "fraction"),
    "unknown": ("x", "y", "freq", "T_peak", "snr", "text"),
}


def species_colours(species: Sequence[str]) -> dict[str, str]:
    """{species: colour} for species in rank order (cycled through :data:`SPECIES_COLOURS`)."""
    return {name: SPECIES_COLOURS[k % len(SPECIES_COLOURS)] for k, name in enumerate(species)}


class IdentificationLayer:
    """Bokeh renderers on every spectrum figure of ``browser`` showing one identification.

    Parameters
    ----------
    browser
        The :class:`CubeBrowser` whose spectra the layer draws on.
    catalog
        Transition cache for the hover labels of species sharing a peak (default: the
        browser's).
    """

    def __init__(self, browser: CubeBrowser, catalog: Any = None) -> None:
        from bokeh.models import ColumnDataSource, HoverTool, Legend, LegendItem

        self.browser = browser
        self.catalog = catalog if catalog is not None else browser.catalog
        self.result: Any = None
        self.where: str | None = None
        self.colours: dict[str, str] = {}
        self._drawn = False
        self.sources: list[dict[str, Any]] = []
        for i, fig in enumerate(browser.spectrum_figures):
            src = {
                kind: ColumnDataSource({c: [] for c in cols}, name=f"ident_{kind}_{i}")
                for kind, cols in _EMPTY.items()
            }
            models = fig.multi_line(
                "xs", "ys", source=src["models"], color="colour", line_width=1.6, alpha=0.9
            )
            joint = fig.line(
                "x",
                "y",
                source=src["joint"],
                color=JOINT_COLOUR,
                line_width=1.8,
                line_dash="dashed",
            )
            markers = fig.scatter(
                "x",
                "y",
                source=src["markers"],
                marker="inverted_triangle",
                size=10,
                color="colour",
                line_color="black",
                line_width=0.5,
            )
            unknown = fig.text(
                "x",
                "y",
                text="text",
                source=src["unknown"],
                text_color=UNKNOWN_COLOUR,
                text_font_style="bold",
                text_align="center",
                text_baseline="bottom",
            )
            legend = Legend(
                items=[
                    LegendItem(label={"field": "label"}, renderers=[models]),
                    LegendItem(label="joint model", renderers=[joint]),
                    LegendItem(label="U: unknown line", renderers=[unknown]),
                ],
                label_text_font_size="9px",
                glyph_height=12,
                label_height=12,
                spacing=0,
                padding=4,
                name=f"ident_legend_{i}",
            )
            fig.add_layout(legend, "right")  # beside the frame: the spectrum stays visible
            fig.width += LEGEND_WIDTH
            targets = fig.scatter("x", "y", source=src["unknown"], size=14, alpha=0.0)
            fig.add_tools(
                HoverTool(
                    renderers=[markers],
                    tooltips=[
                        ("species", "@label"),
                        ("transition", "@qn"),
                        ("rest freq", "@rest{0.000} MHz"),
                        ("sky freq", "@freq{0.000} MHz"),
                        ("E_up", "@E_up{0.0} K"),
                        ("A_ul", "@A_ul{0.00e} s⁻¹"),
                        ("share of peak", "@fraction{0.00}"),
                    ],
                )
            )
            fig.add_tools(
                HoverTool(
                    renderers=[targets],
                    tooltips=[
                        ("unknown line", "@freq{0.000} MHz"),
                        ("T_peak", "@T_peak{0.00} K"),
                        ("S/N", "@snr{0.0}"),
                    ],
                )
            )
            self.sources.append(src)
        browser.on_redraw(self.redraw)

    def show(
        self, result: Any, colours: dict[str, str] | None = None, where: str | None = None
    ) -> None:
        """Draw ``result`` (an IdentificationResult, None: nothing) with ``colours``
        ({species: colour}; default :func:`species_colours` of its species). It is drawn
        while the browser's selection is ``where`` (default: the current selection), never
        over the spectra of another one."""
        self.result = result
        self.where = where if where is not None else self.browser.selection_label
        self.colours = (
            dict(colours)
            if colours
            else (species_colours(result.species) if result is not None else {})
        )
        self._transitions = self._find_transitions() if result is not None else {}
        self.redraw()

    def clear(self) -> None:
        """Remove the identification from the spectra."""
        self.show(None)

    def _window_of(self, freq: np.ndarray) -> int | None:
        """The browser window holding sky frequencies ``freq`` (MHz), by their median."""
        if freq.size == 0:
            return None
        mid = float(np.median(freq))
        for i, win in enumerate(self.browser.windows):
            lo, hi = win.freq_range_mhz
            if lo <= mid <= hi:
                return i
        return None

    def _find_transitions(self) -> dict[tuple[int, str], tuple]:
        """{(peak row, species): (qn, rest MHz, E_up K, A_ul s⁻¹)} of the transition each
        assigned species contributes most at the peak (engine: strongest_transition)."""
        res = self.result
        if res.fit is None:
            return {}
        lines = {name: self.catalog.lines(name, res.obs.windows) for name in res.species}
        out = {}
        for r, row in enumerate(res.lines):
            for name in split_cell(row["species"]):
                k = res.species.index(name)
                j = strongest_transition(lines[name], res.fit.x[k], float(row["freq"]))
                if j < 0:
                    out[r, name] = ("", np.nan, np.nan, np.nan)
                    continue
                qn = np.asarray(lines[name].qn)
                out[r, name] = (
                    str(qn[j]).strip() if qn.size else "",
                    float(lines[name].freq[j]),
                    float(lines[name].E_up[j]),
                    float(lines[name].A_ul[j]),
                )
        return out

    def redraw(self) -> None:
        """Draw the current result in the browser's current axis and unit (nothing when the
        browser shows another selection)."""
        res = self.result if self.where == self.browser.selection_label else None
        if res is None and not self._drawn:
            return  # already empty: no message to the page
        cols = [
            {kind: {c: [] for c in names} for kind, names in _EMPTY.items()} for _ in self.sources
        ]
        if res is not None:
            self._fill(res, cols)
        self._drawn = res is not None
        for src, data in zip(self.sources, cols, strict=True):
            for kind, columns in data.items():
                src[kind].data = columns

    def _fill(self, res: Any, cols: list[dict]) -> None:
        browser = self.browser
        for w, freq in enumerate(res.obs.freqs):  # sky frequencies, MHz
            i = self._window_of(np.asarray(freq, float))
            if i is None:
                continue
            x = list(browser.display_x(i, freq))
            if res.fit is not None:
                cols[i]["joint"] = {
                    "x": x,
                    "y": list(browser.display_y(i, freq, res.model[w])),
                    "freq": list(freq),
                }
            for name, comp in zip(res.species, res.components, strict=True):
                c = cols[i]["models"]
                c["xs"].append(x)
                c["ys"].append(list(browser.display_y(i, freq, comp[w])))
                c["freqs"].append(list(freq))
                c["colour"].append(self.colours.get(name, JOINT_COLOUR))
                c["label"].append(name)
        v_lsr = float(res.obs.v_lsr)
        for r, row in enumerate(res.lines):
            f = float(sky_frequency(np.array([float(row["freq"])]), v_lsr)[0])
            i = self._window_of(np.array([f]))
            if i is None:
                continue
            x = float(browser.display_x(i, np.array([f]))[0])
            height = float(browser.display_y(i, np.array([f]), np.array([row["T_peak"]]))[0])
            if not row["explained"]:
                u = cols[i]["unknown"]
                for key, value in (
                    ("x", x),
                    ("y", height * (1 + MARKER_STEP)),
                    ("freq", f),
                    ("T_peak", float(row["T_peak"])),
                    ("snr", float(row["snr"])),
                    ("text", "U"),
                ):
                    u[key].append(value)
            names = split_cell(row["species"])
            fractions = [float(v) for v in split_cell(row["fractions"])]
            for n, (name, share) in enumerate(zip(names, fractions, strict=True)):
                qn, rest, e_up, a_ul = self._transitions.get(
                    (r, name), ("", np.nan, np.nan, np.nan)
                )
                m = cols[i]["markers"]
                for key, value in (
                    ("x", x),
                    ("y", height * (1 + MARKER_STEP * (n + 1))),
                    ("freq", f),
                    ("colour", self.colours.get(name, JOINT_COLOUR)),
                    ("label", name),
                    ("qn", qn),
                    ("rest", rest),
                    ("E_up", e_up),
                    ("A_ul", a_ul),
                    ("fraction", share),
                ):
                    m[key].append(value)
