"""Every ``np.load`` in the package, the adapters, the benchmarks and the scripts says
``allow_pickle=False`` explicitly (issue 22): a file read never runs code it holds."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("spectuner_nb", "widgets", "casa_tasks", "benchmarks", "scripts", "tests")


def _unsafe_np_loads(source: str) -> list[int]:
    """Line numbers of ``np.load``/``numpy.load`` calls (any alias of numpy) in ``source``
    without a literal ``allow_pickle=False``."""
    tree = ast.parse(source)
    aliases = {"numpy"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names if a.name == "numpy"}
    out = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "load"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in aliases
        ):
            flag = [k.value for k in node.keywords if k.arg == "allow_pickle"]
            if not (flag and isinstance(flag[0], ast.Constant) and flag[0].value is False):
                out.append(node.lineno)
    return out


def test_the_scan_finds_unsafe_loads():
    source = (
        "import numpy as xp\nxp.load('a.npz')\nxp.load('b.npz', allow_pickle=True)\n"
        "xp.load('c.npz', allow_pickle=False)\n"
    )
    assert _unsafe_np_loads(source) == [2, 3]


def test_every_np_load_refuses_pickles_explicitly():
    files = sorted(
        p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py") if ".venv" not in p.parts
    )
    assert len(files) > 50
    unsafe = [
        f"{p.relative_to(ROOT)}:{line}"
        for p in files
        for line in _unsafe_np_loads(p.read_text(encoding="utf-8"))
    ]
    assert unsafe == []
