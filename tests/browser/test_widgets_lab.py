"""Real-browser tests in JupyterLab: state after a page reload (bug 2) and click latency.

JupyterLab keeps the kernel across a page reload and asks it for every widget's
state; the plots must come back as they were (the clicked pixel's spectrum, the
channel map, the line markers and the fitted model), not as first drawn.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
import pytest

from .app_notebook import CELLS, write_app_notebook
from .bokeh_js import PIXEL_STATUS, click_pixel, source_column, wait_source
from .conftest import BROWSER_SIZE
from .server import CHROMIUM_FLAGS, LabServer, chromium_path

pytestmark = pytest.mark.browser

READY = ("import ipywidgets\nready = ipywidgets.HTML('ready')\nready.add_class('spectuner-ready')"
         "\ndisplay(ready)")


@pytest.fixture(scope="module")
def lab_page(tmp_path_factory, pw_driver):
    if chromium_path() is None:
        pytest.skip("chromium is not installed (scripts/test.sh installs it)")
    folder = tmp_path_factory.mktemp("lab")
    notebook = write_app_notebook(folder / "lab_app.ipynb", cells=CELLS[:2] + (READY,))
    server = LabServer(notebook, folder / "lab.log")
    server.start()
    try:
        context = pw_driver.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="chromium-"), executable_path=chromium_path(),
            args=list(CHROMIUM_FLAGS), headless=True, viewport=BROWSER_SIZE)
        page = context.new_page()
        page.goto(server.notebook_url("spectuner-test"), timeout=120_000)
        page.wait_for_selector("text=Kernel status: Idle", state="attached",
                               timeout=180_000)
        _run_all_cells(page)
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0",
                               timeout=120_000)
        page.notebook_url = server.notebook_url("spectuner-test").replace("?reset", "")
        page.notebook_path = notebook
        yield page
        context.close()
    finally:
        server.stop()


def _run_all_cells(page) -> None:
    """Run → Run All Cells, until the last cell's output appears. A click too early after the
    "Idle" status (kernel connection still settling) is sometimes lost: then it is repeated."""
    for attempt in range(3):
        page.wait_for_timeout(3000)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            page.wait_for_function(
                "() => document.querySelector('.jp-Notebook .jp-OutputArea-output') !== null",
                timeout=60_000)
            break
        except Exception:
            if attempt == 2:
                raise
    page.wait_for_selector(".spectuner-ready", timeout=600_000)


def test_pixel_click_latency(lab_page):
    click_pixel(lab_page, 22, 5)  # cold
    warm = [click_pixel(lab_page, x, 6) for x in (18, 19, 20, 21, 22)]
    print(f"\nJupyterLab pixel click → spectrum (warm): {', '.join(f'{t:.2f}' for t in warm)} s")
    assert min(warm) <= 0.5 and np.median(warm) <= 1.0  # median allows for a shared machine


def test_reload_keeps_plots(lab_page):
    """Bug 2: after a reload the plots show the current state, not the first drawing."""
    page = lab_page
    click_pixel(page, 22, 5)
    page.locator(".spectuner-map-kind button", has_text="channel").first.click()
    page.wait_for_function(
        "() => { for (const d of Bokeh.documents) for (const m of d.all_models)"
        " if (m.text && String(m.text).startsWith('channel')) return true; return false; }",
        timeout=30_000)
    page.locator(".spectuner-fit-button").first.click()
    page.wait_for_selector(".spectuner-fit-table table", timeout=300_000)
    wait_source(page, "model_0", "y", "v.length > 100")
    spectrum = source_column(page, "spectrum_0", "y")
    image = source_column(page, "map_image", "image")
    lines = source_column(page, "lines_0", "x")
    assert len(lines) > 0
    page.locator(".jp-InputPrompt").first.click()  # focus the notebook, command mode
    page.keyboard.press("Control+s")  # a reloaded page shows the saved outputs
    saved = page.notebook_path
    deadline = time.monotonic() + 60
    while "application/vnd.jupyter.widget-view+json" not in saved.read_text():
        assert time.monotonic() < deadline, "the notebook was not saved with its outputs"
        time.sleep(0.5)
    url = page.notebook_url
    context = page.context
    page.close()  # a reload: a new page of the same notebook, connecting to the same kernel
    page = context.new_page()
    page.goto(url, timeout=120_000)
    page.wait_for_selector(".spectuner-cube-browser", timeout=180_000)
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=120_000)
    wait_source(page, "spectrum_0", "y", "v.length > 0", timeout_ms=120_000)
    assert "(22, 5)" in page.inner_text(PIXEL_STATUS)
    assert source_column(page, "spectrum_0", "y") == spectrum
    assert source_column(page, "map_image", "image") == image
    assert source_column(page, "lines_0", "x") == lines
    assert len(source_column(page, "model_0", "y")) > 100
    assert source_column(page, "map_marker", "x") == [22]
