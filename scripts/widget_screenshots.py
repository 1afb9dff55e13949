"""Screenshots of the widgets on the real W3(H2O) NOEMA cube, into docs/images/ (run by hand).

    python scripts/widget_screenshots.py [--out docs/images]

Serves a notebook with Voilà the product's way (spectuner_nb.widgets.serve), drives
Debian's chromium with Playwright, and saves: the cube browser (sky axes, beam,
spectrum with CH3OH and H2CO lines), the identification of pixel (15, 15) with the
spectra it is drawn on, the fit panel after a fit, the comparison of a peak-matching
and a χ² cube fit of the central 6×6 pixels, and the whole app. ``--only NAME …``
writes only those images. Needs the shared data (SPECTUNER_NB_SHARED_DATA) and chromium.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CELLS = (
    "from spectuner_nb.widgets import setup_notebook\nsetup_notebook()",
    """\
from spectuner_nb.settings import shared_data_dir
from spectuner_nb.widgets import SpectunerApp

cube = shared_data_dir() / "spectra/noema_core_wideX/W3H2O_WideX_ABD_center.fits"
app = SpectunerApp(cube, v_lsr=-48.0, species=["CH3OH", "H2CO"])
app.browser.select_pixel(15, 15)
app.identify_panel.identify_selected()
app.fit_panel.fit_selected()
app""",
    """\
import numpy as np

from spectuner_nb.cube.fit import fit_cube
from spectuner_nb.widgets import ComparisonView

mask = np.zeros(app.browser.cubes.shape, bool)
mask[12:18, 12:18] = True
fits = {loss: fit_cube(app.browser.cubes, ["CH3OH"], loss=loss, init="random", n_init=10,
                       client=False, select=False, mask=mask, progress=False, seed=0)
        for loss in ("pm", "chi2")}
view = ComparisonView(app.browser, {"peak matching": fits["pm"], "χ²": fits["chi2"]})
view.parameter_select.value = "T_ex"
view.show_pixel(15, 15)
view""",
    "import ipywidgets\nready = ipywidgets.HTML('')\nready.add_class('spectuner-ready')\n"
    "display(ready)",
)
SHOTS = (
    (".spectuner-cube-browser", "widgets_cube_browser.png"),
    ((".spectuner-cube-browser", ".spectuner-identify-panel"), "widgets_identify_panel.png"),
    (".spectuner-fit-panel", "widgets_fit_panel.png"),
    (".spectuner-comparison", "widgets_comparison.png"),
    (".spectuner-app", "widgets_app.png"),
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _shoot(page, selector: str | tuple[str, ...], path: Path) -> None:
    """Screenshot of the element ``selector``, or of the box holding the ``selector`` tuple's
    elements (from the top of the first to the bottom of the last)."""
    if isinstance(selector, str):
        page.locator(selector).first.screenshot(path=str(path))
        return
    boxes = [page.locator(s).first.bounding_box() for s in selector]  # viewport coordinates
    sx, sy = page.evaluate("() => [window.scrollX, window.scrollY]")
    top = min(b["y"] for b in boxes) + sy
    left = min(b["x"] for b in boxes) + sx
    clip = {
        "x": left,
        "y": top,
        "width": max(b["x"] + b["width"] for b in boxes) + sx - left,
        "height": max(b["y"] + b["height"] for b in boxes) + sy - top,
    }
    page.screenshot(path=str(path), clip=clip, full_page=True)


def main() -> int:
    import nbformat
    from playwright.sync_api import sync_playwright
    from spectuner_nb.widgets.serve import voila_command, voila_environment

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs/images"))
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="write only these images (e.g. widgets_identify_panel.png)",
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium is not installed (apt-get install chromium)")
    folder = Path(tempfile.mkdtemp(prefix="widget-shots-"))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(folder / "shots.ipynb"))
    port = _free_port()
    with open(folder / "voila.log", "w") as log:
        server = subprocess.Popen(
            voila_command("shots.ipynb", port=port),
            cwd=folder,
            env=voila_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while True:  # a TCP connection only: a GET would execute the notebook
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        sys.exit(f"voila did not start; see {folder / 'voila.log'}")
                    time.sleep(0.5)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=chromium,
                    headless=True,
                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
                )
                page = browser.new_page(viewport={"width": 1500, "height": 2600})
                page.goto(f"http://127.0.0.1:{port}/", timeout=900_000)
                page.wait_for_selector(".spectuner-ready", state="attached", timeout=900_000)
                page.wait_for_timeout(3000)  # let BokehJS paint
                for selector, name in SHOTS:
                    if args.only and name not in args.only:
                        continue
                    _shoot(page, selector, out / name)
                    print("wrote", out / name)
                browser.close()
        finally:
            server.terminate()
            server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
