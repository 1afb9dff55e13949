"""Real-browser tests of the widgets: Voilà + Debian chromium driven by Playwright.

One server start and one page load for the session; the tests run in order and
save screenshots into docs/images/widgets_*.png.
"""

from __future__ import annotations

import pytest

from .bokeh_js import canvas_count, figure_point, source_column

pytestmark = pytest.mark.browser

STATUS = ".spectuner-pixel-status"


def test_cube_image_renders(page, screenshot_dir):
    assert canvas_count(page) >= 2
    image = source_column(page, "map_image", "image")
    assert image is not None and len(image) == 1
    page.screenshot(path=str(screenshot_dir / "widgets_cube_browser.png"), full_page=True)


def test_click_pixel_changes_spectrum(page, screenshot_dir):
    before = source_column(page, "spectrum_0", "y")
    x, y = figure_point(page, "cube_map", 22, 5)
    page.mouse.click(x, y)
    page.wait_for_function(
        f"() => document.querySelector('{STATUS}').innerText.includes('(22, 5)')",
        timeout=30_000,
    )
    after = source_column(page, "spectrum_0", "y")
    assert len(after) == len(before)
    assert after != before
    assert source_column(page, "map_marker", "x") == [22]
