"""Execute every notebook under notebooks/ (tutorials, CASA, training) so they never rot.

Runs with ``SPECTUNER_NB_SMOKE=1`` (each notebook shrinks its work), one fresh
kernel per notebook started in the notebook's folder, a per-cell timeout. The wall
time of each notebook is written to the JSON file named by ``SPECTUNER_NB_NOTEBOOK_TIMES``
when that variable is set (never into the repository otherwise).
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
NOTEBOOKS = [p for p in NOTEBOOKS if ".ipynb_checkpoints" not in p.parts]
TIMES_ENV = "SPECTUNER_NB_NOTEBOOK_TIMES"
CELL_TIMEOUT_S = 600
_times: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def record_times():
    """Write the run times once all notebooks of this module have run."""
    yield
    target = os.environ.get(TIMES_ENV)
    if _times and target:
        times_file = Path(target)
        times_file.parent.mkdir(parents=True, exist_ok=True)
        old = json.loads(times_file.read_text()) if times_file.exists() else {}
        old.update({name: round(t, 1) for name, t in _times.items()})
        times_file.write_text(json.dumps(dict(sorted(old.items())), indent=1) + "\n")


def _errors(nb) -> list[str]:
    return [
        f"{o.get('ename')}: {o.get('evalue')}"
        for cell in nb.cells
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "path", NOTEBOOKS, ids=[str(p.relative_to(ROOT / "notebooks")) for p in NOTEBOOKS]
)
def test_notebook_executes(path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    if path.name == "tutorial_casa_session.ipynb" and importlib.util.find_spec("casatasks") is None:
        pytest.skip("the casa extra is not installed")  # (importing casatasks here would
        # configure CASA in the test process; the notebook's kernel does it itself)
    monkeypatch.setenv("SPECTUNER_NB_SMOKE", "1")
    if not os.environ.get("CASASITECONFIG"):  # scripts/setup.sh sets it; offline CASA data
        monkeypatch.setenv("CASASITECONFIG", str(ROOT / "scripts" / "casasiteconfig.py"))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    _times[str(path.relative_to(ROOT))] = time.perf_counter() - start
    assert not _errors(nb)
    assert any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")
