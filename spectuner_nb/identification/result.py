"""IdentificationResult: the species of a spectrum, their joint model and the line table.

Knows how to show itself (tables, Bokeh plot), write itself to a folder (ECSV
tables, a JSON summary, the joint model spectrum as ECSV, the joint fit as JSON and
an XCLASS molfit) and read itself back.

Folder layout written by :meth:`IdentificationResult.write`::

    summary.json     species, message, peak counts, settings, timings and the SHA-256
                     of every other file (written last: see :meth:`IdentificationResult.write`)
    species.ecsv     one row per identified species (parameters, errors, score, flags)
    lines.ecsv       one row per observed peak (assignments, transitions)
    rejected.ecsv    candidates not identified, with the reason
    model.ecsv       per channel: window, rest frequency, observed, joint model, each species
    fit.json         the joint FitResult (absent when nothing was identified)
    identified.molfit  XCLASS molfit of the identified species (idem)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..atomic import read_index, write_folder
from ..errors import ResultsError
from ..observation import Observation
from ..results import FitResult, _json_default, observed_window_figure

if TYPE_CHECKING:
    from astropy.table import Table

    from ..cube import CubeFitResult, CubeSet

__all__ = [
    "IdentificationResult",
    "SUMMARY_FILE",
]

SUMMARY_FILE = "summary.json"


@dataclass
class IdentificationResult:
    """Outcome of :func:`spectuner_nb.identification.identify`.

    Attributes
    ----------
    obs
        The observation.
    species
        Identified species (canonical catalog names), best first.
    fit
        The joint model's :class:`~spectuner_nb.results.FitResult` (None when nothing
        was identified).
    lines
        One row per observed peak: freq (MHz), T_peak (K), assigned species
        (";"-joined), fractions of the peak's intensity, quantum numbers of the
        strongest transition of each, its E_up (K) and A_ul (s⁻¹), explained flag.
    rejected
        Candidates not identified: species, reason.
    components
        Model of each identified species alone, per window (K).
    scores
        {species: {"score", "n_matched", "n_false", "new_peaks", "tied", "flags"}} from the
        individual fit and the greedy step; "tied" names the source parameters taken from
        the constrained species (``identify.combine.tie_unconstrained``), "" for none;
        "flags" is "UNCONSTRAINED_AT_BOUND" for an included species whose T_ex or column
        density ends at a bound of the preset (``identify.combine.drop_at_bound``; such a
        species not included is rejected with that reason), "" otherwise.
    message
        A summary sentence (e.g. "no peak above 4 sigma").
    settings, timings
        How the identification ran; wall time per stage (s).
    """

    obs: Observation
    species: list[str]
    fit: FitResult | None
    lines: Table
    rejected: Table
    components: list[list[np.ndarray]]
    scores: dict[str, dict] = field(default_factory=dict)
    message: str = ""
    settings: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ views
    @property
    def n_peaks(self) -> int:
        """Number of observed peaks (4 rms)."""
        return len(self.lines)

    @property
    def unknown(self):
        """The observed peaks the joint model does not explain (astropy Table)."""
        return self.lines[~np.asarray(self.lines["explained"], bool)]

    @property
    def model(self) -> list[np.ndarray]:
        """Joint model spectrum per window, K (zeros when nothing was identified)."""
        if self.fit is None:
            return [np.zeros(f.size) for f in self.obs.rest_freqs]
        return list(self.fit.model)

    def table(self):
        """One row per identified species: parameters with units and errors, score,
        matched and false peaks, flags (astropy Table)."""
        from astropy.table import Table

        if self.fit is None:
            return Table(
                names=("species", "score", "n_matched", "n_false"), dtype=(str, float, int, int)
            )
        table = self.fit.to_table()
        table.remove_column("component")
        for key in ("score", "n_matched", "n_false", "new_peaks"):
            table[key] = [self.scores.get(s, {}).get(key, np.nan) for s in self.species]
        table["tied"] = [self.scores.get(s, {}).get("tied", "") for s in self.species]
        table["flags"] = [self.scores.get(s, {}).get("flags", "") for s in self.species]
        return table

    def __repr__(self) -> str:
        n_unknown = len(self.unknown)
        head = (
            f"<IdentificationResult {len(self.species)} species, {self.n_peaks} peaks "
            f"({n_unknown} unknown)"
        )
        if self.message:
            head += f": {self.message}"
        return head + "".join(f"\n  {s}" for s in self.species) + ">"

    def plot(self, *, width: int = 950, height: int = 300):
        """Bokeh column, one figure per window: data, joint model, one colour per species
        (legend, click to hide), observed peaks with hover labels (species, transition),
        unknown lines marked with red crosses."""
        from bokeh.layouts import column
        from bokeh.models import ColumnDataSource, HoverTool
        from bokeh.palettes import Category20

        palette = Category20[20]
        figs = []
        for w, (f, m) in enumerate(zip(self.obs.rest_freqs, self.model, strict=True)):
            fig = observed_window_figure(self.obs, w, width=width, height=height)
            fig.line(f, m, color="red", line_width=2, alpha=0.6, legend_label="joint model")
            for k, (name, comp) in enumerate(zip(self.species, self.components, strict=True)):
                fig.line(f, comp[w], color=palette[k % 20], line_width=1.2, legend_label=name)
            rows = self.lines[np.asarray(self.lines["window"]) == w]
            if len(rows):
                src = ColumnDataSource(
                    {
                        "freq": np.asarray(rows["freq"], float),
                        "T": np.asarray(rows["T_peak"], float),
                        "species": [s or "unknown" for s in rows["species"]],
                        "qn": list(rows["qn"]),
                        "fractions": list(rows["fractions"]),
                    }
                )
                peaks = fig.scatter(
                    "freq",
                    "T",
                    source=src,
                    size=7,
                    marker="triangle",
                    color="gray",
                    alpha=0.7,
                    legend_label="observed peaks",
                )
                fig.add_tools(
                    HoverTool(
                        renderers=[peaks],
                        tooltips=[
                            ("ν (MHz)", "@freq{0.000}"),
                            ("T (K)", "@T{0.00}"),
                            ("species", "@species"),
                            ("fractions", "@fractions"),
                            ("transition", "@qn"),
                        ],
                    )
                )
                bad = ~np.asarray(rows["explained"], bool)
                if bad.any():
                    fig.scatter(
                        np.asarray(rows["freq"], float)[bad],
                        np.asarray(rows["T_peak"], float)[bad],
                        marker="x",
                        size=12,
                        color="red",
                        line_width=2,
                        legend_label="unknown",
                    )
            fig.legend.click_policy = "hide"
            fig.legend.location = "top_left"
            figs.append(fig)
        return column(*figs)

    def fit_cube(self, cubes: CubeSet | str | Path | list, **kwargs) -> CubeFitResult:
        """Map the identified species over a cube as one joint model: χ² with the bounds
        this identification used (``settings["bounds"]``) and the tie step in every pixel
        (:func:`~spectuner_nb.cube.fit_cube` with ``tie=True``; docs/identify.md). The one
        definition of the maps of ``identify --map``, ``spectunerid`` and the example.

        Parameters
        ----------
        cubes
            A :class:`~spectuner_nb.cube.CubeSet`, or one FITS/CASA cube per window.
        **kwargs
            Further :func:`~spectuner_nb.cube.fit_cube` keywords (``v_lsr``, ``n_init``,
            ``mask``, ``client``, ``workdir``, ``seed``, …); ``fit_kwargs`` may add fit
            settings but not other bounds.

        Returns
        -------
        CubeFitResult

        Raises
        ------
        IdentificationError
            Nothing was identified, or ``kwargs`` set the loss, tie or bounds.
        """
        from ..cube import fit_cube
        from ..errors import IdentificationError

        if not self.species:
            raise IdentificationError(f"nothing identified to map ({self.message or 'no species'})")
        fit_kwargs = dict(kwargs.pop("fit_kwargs", None) or {})
        fixed = sorted({"loss", "tie", "species"} & set(kwargs) | {"bounds"} & set(fit_kwargs))
        if fixed:
            raise IdentificationError(
                f"the maps of an identification set {', '.join(fixed)} themselves (χ², the "
                "identification's bounds, the tie step); call fit_cube to choose them"
            )
        fit_kwargs["bounds"] = np.asarray(self.settings["bounds"], float)
        return fit_cube(
            cubes, list(self.species), loss="chi2", tie=True, fit_kwargs=fit_kwargs, **kwargs
        )

    def to_molfit(self, path: str | Path | None = None) -> str:
        """XCLASS molfit text of the identified species (also written to ``path``)."""
        if self.fit is None:
            raise ResultsError("no species identified: nothing to write as a molfit")
        return self.fit.to_molfit(path)

    # ------------------------------------------------------------------ persistence
    def _spectrum_table(self):
        from astropy.table import Table

        table = Table()
        table["window"] = np.concatenate(
            [np.full(f.size, w) for w, f in enumerate(self.obs.rest_freqs)]
        )
        table["freq"] = np.concatenate(self.obs.rest_freqs)
        table["freq"].unit = "MHz"
        table["observed"] = np.concatenate(self.obs.intensities)
        table["model"] = np.concatenate(self.model)
        for name, comp in zip(self.species, self.components, strict=True):
            table[name] = np.concatenate(comp)
        for col in table.columns[2:]:
            table[col].unit = "K"
        table.meta["species"] = list(self.species)
        return table

    def _write_files(self, folder: Path) -> list[str]:
        """Write the tables, model spectrum, joint fit and molfit into ``folder``; returns
        the file names (the summary is written by :meth:`write`)."""
        names = ["species.ecsv", "lines.ecsv", "rejected.ecsv", "model.ecsv"]
        for name, table in zip(
            names, (self.table(), self.lines, self.rejected, self._spectrum_table()), strict=True
        ):
            table.write(folder / name)
        if self.fit is not None:
            self.fit.to_json(folder / "fit.json")
            self.to_molfit(folder / "identified.molfit")
            names += ["fit.json", "identified.molfit"]
        return names

    def write(self, folder: str | Path) -> Path:
        """Write the result into ``folder`` (created) atomically as a whole: the files go to
        a staging folder, are renamed into place, and ``summary.json`` with the SHA-256 of
        each is written last (:func:`spectuner_nb.atomic.write_folder`); an older result in
        ``folder`` is replaced, never mixed with the new one."""
        summary = {
            "species": self.species,
            "message": self.message,
            "n_peaks": self.n_peaks,
            "n_unknown": len(self.unknown),
            "scores": self.scores,
            "settings": self.settings,
            "timings": self.timings,
            "observation": self.obs.to_dict(),
        }
        summary = json.loads(json.dumps(summary, default=_json_default))
        write_folder(folder, self._write_files, SUMMARY_FILE, summary, what="identification")
        return Path(folder)

    @classmethod
    def read(cls, folder: str | Path) -> IdentificationResult:
        """Read a result written by :meth:`write`;
        :class:`~spectuner_nb.errors.IncompleteResultError` for a folder without a complete
        result (an interrupted write) or with files differing from those its summary lists
        (a partial or mixed folder)."""
        from astropy.table import Table

        folder = Path(folder)
        summary = read_index(folder, SUMMARY_FILE, what="identification")
        try:
            lines = Table.read(folder / "lines.ecsv")
            rejected = Table.read(folder / "rejected.ecsv")
            spectrum = Table.read(folder / "model.ecsv")
        except (OSError, ValueError, KeyError) as exc:
            raise ResultsError(f"cannot read an identification from {folder}: {exc}") from exc
        fit = FitResult.from_json(folder / "fit.json") if "fit.json" in summary["files"] else None
        obs = fit.obs if fit is not None else Observation.from_dict(summary["observation"])
        win = np.asarray(spectrum["window"])
        components = [
            [np.asarray(spectrum[name], float)[win == w] for w in range(obs.n_windows)]
            for name in summary["species"]
        ]
        return cls(
            obs=obs,
            species=list(summary["species"]),
            fit=fit,
            lines=lines,
            rejected=rejected,
            components=components,
            scores=summary["scores"],
            message=summary["message"],
            settings=summary["settings"],
            timings=summary["timings"],
        )
