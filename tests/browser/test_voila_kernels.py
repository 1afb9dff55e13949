"""Bug 8: Voilà page views must not leak kernels (each holds 330–500 MB with the engine).

The product's launcher (spectuner_nb.widgets.serve) is started with a short culling
delay; pages are opened and closed, and the kernels the server runs, with their
resident memory, are counted before and after.
"""

from __future__ import annotations

import tempfile
import time

import pytest

from .server import CHROMIUM_FLAGS, VoilaServer, chromium_path

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CELLS = (
    "from spectuner_nb.widgets import setup_notebook\nsetup_notebook()",
    "from spectuner_nb.cube.synthetic import make_synthetic_cube\n"
    "from spectuner_nb.widgets import CubeBrowser\n"
    "CubeBrowser(make_synthetic_cube(('CH3OH',), shape=(4, 4), n_channels=100))",
    "from IPython.display import HTML\nHTML(\"<div class='spectuner-ready'>ready</div>\")",
)
CULL_S = 10
N_VIEWS = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import nbformat

    if chromium_path() is None:
        pytest.skip("chromium is not installed (scripts/test.sh installs it)")
    folder = tmp_path_factory.mktemp("voila-kernels")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(folder / "kernels.ipynb"))
    srv = VoilaServer(folder / "kernels.ipynb", folder / "voila.log", cull_idle_s=CULL_S)
    srv.start()
    yield srv
    srv.stop()


def _rss_mb(server) -> float:
    import psutil

    total = 0
    for proc in server.kernel_processes():
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def _wait_no_kernels(server, timeout_s: float) -> float:
    start = time.monotonic()
    while server.kernel_processes():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(
                f"{len(server.kernel_processes())} kernels still run after "
                f"{timeout_s} s ({_rss_mb(server):.0f} MB)"
            )
        time.sleep(0.5)
    return time.monotonic() - start


def test_page_views_leave_no_kernel(server, pw_driver):
    before = _rss_mb(server)
    context = pw_driver.chromium.launch_persistent_context(
        tempfile.mkdtemp(prefix="chromium-"),
        executable_path=chromium_path(),
        args=list(CHROMIUM_FLAGS),
        headless=True,
    )
    peak = 0.0
    for _ in range(N_VIEWS):  # closed as a user closes a tab: Voilà's unload beacon
        page = context.new_page()
        page.goto(server.url, timeout=300_000)
        page.wait_for_selector(".spectuner-ready", timeout=300_000)
        peak = max(peak, _rss_mb(server))
        page.close(run_before_unload=True)
        shutdown_s = _wait_no_kernels(server, 30)
    page = context.new_page()  # a tab that dies without its beacon: culled when idle
    page.goto(server.url, timeout=300_000)
    page.wait_for_selector(".spectuner-ready", timeout=300_000)
    context.close()
    culled_s = _wait_no_kernels(server, CULL_S + 40)
    after = _rss_mb(server)
    print(
        f"\nVoilà kernels: RSS {before:.0f} MB before, {peak:.0f} MB with a page open, "
        f"{after:.0f} MB after {N_VIEWS + 1} views; last closed tab's kernel gone in "
        f"{shutdown_s:.1f} s, a dead tab's culled in {culled_s:.1f} s"
    )
    assert after == 0.0 and peak > 100.0
