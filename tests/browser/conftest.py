"""Browser-test fixtures: one Voilà server and one chromium page for the whole session.

The served notebook is written from :mod:`tests.browser.app_notebook`; the page is
loaded once and shared by every test in tests/browser (they run in file order).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from .app_notebook import write_app_notebook
from .server import CHROMIUM_FLAGS, VoilaServer, chromium_path

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"
LOAD_TIMEOUT_MS = 420_000  # first run after an engine change recompiles numba kernels


@pytest.fixture(scope="session")
def voila_url(tmp_path_factory):
    """URL of a Voilà server rendering the widget-test notebook."""
    if chromium_path() is None:
        pytest.skip("chromium is not installed (scripts/test.sh installs it)")
    folder = tmp_path_factory.mktemp("voila")
    notebook = write_app_notebook(folder / "widgets_app.ipynb")
    server = VoilaServer(notebook, folder / "voila.log")
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def page(voila_url):
    """A chromium page with the rendered app (all widgets present)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="chromium-"), executable_path=chromium_path(),
            args=list(CHROMIUM_FLAGS), headless=True, viewport={"width": 1500, "height": 1100},
        )
        pg = context.new_page()
        messages: list[str] = []
        pg.on("console", lambda msg: messages.append(msg.text))
        start = time.monotonic()
        pg.goto(voila_url, timeout=LOAD_TIMEOUT_MS)
        try:
            pg.wait_for_selector(".spectuner-ready", timeout=LOAD_TIMEOUT_MS, state="attached")
        except Exception as exc:  # show what the page says (a cell error, usually)
            text = pg.inner_text("body")[-4000:]
            raise RuntimeError(f"the widget notebook did not finish rendering:\n{text}") from exc
        pg.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0",
                             timeout=LOAD_TIMEOUT_MS)
        pg.console_messages = messages  # type: ignore[attr-defined]
        pg.load_seconds = time.monotonic() - start  # type: ignore[attr-defined]
        yield pg
        context.close()


@pytest.fixture(scope="session")
def screenshot_dir():
    """docs/images, where the widget screenshots go."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
