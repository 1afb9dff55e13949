"""FitPanel: fit the selected pixel(s) with the engine, or the whole cube in the background.

Pixel fits call :func:`spectuner_nb.fit.fit_spectrum`; the model is drawn over
the data in the :class:`~spectuner_nb.widgets.cube_browser.CubeBrowser` and the
parameter table (with errors, nfev and time) is shown. A cube fit calls
:func:`spectuner_nb.cube.fit.fit_cube` on Dask in a background thread; the panel
polls its work directory and fills a map in as chunks finish.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .cube_browser import CubeBrowser
from .cubes import WidgetInputError, pixel_observation
from .display import Component, as_widget, colour_mapper, image_figure

LOSSES: tuple[tuple[str, str], ...] = (("peak matching", "pm"), ("χ²", "chi2"))
OPTIMIZERS: tuple[str, ...] = ("slsqp", "nelder-mead", "l-bfgs-b", "tnc", "cobyla", "cobyqa",
                               "pso")
INITS: tuple[str, ...] = ("random", "policy")
MAP_COLUMN = 2
"""Fit-space column drawn in the live cube map: log10 N_tot (cm⁻²)."""


def result_table_html(result: Any) -> str:
    """HTML table of a :class:`~spectuner_nb.results.FitResult`: values ± errors, nfev, time."""
    head = ("<tr><th>species</th><th>θ (″)</th><th>T_ex (K)</th><th>N_tot (cm⁻²)</th>"
            "<th>Δv (km/s)</th><th>v_off (km/s)</th></tr>")
    formats = (".3g", ".4g", ".3e", ".3g", ".3g")
    rows = []
    for k, (name, comp) in enumerate(zip(result.species, result.component, strict=True)):
        cells = [f"{name}[{comp}]"]
        for value, err, fmt in zip(result.params[k], result.params_err[k], formats, strict=True):
            cells.append(f"{value:{fmt}}" + (f" ± {err:{fmt}}" if np.isfinite(err) else ""))
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    summary = (f"{result.loss_name} loss {result.loss:.4g}, χ² {result.chi2:.4g}, "
               f"nfev {result.nfev}, {result.timings.get('total', float('nan')):.2f} s "
               f"({result.init} + {result.optimizer})")
    return (f"<table class='spectuner-params'>{head}{''.join(rows)}</table>"
            f"<div class='spectuner-fit-summary'>{summary}</div>")


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


def chunk_results(workdir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Finished pixels of a running cube fit: (flat pixel indices, fit-space x (n, n_sp, 5))."""
    pix, xs = [], []
    for path in sorted((Path(workdir) / "chunks").glob("c*.npz")):
        try:
            with np.load(path, allow_pickle=False) as z:
                pix.append(z["pixel"])
                xs.append(z["x"])
        except (OSError, ValueError, KeyError):
            continue  # a chunk being replaced; read it next time
    if not pix:
        return np.zeros(0, int), np.zeros((0, 1, 5))
    return np.concatenate(pix), np.concatenate(xs)


def total_pixels(workdir: Path) -> int | None:
    """Number of pixels a cube fit in ``workdir`` will fit (from its manifest), or None."""
    import json

    try:
        return len(json.loads((Path(workdir) / "manifest.json").read_text())["pixels"])
    except (OSError, ValueError, KeyError):
        return None


class FitPanel(Component):
    """Fit controls for the pixel selected in a :class:`CubeBrowser`.

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
        ``dask.distributed.Client`` for cube fits (None: the engine's LocalCluster).
    """

    def __init__(self, browser: CubeBrowser, species: Any, *, catalog: Any = None,
                 client: Any = None) -> None:
        import ipywidgets as ipw

        self.browser = browser
        self._species = species
        self.catalog = catalog if catalog is not None else getattr(species, "catalog", None)
        self.client = client
        self.result: Any = None
        self.cube_result: Any = None
        self.cube_error: BaseException | None = None
        self._cube_thread: threading.Thread | None = None
        self.loss = ipw.Dropdown(options=LOSSES, value="pm", description="loss")
        self.optimizer = ipw.Dropdown(options=OPTIMIZERS, value="slsqp", description="optimiser")
        self.init = ipw.Dropdown(options=INITS, value="random", description="init")
        self.n_init = ipw.BoundedIntText(value=20, min=1, max=1000, description="n_init")
        self.seed = ipw.IntText(value=0, description="seed")
        self.pixels_text = ipw.Text(placeholder="x, y; x, y … (empty: the selected pixel)",
                                    description="pixels")
        self.fit_button = ipw.Button(description="Fit pixel", button_style="primary",
                                     icon="play")
        self.fit_button.add_class("spectuner-fit-button")
        self.cube_button = ipw.Button(description="Fit cube (background)", icon="th")
        self.cube_button.add_class("spectuner-cube-button")
        self.progress = ipw.IntProgress(value=0, min=0, max=1, description="progress")
        self.status = ipw.HTML("")
        self.status.add_class("spectuner-fit-status")
        self.table = ipw.HTML("")
        self.table.add_class("spectuner-fit-table")
        self.fit_button.on_click(lambda _b: self._fit_clicked())
        self.cube_button.on_click(lambda _b: self.start_cube_fit())
        ny, nx = browser.cubes.shape
        from bokeh.models import ColumnDataSource

        self.cube_map_source = ColumnDataSource({"image": [np.full((ny, nx), np.nan)]},
                                                name="cube_fit_map")
        self.cube_map_figure = image_figure(ny, nx, title="cube fit: log10 N_tot (cm⁻²)",
                                            size=240, name="cube_fit_figure")
        self._cube_mapper = colour_mapper(np.array([12.0, 22.0]))
        self.cube_map_figure.image(image="image", x=-0.5, y=-0.5, dw=nx, dh=ny,
                                   source=self.cube_map_source, color_mapper=self._cube_mapper)
        self.cube_map_widget = as_widget(self.cube_map_figure)
        self.widget = ipw.VBox([
            ipw.HBox([self.loss, self.optimizer]),
            ipw.HBox([self.init, self.n_init]),
            ipw.HBox([self.seed, self.pixels_text]),
            ipw.HBox([self.fit_button, self.cube_button, self.progress]),
            self.status,
            ipw.HBox([self.table, self.cube_map_widget]),
        ])
        self.widget.add_class("spectuner-fit-panel")

    @property
    def species(self) -> list[str]:
        """The species to fit (the picker's selection or the fixed list)."""
        if hasattr(self._species, "selected"):
            return list(self._species.selected)
        return list(self._species)

    def _settings(self) -> dict:
        return {"loss": self.loss.value, "optimizer": self.optimizer.value,
                "init": self.init.value, "n_init": int(self.n_init.value),
                "seed": int(self.seed.value)}

    # ------------------------------------------------------------------ pixel fits
    def _fit_clicked(self) -> None:
        try:
            pixels = parse_pixels(self.pixels_text.value) or [self.browser.pixel]
        except WidgetInputError as exc:
            self.status.value = f"<b>{exc}</b>"
            return
        self.fit_pixels(pixels)

    def fit_selected(self) -> Any:
        """Fit the browser's selected pixel; returns the FitResult (also in ``result``)."""
        results = self.fit_pixels([self.browser.pixel])
        return results[0] if results else None

    def fit_pixels(self, pixels: Sequence[tuple[int, int]]) -> list[Any]:
        """Fit each (x, y) in turn with progress; the last one is drawn and tabulated."""
        from spectuner_nb.errors import SpectunerError
        from spectuner_nb.fit import fit_spectrum

        species = self.species
        if not species:
            self.status.value = "<b>choose at least one species first</b>"
            return []
        self.progress.max, self.progress.value = len(pixels), 0
        results = []
        for x, y in pixels:
            self.status.value = f"fitting pixel ({x}, {y}) with {', '.join(species)} …"
            try:
                obs = pixel_observation(self.browser.cubes, x, y)
                result = fit_spectrum(obs, species, catalog=self.catalog, **self._settings())
            except SpectunerError as exc:
                self.status.value = f"<b>fit of pixel ({x}, {y}) failed:</b> {exc}"
                return results
            results.append(result)
            self.progress.value += 1
        self.result = results[-1]
        if tuple(pixels[-1]) == self.browser.pixel:
            self.browser.show_model(list(self.result.obs.freqs), list(self.result.model))
        self.table.value = result_table_html(self.result)
        self.status.value = (f"done: {len(results)} pixel(s), last ({pixels[-1][0]}, "
                             f"{pixels[-1][1]})")
        return results

    # ------------------------------------------------------------------ cube fit
    def start_cube_fit(self, *, workdir: str | Path | None = None, poll_s: float = 1.0,
                       **fit_cube_kwargs: Any) -> threading.Thread:
        """Fit the whole cube in a background thread (engine ``fit_cube`` on Dask);
        the map and progress bar update every ``poll_s`` seconds as chunks finish."""
        if self._cube_thread is not None and self._cube_thread.is_alive():
            raise WidgetInputError("a cube fit is already running")
        species = self.species
        if not species:
            self.status.value = "<b>choose at least one species first</b>"
            raise WidgetInputError("no species chosen for the cube fit")
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="fitcube_"))
        kwargs = dict(self._settings(), client=self.client, workdir=self.workdir,
                      progress=False, catalog=self.catalog)
        kwargs.update(fit_cube_kwargs)
        self.cube_result, self.cube_error = None, None
        self.status.value = f"cube fit of {', '.join(species)} started in {self.workdir}"

        def run() -> None:
            from spectuner_nb.cube.fit import fit_cube

            try:
                self.cube_result = fit_cube(self.browser.cubes, species, **kwargs)
            except Exception as exc:  # reported in the panel, never lost in a thread
                self.cube_error = exc

        self._cube_thread = threading.Thread(target=run, name="spectuner-fit-cube", daemon=True)
        self._cube_thread.start()
        watcher = threading.Thread(target=self._watch, args=(poll_s,), daemon=True,
                                   name="spectuner-fit-cube-watch")
        watcher.start()
        return self._cube_thread

    def _watch(self, poll_s: float) -> None:
        start = time.monotonic()
        while True:
            alive = self._cube_thread is not None and self._cube_thread.is_alive()
            self.update_cube_map()
            if not alive:
                break
            time.sleep(poll_s)
        elapsed = time.monotonic() - start
        if self.cube_error is not None:
            self.status.value = f"<b>cube fit failed:</b> {self.cube_error}"
        else:
            self.status.value = f"cube fit finished in {elapsed:.1f} s ({self.workdir})"

    def update_cube_map(self) -> int:
        """Redraw the live map from the finished chunks; returns the pixels done."""
        pix, x = chunk_results(self.workdir)
        total = total_pixels(self.workdir)
        ny, nx = self.browser.cubes.shape
        image = np.full((ny, nx), np.nan)
        if pix.size:
            image.flat[pix] = x[:, 0, MAP_COLUMN]
            fresh = colour_mapper(image)
            self._cube_mapper.low, self._cube_mapper.high = fresh.low, fresh.high
        self.cube_map_source.data = {"image": [image]}
        if total:
            self.progress.max, self.progress.value = total, int(pix.size)
        return int(pix.size)

    def wait_cube_fit(self, timeout: float | None = None) -> Any:
        """Block until the background cube fit ends; returns its CubeFitResult (or raises)."""
        if self._cube_thread is not None:
            self._cube_thread.join(timeout)
        if self.cube_error is not None:
            raise self.cube_error
        self.update_cube_map()
        return self.cube_result
