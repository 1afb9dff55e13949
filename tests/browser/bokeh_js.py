"""Small JavaScript probes into the BokehJS documents of a page (for Playwright)."""

from __future__ import annotations

import time
from typing import Any

PIXEL_STATUS = ".spectuner-cube-browser .spectuner-pixel-status"
"""The cube browser's status line, which names the selected pixel."""

_FIND_MODEL = """
(name) => {
  for (const doc of Bokeh.documents) {
    for (const m of doc.all_models) { if (m.name === name) return m; }
  }
  return null;
}
"""


def source_column(page: Any, name: str, column: str) -> list:
    """The column ``column`` of the ColumnDataSource named ``name``, as a list."""
    return page.evaluate(
        f"""([name, col]) => {{ const m = ({_FIND_MODEL})(name);
        if (m === null) return null;
        const v = m.data instanceof Map ? m.data.get(col) : m.data[col];
        return Array.from(v ?? []); }}""",
        [name, column],
    )


def figure_point(page: Any, figure: str, x: float, y: float) -> tuple[float, float]:
    """Page coordinates (px) of data point (x, y) in the Bokeh figure named ``figure``."""
    pos = page.evaluate(
        """([name, x, y]) => {
        const v = [...Bokeh.index.all_views()].find(r => r.model.name === name && r.frame);
        v.el.scrollIntoView({block: "center"});
        const rect = v.el.getBoundingClientRect();
        return [rect.left + v.frame.x_scale.compute(x), rect.top + v.frame.y_scale.compute(y)];
        }""",
        [figure, x, y],
    )
    return float(pos[0]), float(pos[1])


def canvas_count(page: Any) -> int:
    """Number of Bokeh canvases drawn on the page (looking through shadow roots)."""
    return page.evaluate(
        """() => { let n = 0; const walk = (root) => { for (const el of root.querySelectorAll('*'))
        { if (el.tagName === 'CANVAS') n++; if (el.shadowRoot) walk(el.shadowRoot); } };
        walk(document); return n; }"""
    )


def axis_labels(page: Any) -> list[str]:
    """The axis labels of every Bokeh axis on the page."""
    return page.evaluate(
        """() => { const out = [];
        for (const d of Bokeh.documents) for (const m of d.all_models)
        { if (m.axis_label !== undefined && m.major_label_overrides !== undefined
              && m.axis_label) out.push(String(m.axis_label)); }
        return out; }"""
    )


def wait_source(
    page: Any, name: str, column: str, condition: str, timeout_ms: int = 30_000
) -> None:
    """Wait until JavaScript ``condition`` (an expression of the array ``v``) holds for the
    column ``column`` of the ColumnDataSource ``name``."""
    page.wait_for_function(
        f"""([name, col]) => {{ const m = ({_FIND_MODEL})(name); if (m === null) return false;
        const raw = m.data instanceof Map ? m.data.get(col) : m.data[col];
        const v = Array.from(raw ?? []); return ({condition}); }}""",
        arg=[name, column],
        timeout=timeout_ms,
    )


def click_pixel(page: Any, x: int, y: int, attempts: int = 3) -> float:
    """Click pixel (x, y) of the cube map; returns the seconds until the browser's status line
    names it (the spectrum is drawn in the same kernel update). A click the page dropped (no
    answer in 20 s, seen on a loaded machine right after rendering) is repeated."""
    for attempt in range(attempts):
        px, py = figure_point(page, "cube_map", x, y)
        start = time.perf_counter()
        page.mouse.click(px, py)
        try:
            page.wait_for_function(
                f"() => document.querySelector('{PIXEL_STATUS}').innerText.includes('({x}, {y})')",
                timeout=20_000,
            )
            return time.perf_counter() - start
        except Exception:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
