"""FitPanel: fit the selected pixel(s) with the engine, or the whole cube in the background.

Fits of the selection (a pixel or a box mean) call
:func:`spectuner_nb.fit.fit_spectrum`; the model is drawn over the data in the
:class:`~spectuner_nb.widgets.cube_browser.CubeBrowser` and the parameter table
(errors, nfev, time, the engine's warnings) names what was fitted. A cube fit
runs :func:`spectuner_nb.cube.fit.fit_cube` in a separate process (so it can be
cancelled); the panel reads its result store
(:meth:`spectuner_nb.cube.store.ResultStore.snapshot`) and fills a map in as
chunks finish.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spectuner_nb.checks import N_INIT_MAX
from spectuner_nb.fit_settings import DEFAULTS
from spectuner_nb.fit_settings import INITS as ENGINE_INITS
from spectuner_nb.optimize import OPTIMIZERS as ENGINE_OPTIMIZERS

from .cube_browser import CubeBrowser
from .cubes import WidgetInputError, pixel_observation
from .display import (
    Component,
    Ticker,
    as_widget,
    colour_mapper,
    download_link,
    image_figure,
    sky_axes,
)

__all__ = [
    "LOSSES",
    "OPTIMIZERS",
    "INITS",
    "MAP_COLUMN",
    "result_table_html",
    "parse_pixels",
    "FitPanel",
]

LOSSES: tuple[tuple[str, str], ...] = (("peak matching", "pm"), ("χ²", "chi2"))
OPTIMIZERS: tuple[str, ...] = tuple(o for o in ENGINE_OPTIMIZERS if o != "none")
"""The engine's optimisers (spectuner_nb.optimize.OPTIMIZERS) the panel offers."""
INITS: tuple[str, ...] = ENGINE_INITS
"""The engine's named start strategies (spectuner_nb.fit_settings.INITS)."""
MAP_COLUMN = 2
"""Fit-space column drawn in the live cube map: log10 N_tot (cm⁻²)."""


def result_table_html(result: Any, where: str) -> str:
    """HTML table of a :class:`~spectuner_nb.results.FitResult` of ``where`` (e.g. "pixel
    (3, 4)"): values ± errors, nfev, time, and the engine's warnings about the fit."""
    from html import escape

    head = (
        "<tr><th>species</th><th>θ (″)</th><th>T_ex (K)</th><th>N_tot (cm⁻²)</th>"
        "<th>Δv (km/s)</th><th>v_off (km/s)</th></tr>"
    )
    formats = (".3g", ".4g", ".3e", ".3g", ".3g")
    rows = []
    for k, (name, comp) in enumerate(zip(result.species, result.component, strict=True)):
        cells = [f"{name}[{comp}]"]
        for j, (value, err, fmt) in enumerate(
            zip(result.params[k], result.params_err[k], formats, strict=True)
        ):
            text = f"{value:{fmt}}" + (f" ± {err:{fmt}}" if np.isfinite(err) else " ± n/a")
            if result.at_bound[k, j] or result.unconstrained[k, j]:
                text = f"<span class='spectuner-suspect' style='color:#c00'>{text} ⚠</span>"
            cells.append(text)
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    summary = (
        f"{result.loss_name} loss {result.loss:.4g}, χ² {result.chi2:.4g}, "
        f"nfev {result.nfev}, {result.timings.get('total', float('nan')):.2f} s "
        f"({result.init} + {result.optimizer}); errors: χ² curvature at the optimum"
    )
    warnings = "".join(f"<li>{escape(w)}</li>" for w in result.warnings())
    warning_html = (
        f"<ul class='spectuner-fit-warnings' style='color:#c00'>{warnings}</ul>" if warnings else ""
    )
    return (
        f"<div class='spectuner-fit-where'><b>fit of {escape(where)}</b></div>"
        f"<table class='spectuner-params'>{head}{''.join(rows)}</table>{warning_html}"
        f"<div class='spectuner-fit-summary'>{summary}</div>"
    )


def parse_pixels(text: str) -> list[tuple[int, int]]:
    """Pixels from text like ``"8,14; 9,14"`` (x, y pairs separated by ``;``)."""
    pixels = []
    for item in text.replace("(", "").replace(")", "").split(";"):
        if not item.strip():
            continue
        parts = item.replace(",", " ").split()
        if len(parts) != 2 or not all(p.lstrip("-").isdigit() for p in parts):
            raise WidgetInputError(f"cannot read a pixel 'x, y' from {item.strip()!r}")
        pixels.append((int(parts[0]), int(parts[1])))
    return pixels


def _fit_cube_process(
    cubes: Any, species: list[str], kwargs: dict, scheduler: str | None, out: str
) -> None:
    """Body of the cube-fit process: fit_cube, then the result written to ``out``. The process
    leads its own process group, so that cancelling stops its Dask workers too."""
    import os

    from spectuner_nb.cube.fit import fit_cube

    if hasattr(os, "setsid"):
        os.setsid()

    if scheduler is not None:
        from dask.distributed import Client

        kwargs = dict(kwargs, client=Client(scheduler))
    fit_cube(cubes, species, **kwargs).write(out)


class FitPanel(Component):
    """Fit controls for the pixel or box selected in a :class:`CubeBrowser`.

    Parameters
    ----------
    browser
        Where pixels are chosen and where the model is drawn.
    species
        A :class:`~spectuner_nb.widgets.species_picker.SpeciesPicker` (its selection is
        fitted) or a fixed list of species names.
    catalog
        Transition cache passed to the engine (default: the user cache).
    client
        ``dask.distributed.Client`` for cube fits (None: the engine's LocalCluster, False:
        in one process without Dask).
    """

    def __init__(
        self, browser: CubeBrowser, species: Any, *, catalog: Any = None, client: Any = None
    ) -> None:
        import ipywidgets as ipw
        from bokeh.models import ColorBar, ColumnDataSource

        self.browser = browser
        self._species = species
        self.catalog = catalog if catalog is not None else getattr(species, "catalog", None)
        self.client = client
        self.results: dict[str, Any] = {}
        self.cube_result: Any = None
        self.cube_error: BaseException | None = None
        self.workdir: Path | None = None
        self._process: Any = None
        self._watcher: threading.Thread | None = None
        self._cancelled = False
        self._warm = False
        self.loss = ipw.Dropdown(options=LOSSES, value=DEFAULTS.loss, description="loss")
        self.optimizer = ipw.Dropdown(
            options=OPTIMIZERS, value=DEFAULTS.optimizer, description="optimiser"
        )
        self.init = ipw.Dropdown(options=INITS, value=DEFAULTS.init, description="init")
        self.init.add_class("spectuner-fit-init")
        self.n_init = ipw.BoundedIntText(
            value=DEFAULTS.n_init, min=1, max=N_INIT_MAX, description="n_init"
        )
        self.seed = ipw.IntText(value=DEFAULTS.seed, description="seed")
        self.pixels_text = ipw.Text(
            placeholder="x, y; x, y … (empty: the selection)", description="pixels"
        )
        self.fit_button = ipw.Button(description="Fit selection", button_style="primary")
        self.fit_button.add_class("spectuner-fit-button")
        self.cube_button = ipw.Button(
            description="Fit cube (background)", layout=ipw.Layout(width="auto")
        )
        self.cube_button.add_class("spectuner-cube-button")
        self.cancel_button = ipw.Button(
            description="Cancel cube fit", button_style="warning", disabled=True
        )
        self.cancel_button.add_class("spectuner-cancel-button")
        wide = ipw.Layout(width="auto")
        self.export_button = ipw.Button(description="Export fit (molfit, ECSV)", layout=wide)
        self.export_button.add_class("spectuner-export-fit")
        self.export_maps_button = ipw.Button(
            description="Export cube maps (FITS)", disabled=True, layout=wide
        )
        self.export_maps_button.add_class("spectuner-export-maps")
        self.progress = ipw.IntProgress(value=0, min=0, max=1, description="progress")
        self.status = ipw.HTML("")
        self.status.add_class("spectuner-fit-status")
        self.table = ipw.HTML("")
        self.table.add_class("spectuner-fit-table")
        self.downloads = ipw.HTML("")
        self.downloads.add_class("spectuner-downloads")
        self.fit_button.on_click(lambda _b: self._fit_clicked())
        self.cube_button.on_click(lambda _b: self._cube_clicked())
        self.cancel_button.on_click(lambda _b: self.cancel_cube_fit())
        self.export_button.on_click(lambda _b: self.export_fit())
        self.export_maps_button.on_click(lambda _b: self.export_cube_maps())
        browser.on_selection(lambda _obs: self._selection_changed())
        ny, nx = browser.cubes.shape
        self.cube_map_source = ColumnDataSource(
            {"image": [np.full((ny, nx), np.nan)]}, name="cube_fit_map"
        )
        self.cube_map_figure = image_figure(
            ny, nx, title="cube fit: log10 N_tot (cm⁻²)", size=240, name="cube_fit_figure"
        )
        self._cube_mapper = colour_mapper(np.array([12.0, 22.0]))
        self.cube_map_figure.image(
            image="image",
            x=-0.5,
            y=-0.5,
            dw=nx,
            dh=ny,
            source=self.cube_map_source,
            color_mapper=self._cube_mapper,
        )
        self.cube_map_figure.add_layout(
            ColorBar(color_mapper=self._cube_mapper, width=8, name="cube_fit_colour_bar"), "right"
        )
        sky_axes(self.cube_map_figure, browser.cubes.wcs, ny, nx)
        self.cube_map_widget = as_widget(self.cube_map_figure)
        self.widget = ipw.VBox(
            [
                ipw.HBox([self.loss, self.optimizer]),
                ipw.HBox([self.init, self.n_init]),
                ipw.HBox([self.seed, self.pixels_text]),
                ipw.HBox([self.fit_button, self.cube_button, self.cancel_button, self.progress]),
                self.status,
                ipw.HBox(
                    [
                        ipw.VBox(
                            [
                                self.table,
                                ipw.HBox([self.export_button, self.export_maps_button]),
                                self.downloads,
                            ]
                        ),
                        self.cube_map_widget,
                    ]
                ),
            ]
        )
        self.widget.add_class("spectuner-fit-panel")

    @property
    def species(self) -> list[str]:
        """The species to fit (the picker's selection or the fixed list)."""
        if hasattr(self._species, "selected"):
            return list(self._species.selected)
        return list(self._species)

    @property
    def result(self) -> Any:
        """The FitResult of the browser's current selection, or None."""
        return self.results.get(self.browser.selection_label)

    def _settings(self) -> dict:
        return {
            "loss": self.loss.value,
            "optimizer": self.optimizer.value,
            "init": self.init.value,
            "n_init": int(self.n_init.value),
            "seed": int(self.seed.value),
        }

    # ------------------------------------------------------------------ pixel fits
    def _selection_changed(self) -> None:
        """Show the fit of the new selection, or say there is none (never a stale table)."""
        where = self.browser.selection_label
        result = self.results.get(where)
        self.downloads.value = ""
        if result is None:
            self.table.value = f"<div class='spectuner-fit-where'>no fit of {where} yet</div>"
            return
        self.table.value = result_table_html(result, where)
        self.browser.show_model(list(result.obs.freqs), list(result.model))

    def _fit_clicked(self) -> None:
        try:
            pixels = parse_pixels(self.pixels_text.value)
        except WidgetInputError as exc:
            self.status.value = f"<b>{exc}</b>"
            return
        if pixels:
            self.fit_pixels(pixels)
        else:
            self.fit_selected()

    def fit_selected(self) -> Any:
        """Fit the browser's selection (pixel or box mean); returns the FitResult."""
        found = self._fit([(self.browser.selection_label, self.browser.observation)])
        return found[0] if found else None

    def fit_pixels(self, pixels: Sequence[tuple[int, int]]) -> list[Any]:
        """Fit each (x, y) in turn with progress; every result is kept in :attr:`results`
        (the fit of a pixel is shown when that pixel is selected)."""
        jobs = [
            (f"pixel ({x}, {y})", lambda x=x, y=y: pixel_observation(self.browser.cubes, x, y))
            for x, y in pixels
        ]
        return self._fit(jobs)

    def _fit(self, jobs: list[tuple[str, Any]]) -> list[Any]:
        from spectuner_nb.errors import SpectunerError
        from spectuner_nb.fit import fit_spectrum

        species = self.species
        if not species:
            self.status.value = "<b>choose at least one species first</b>"
            return []
        self.progress.max, self.progress.value = len(jobs), 0
        results = []
        for where, observation in jobs:
            stage = (
                f"fitting {where} with {', '.join(species)}"
                if self._warm
                else f"first fit of {where}: loading line lists and the model kernels "
                "(compiled once per machine, then read from the cache)"
            )
            with Ticker(self.status, stage):
                try:
                    result = fit_spectrum(
                        observation(), species, catalog=self.catalog, **self._settings()
                    )
                except SpectunerError as exc:
                    self.status.value = f"<b>fit of {where} failed:</b> {exc}"
                    return results
            self._warm = True
            self.results[where] = result
            results.append(result)
            self.progress.value += 1
        shown = self.result
        if shown is not None:
            self.table.value = result_table_html(shown, self.browser.selection_label)
            self.browser.show_model(list(shown.obs.freqs), list(shown.model))
        self.status.value = f"done: {len(results)} fit(s) ({', '.join(w for w, _ in jobs)})" + (
            "" if shown is not None else "; select a fitted pixel to see its fit"
        )
        return results

    def export_fit(self, folder: str | Path | None = None) -> list[Path]:
        """Write the shown fit as an XCLASS molfit and an ECSV table; links appear in the panel."""
        result = self.result
        if result is None:
            self.downloads.value = "<b>no fit of the selection to export</b>"
            return []
        folder = Path(folder or tempfile.mkdtemp(prefix="spectuner_export_"))
        folder.mkdir(parents=True, exist_ok=True)
        stem = "".join(c if c.isalnum() else "_" for c in self.browser.selection_label).strip("_")
        molfit, ecsv = folder / f"{stem}.molfit", folder / f"{stem}.ecsv"
        result.to_molfit(molfit)
        result.to_table().write(ecsv, format="ascii.ecsv", overwrite=True)
        self.downloads.value = " · ".join(download_link(p) for p in (molfit, ecsv))
        return [molfit, ecsv]

    # ------------------------------------------------------------------ cube fit
    def _cube_clicked(self) -> None:
        try:
            self.start_cube_fit()
        except WidgetInputError as exc:
            self.status.value = f"<b>{exc}</b>"

    def start_cube_fit(
        self, *, workdir: str | Path | None = None, poll_s: float = 1.0, **fit_cube_kwargs: Any
    ) -> Any:
        """Fit the whole cube in a separate process (engine ``fit_cube``, resumable in
        ``workdir``); the map, colour bar and progress bar update every ``poll_s`` seconds as
        chunks finish, and :meth:`cancel_cube_fit` stops it. Returns the process."""
        import multiprocessing

        if self._process is not None and self._process.is_alive():
            raise WidgetInputError("a cube fit is already running")
        species = self.species
        if not species:
            self.status.value = "<b>choose at least one species first</b>"
            raise WidgetInputError("no species chosen for the cube fit")
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="fitcube_"))
        kwargs = dict(self._settings(), workdir=str(self.workdir), progress=False)
        kwargs.update(fit_cube_kwargs)
        client = kwargs.pop("client", self.client)
        scheduler = None
        if client not in (None, False):
            scheduler = client.scheduler.address
        else:
            kwargs["client"] = client
        self.cube_result, self.cube_error, self._cancelled = None, None, False
        self.export_maps_button.disabled = True
        self.cube_map_source.data = {"image": [np.full(self.browser.cubes.shape, np.nan)]}
        context = multiprocessing.get_context("spawn")
        self._process = context.Process(
            target=_fit_cube_process,
            name="spectuner-fit-cube",
            daemon=True,
            args=(self.browser.cubes, species, kwargs, scheduler, str(self.workdir / "maps")),
        )
        self._process.start()
        self.cancel_button.disabled = False
        self.status.value = (
            f"cube fit of {', '.join(species)} running in {self.workdir}: "
            "starting (first chunk after the model kernels load)"
        )
        self._watcher = threading.Thread(
            target=self._watch, args=(poll_s,), daemon=True, name="spectuner-fit-cube-watch"
        )
        self._watcher.start()
        return self._process

    def cancel_cube_fit(self) -> None:
        """Stop a running cube fit; finished chunks stay in the work directory (resumable)."""
        import os
        import signal

        if self._process is not None and self._process.is_alive():
            self._cancelled = True
            try:
                os.killpg(self._process.pid, signal.SIGTERM)
            except (AttributeError, OSError):  # no process groups, or not yet its own group
                self._process.terminate()
            self._process.join(10)

    def _watch(self, poll_s: float) -> None:
        try:
            self._follow(poll_s)
        except Exception as exc:  # reported in the panel and by wait_cube_fit, never lost
            self.cube_error = exc
            self.status.value = f"<b>cube fit display failed:</b> {exc}"

    def _follow(self, poll_s: float) -> None:
        start = time.monotonic()
        while self._process.is_alive():
            done = self.update_cube_map()
            self.status.value = (
                f"cube fit running: {done}/{self.progress.max} pixels, "
                f"{time.monotonic() - start:.0f} s"
            )
            time.sleep(poll_s)
        self._process.join()
        done = self.update_cube_map()
        elapsed = time.monotonic() - start
        self.cancel_button.disabled = True
        if self._cancelled:
            self.status.value = (
                f"cube fit cancelled after {elapsed:.1f} s: {done} pixels "
                f"kept in {self.workdir} (start again to resume)"
            )
        elif self._process.exitcode != 0:
            self.cube_error = WidgetInputError(
                f"the cube-fit process failed (exit code {self._process.exitcode})"
            )
            self.status.value = f"<b>cube fit failed:</b> {self.cube_error}"
        else:
            from spectuner_nb.cube.results import CubeFitResult

            self.cube_result = CubeFitResult.read(self.workdir / "maps")
            self.export_maps_button.disabled = False
            self.status.value = f"cube fit finished in {elapsed:.1f} s ({self.workdir})"

    def update_cube_map(self) -> int:
        """Redraw the live map and colour bar from the stored chunks; returns the pixels done."""
        from spectuner_nb.cube.store import ResultStore

        pix, arrays, total = ResultStore.snapshot(self.workdir)
        image = np.full(self.browser.cubes.shape, np.nan)
        if pix.size:
            image.flat[pix] = arrays["x"][:, 0, MAP_COLUMN]
            fresh = colour_mapper(image)
            self._cube_mapper.low, self._cube_mapper.high = fresh.low, fresh.high
        self.cube_map_source.data = {"image": [image]}
        if total:
            self.progress.max, self.progress.value = total, int(pix.size)
        return int(pix.size)

    def wait_cube_fit(self, timeout: float | None = None) -> Any:
        """Block until the cube fit ends and the panel shows it; returns the CubeFitResult."""
        if self._watcher is not None:
            self._watcher.join(timeout)
        if self.cube_error is not None:
            raise self.cube_error
        return self.cube_result

    def export_cube_maps(self) -> Path | None:
        """Zip the FITS maps of the finished cube fit; a link appears in the panel."""
        import shutil

        if self.cube_result is None:
            self.downloads.value = "<b>no finished cube fit to export</b>"
            return None
        archive = Path(
            shutil.make_archive(str(self.workdir / "cube_fit_maps"), "zip", self.workdir / "maps")
        )
        self.downloads.value = download_link(archive)
        return archive
