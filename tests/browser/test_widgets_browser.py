"""Real-browser tests of the widgets: Voilà + Debian chromium driven by Playwright.

One server start and one page load for the session; the tests run in file order
on the same page and save screenshots into docs/images/widgets_*.png.
"""

from __future__ import annotations

import pytest

from .bokeh_js import canvas_count, figure_point, source_column

pytestmark = pytest.mark.browser

STATUS = ".spectuner-cube-browser .spectuner-pixel-status"


def _shot(page, selector: str, path) -> None:
    page.locator(selector).first.screenshot(path=str(path))


def test_cube_image_renders(page, screenshot_dir):
    assert canvas_count(page) >= 6  # maps, spectra, live cube map, comparison maps
    image = source_column(page, "map_image", "image")
    assert image is not None and len(image) == 1
    _shot(page, ".spectuner-cube-browser", screenshot_dir / "widgets_cube_browser.png")


def test_click_pixel_changes_spectrum(page, screenshot_dir):
    before = source_column(page, "spectrum_0", "y")
    x, y = figure_point(page, "cube_map", 22, 5)
    page.mouse.click(x, y)
    page.wait_for_function(
        f"() => document.querySelector('{STATUS}').innerText.includes('(22, 5)')",
        timeout=30_000,
    )
    after = source_column(page, "spectrum_0", "y")
    assert len(after) == len(before) == 400
    assert after != before
    assert source_column(page, "map_marker", "x") == [22]
    _shot(page, ".spectuner-cube-browser", screenshot_dir / "widgets_pixel_clicked.png")


def test_selecting_species_draws_lines(page, screenshot_dir):
    assert source_column(page, "lines_0", "x") == []
    select = page.locator(".spectuner-species-select select").first
    assert "explains" in select.locator("option").all_inner_texts()[0]
    page.locator(".spectuner-species-search input").first.fill("ch3oh")
    page.wait_for_function(
        """() => { const o = [...document.querySelectorAll('.spectuner-species-select option')];
        return o.length > 0 && o.every(e => e.innerText.startsWith('CH3OH')); }""",
        timeout=30_000,
    )
    select.select_option(index=0)
    page.wait_for_function(
        "() => document.querySelector('.spectuner-species-chosen').innerText.includes('CH3OH')",
        timeout=30_000,
    )
    page.wait_for_function(
        """() => { for (const d of Bokeh.documents) for (const m of d.all_models)
        if (m.name === 'lines_0') { const x = m.data instanceof Map ? m.data.get('x') : m.data.x;
        return x.length > 0; } return false; }""",
        timeout=30_000,
    )
    assert len(source_column(page, "lines_0", "x")) > 0
    _shot(page, ".spectuner-app", screenshot_dir / "widgets_species_lines.png")


def test_fit_draws_model_and_fills_table(page, screenshot_dir):
    assert source_column(page, "model_0", "y") == []
    page.locator(".spectuner-fit-button").first.click()
    page.wait_for_selector(".spectuner-fit-table table", timeout=180_000)
    table = page.inner_text(".spectuner-fit-table")
    assert "CH3OH" in table and "nfev" in table
    model = source_column(page, "model_0", "y")
    assert len(model) > 100
    _shot(page, ".spectuner-fit-panel", screenshot_dir / "widgets_fit_panel.png")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": 2000})  # Voilà scrolls inside
    page.evaluate("() => document.querySelector('.spectuner-app').scrollIntoView()")
    _shot(page, ".spectuner-app", screenshot_dir / "widgets_app.png")
    page.set_viewport_size(size)


def test_comparison_shows_three_maps(page, screenshot_dir):
    for k in range(3):
        image = source_column(page, f"comparison_{k}", "image")
        assert image is not None and len(image) == 1
    for k in (1, 2):
        assert source_column(page, f"difference_{k}", "image") is not None
    x, y = figure_point(page, "comparison_0_figure", 2, 2)
    page.mouse.click(x, y)
    page.wait_for_function(
        "() => document.querySelector('.spectuner-comparison-status').innerText"
        ".includes('model spectra overlaid')",
        timeout=60_000,
    )
    _shot(page, ".spectuner-comparison", screenshot_dir / "widgets_comparison.png")
