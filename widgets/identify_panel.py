"""IdentifyPanel: identify the species of the selected pixel or box with the engine.

"Identify" runs :func:`spectuner_nb.identification.identify` on the browser's selection
(a pixel, or the mean of a box) in a background thread; a progress bar follows the
individual fits and the combine / refine stages (the engine's progress callable) and
"Cancel" stops the run between two fits (finished fits stay in the run's work
directory, so "Identify" resumes). The result of each selection is kept: choosing
another pixel shows that pixel's identification or says there is none. The table
lists the identified species (score, T_ex, log10 N, Δv, v_off with errors, flags),
one colour button per species selects it in the species picker, and an
:class:`~spectuner_nb.widgets.identification_layer.IdentificationLayer` draws the
models, line markers and unknown lines over the spectra. Exports: the result folder
(zip), an XCLASS molfit, the species table (ECSV).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from spectuner_nb.errors import SpectunerError
from spectuner_nb.fit_settings import INITS, N_INIT_MAX, QUICK_DEFAULTS
from spectuner_nb.identification import STAGES, identify
from spectuner_nb.parameters import FIT_NAMES, PHYSICAL_NAMES

from .cube_browser import CubeBrowser
from .display import Component, Ticker, download_link
from .identification_layer import IdentificationLayer, species_colours

__all__ = [
    "EXPORTS",
    "N_INIT",
    "IdentificationCancelled",
    "IdentifyPanel",
    "identification_table_html",
]

N_INIT = QUICK_DEFAULTS.n_init
"""Initial points per individual fit offered by the panel
(:data:`~spectuner_nb.fit_settings.QUICK_DEFAULTS`; the engine's default is 50, the panel
favours an answer within seconds, the setting is in the panel)."""
EXPORTS: tuple[str, ...] = ("zip", "molfit", "ecsv")
"""What :meth:`IdentifyPanel.export` writes: the result folder zipped, a molfit, a table."""
_SHOWN = (
    ("T_ex", "T_ex (K)", ".4g"),
    ("log10_N_tot", "log10 N (cm⁻²)", ".3f"),
    ("delta_v", "Δv (km/s)", ".3g"),
    ("v_off", "v_off (km/s)", ".3g"),
)


class IdentificationCancelled(Exception):
    """Raised from the progress callable to stop a running identification between fits."""


def _flags(result: Any, k: int) -> list[str]:
    """Flags of identified species ``k``: parameters at a bound, unconstrained, tied, Q
    extrapolated (all from the engine's result)."""
    fit = result.fit
    out = [f"{FIT_NAMES[j]} at bound" for j in np.flatnonzero(fit.at_bound[k])]
    out += [
        f"{PHYSICAL_NAMES[j]} unconstrained"
        for j in np.flatnonzero(fit.unconstrained[k] & ~np.asarray(fit.at_bound[k], bool))
    ]
    tied = result.scores.get(result.species[k], {}).get("tied", "")
    if tied:
        out.append(f"tied: {tied}")
    if fit.extrapolated_q[k]:
        out.append("Q extrapolated")
    return out


def identification_table_html(result: Any, where: str, colours: dict[str, str]) -> str:
    """HTML table of an :class:`~spectuner_nb.identification.IdentificationResult` of
    ``where`` (e.g. "pixel (3, 4)"): per species its colour, score (matched / false peaks),
    T_ex, log10 N, Δv, v_off ± errors and flags; then the summary and the unknown lines."""
    from html import escape

    head = (
        f"<div class='spectuner-identify-where'><b>identification of {escape(where)}</b>"
        f": {escape(result.message)}</div>"
    )
    if result.fit is None:
        return head
    table = result.table()
    x_err = np.asarray(result.fit.x_err, float)
    rows = []
    for k, name in enumerate(result.species):
        row = table[k]
        cells = [
            f"<span style='color:{colours.get(name, '#000')}'>■</span> {escape(name)}",
            f"{row['score']:g} ({row['n_matched']:g} / {row['n_false']:g})",
        ]
        for col, _label, fmt in _SHOWN:
            value = float(row[col])
            err = float(x_err[k, 2]) if col == "log10_N_tot" else float(row[f"{col}_err"])
            cells.append(f"{value:{fmt}}" + (f" ± {err:{fmt}}" if np.isfinite(err) else " ± n/a"))
        flags = _flags(result, k)
        cells.append(
            "<span class='spectuner-suspect' style='color:#c00'>⚠ "
            + escape(", ".join(flags))
            + "</span>"
            if flags
            else ""
        )
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    header = "".join(
        f"<th>{h}</th>"
        for h in (
            "species",
            "score (matched / false)",
            *(label for _c, label, _f in _SHOWN),
            "flags",
        )
    )
    unknown = ", ".join(f"{float(f):.2f}" for f in result.unknown["freq"])
    total = result.timings.get("total", float("nan"))
    summary = (
        f"{result.n_peaks} observed peaks, {len(result.unknown)} unknown"
        + (f" (rest MHz: {unknown})" if unknown else "")
        + f"; {total:.1f} s; preset {result.settings.get('preset', '?')}, "
        f"init {result.settings.get('init', '?')}, n_init {result.settings.get('n_init')}"
    )
    return (
        f"{head}<table class='spectuner-identify-species-table'><tr>{header}</tr>"
        f"{''.join(rows)}</table><div class='spectuner-identify-summary'>{summary}</div>"
    )


class IdentifyPanel(Component):
    """Line identification of the pixel or box selected in a :class:`CubeBrowser`.

    Parameters
    ----------
    browser
        Where the selection is made and the identification drawn.
    picker
        Optional :class:`~spectuner_nb.widgets.species_picker.SpeciesPicker` in which the
        species buttons select species.
    catalog
        Transition cache passed to the engine (default: the user cache).
    workdir
        Folder holding one resumable work directory per selection and settings
        (default: a temporary folder).
    """

    def __init__(
        self,
        browser: CubeBrowser,
        picker: Any = None,
        *,
        catalog: Any = None,
        workdir: str | Path | None = None,
    ) -> None:
        import ipywidgets as ipw

        self.browser = browser
        self.picker = picker
        self.catalog = catalog if catalog is not None else getattr(picker, "catalog", None)
        self.results: dict[str, Any] = {}
        self.error: BaseException | None = None
        self._workdir = Path(workdir) if workdir is not None else None
        self._thread: threading.Thread | None = None
        self._where: str | None = None
        self._cancel = threading.Event()
        self.layer = IdentificationLayer(browser, catalog=self.catalog)
        self.n_init = ipw.BoundedIntText(
            value=N_INIT,
            min=1,
            max=N_INIT_MAX,
            description="n_init",
            layout=ipw.Layout(width="180px"),
        )
        self.init = ipw.Dropdown(
            options=INITS,
            value=QUICK_DEFAULTS.init,
            description="init",
            layout=ipw.Layout(width="200px"),
        )
        self.identify_button = ipw.Button(
            description="Identify",
            button_style="primary",
            tooltip="identify the species of the selection",
        )
        self.identify_button.add_class("spectuner-identify-button")
        self.cancel_button = ipw.Button(description="Cancel", button_style="warning", disabled=True)
        self.cancel_button.add_class("spectuner-identify-cancel")
        self.progress = ipw.IntProgress(value=0, min=0, max=1, description="fits")
        self.progress.add_class("spectuner-identify-progress")
        self.status = ipw.HTML("")
        self.status.add_class("spectuner-identify-status")
        self.table = ipw.HTML("")
        self.table.add_class("spectuner-identify-table")
        self.species_buttons = ipw.HBox([], layout=ipw.Layout(flex_flow="row wrap"))
        self.species_buttons.add_class("spectuner-identify-species")
        self.select_button = ipw.Button(
            description="Select identified in picker",
            disabled=True,
            layout=ipw.Layout(width="auto"),
        )
        self.select_button.add_class("spectuner-identify-select")
        self.export_buttons = {
            kind: ipw.Button(description=label, disabled=True, layout=ipw.Layout(width="auto"))
            for kind, label in zip(
                EXPORTS,
                ("Export result (zip)", "Export molfit", "Export table (ECSV)"),
                strict=True,
            )
        }
        for kind, button in self.export_buttons.items():
            button.add_class(f"spectuner-identify-export-{kind}")
            button.on_click(lambda _b, kind=kind: self._export_clicked(kind))
        self.downloads = ipw.HTML("")
        self.downloads.add_class("spectuner-identify-downloads")
        self.identify_button.on_click(lambda _b: self._identify_clicked())
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.select_button.on_click(lambda _b: self.select_in_picker())
        browser.on_selection(lambda _obs: self._show_selection())
        self.widget = ipw.VBox(
            [
                ipw.HBox(
                    [
                        self.identify_button,
                        self.cancel_button,
                        self.progress,
                        self.n_init,
                        self.init,
                    ]
                ),
                self.status,
                self.table,
                ipw.HBox([self.species_buttons, self.select_button]),
                ipw.HBox(list(self.export_buttons.values())),
                self.downloads,
            ]
        )
        self.widget.add_class("spectuner-identify-panel")
        self._show_selection()

    # ------------------------------------------------------------------ state
    @property
    def result(self) -> Any:
        """The IdentificationResult of the browser's current selection, or None."""
        return self.results.get(self.browser.selection_label)

    @property
    def running(self) -> bool:
        """True while an identification runs."""
        return self._thread is not None and self._thread.is_alive()

    def colours(self, result: Any) -> dict[str, str]:
        """{species: colour} of an identification (rank order)."""
        return species_colours(result.species)

    def _show_selection(self) -> None:
        """Show the identification of the selection, or say there is none (never a stale one)."""
        where = self.browser.selection_label
        result = self.results.get(where)
        self.downloads.value = ""
        for button in (*self.export_buttons.values(), self.select_button):
            button.disabled = result is None
        if result is None:
            self.table.value = (
                f"<div class='spectuner-identify-where'>no identification of {where} yet</div>"
            )
            self.species_buttons.children = ()
            self.layer.clear()
            return
        colours = self.colours(result)
        self.table.value = identification_table_html(result, where, colours)
        self.species_buttons.children = tuple(
            self._species_button(n, colours[n]) for n in result.species
        )
        self.export_buttons["molfit"].disabled = result.fit is None
        self.browser.set_colours(colours)
        self.layer.show(result, colours, where)

    def _species_button(self, name: str, colour: str) -> Any:
        import ipywidgets as ipw

        button = ipw.Button(
            description=name.split(";")[0],
            tooltip=f"select {name} in the species picker (again: unselect)",
            layout=ipw.Layout(width="auto"),
        )
        button.style.button_color = colour
        button.style.text_color = "white"
        button.add_class("spectuner-identify-species-button")
        button.on_click(lambda _b: self.toggle_in_picker(name))
        return button

    # ------------------------------------------------------------------ picker
    def toggle_in_picker(self, name: str) -> None:
        """Select species ``name`` in the picker, or unselect it when it is selected."""
        if self.picker is None:
            return
        chosen = list(self.picker.selected)
        self.picker.choose([n for n in chosen if n != name] if name in chosen else chosen + [name])

    def select_in_picker(self) -> None:
        """Select the identified species of the selection in the picker (only those)."""
        if self.picker is not None and self.result is not None:
            self.picker.choose(self.result.species)

    # ------------------------------------------------------------------ running
    def _identify_clicked(self) -> None:
        if self.running:
            self.status.value = "<b>an identification is already running</b>"
            return
        self.start()

    def start(self) -> threading.Thread:
        """Identify the browser's selection in a background thread; returns the thread."""
        if self.running:
            raise SpectunerError("an identification is already running")
        where = self._where = self.browser.selection_label
        obs = self.browser.observation()
        settings = {"n_init": int(self.n_init.value), "init": self.init.value}
        self._cancel.clear()
        self.error = None
        self.identify_button.disabled, self.cancel_button.disabled = True, False
        self.progress.value, self.progress.max = 0, 1
        self.status.value = f"identifying {where}: finding observed peaks and candidate species …"
        self._thread = threading.Thread(
            target=self._run, args=(where, obs, settings), daemon=True, name="spectuner-identify"
        )
        self._thread.start()
        return self._thread

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the running identification ends; returns the result of the selection
        it identified (None when cancelled or failed; a failure is in :attr:`error`)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.results.get(self._where) if self._where is not None else None

    def identify_selected(self) -> Any:
        """Identify the browser's selection and wait for it; returns the IdentificationResult
        (None when cancelled or failed)."""
        self.start()
        return self.wait()

    def cancel(self) -> None:
        """Stop the running identification after the individual fit in progress."""
        if self.running:
            self._cancel.set()
            self.status.value += " — cancelling after the current fit"

    def _workdir_of(self, where: str, settings: dict) -> Path:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="spectuner_identify_"))
        stem = "".join(c if c.isalnum() else "_" for c in where).strip("_")
        return self._workdir / f"{stem}_{settings['init']}_{settings['n_init']}"

    def _run(self, where: str, obs: Any, settings: dict) -> None:
        start = time.monotonic()
        count = [0, 0]
        ticker = Ticker(self.status, f"identifying {where}: observed peaks, candidate species")

        def progress(done: int, total: int, stage: str) -> None:
            if self._cancel.is_set():
                raise IdentificationCancelled
            count[:] = [done, total]
            self.progress.max, self.progress.value = max(total, 1), done
            ticker.stage = f"identifying {where}: " + (
                f"individual fits {done}/{total}"
                if stage == STAGES[0]
                else f"{stage} ({total} fits done)"
            )
            self.status.value = f"{ticker.stage} … {time.monotonic() - start:.0f} s"

        try:
            with ticker:
                result = identify(
                    obs,
                    catalog=self.catalog,
                    progress=progress,
                    workdir=self._workdir_of(where, settings),
                    **settings,
                )
        except IdentificationCancelled:
            self.status.value = (
                f"identification of {where} cancelled after {count[0]} of "
                f"{count[1]} fits ({time.monotonic() - start:.1f} s); "
                "Identify resumes from the finished fits"
            )
            return
        except Exception as exc:  # shown in the panel and kept in .error, never lost
            self.error = exc
            self.status.value = f"<b>identification of {where} failed:</b> {exc}"
            return
        finally:
            self.identify_button.disabled, self.cancel_button.disabled = False, True
        self.results[where] = result
        if self.browser.selection_label == where:
            self._show_selection()
        self.status.value = (
            f"identified {where} in {time.monotonic() - start:.1f} s: {result.message}"
        )

    # ------------------------------------------------------------------ export
    def _export_clicked(self, kind: str) -> None:
        try:
            self.export(kind)
        except SpectunerError as exc:
            self.downloads.value = f"<b>export failed:</b> {exc}"

    def export(self, kind: str, folder: str | Path | None = None) -> Path | None:
        """Write the shown identification as ``kind`` (one of :data:`EXPORTS`) into ``folder``
        (default: a temporary folder); a download link appears in the panel."""
        from .cubes import WidgetInputError

        if kind not in EXPORTS:
            raise WidgetInputError(f"export kind must be one of {EXPORTS}, got {kind!r}")
        result = self.result
        if result is None:
            self.downloads.value = "<b>no identification of the selection to export</b>"
            return None
        folder = Path(folder or tempfile.mkdtemp(prefix="spectuner_export_"))
        folder.mkdir(parents=True, exist_ok=True)
        stem = "identify_" + "".join(
            c if c.isalnum() else "_" for c in self.browser.selection_label
        ).strip("_")
        if kind == "zip":
            written = result.write(folder / stem)
            path = Path(shutil.make_archive(str(folder / stem), "zip", written))
        elif kind == "molfit":
            path = folder / f"{stem}.molfit"
            result.to_molfit(path)
        else:
            path = folder / f"{stem}.ecsv"
            result.table().write(path, format="ascii.ecsv", overwrite=True)
        self.downloads.value = download_link(path)
        return path
