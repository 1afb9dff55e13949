"""The package's public surface: lazy top-level names, ``__all__`` in every public module,
policy inference apart from training, the moved training modules' old paths."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import spectuner_nb

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (ROOT / "spectuner_nb", ROOT / "widgets", ROOT / "casa_tasks")
MOVED = ("augment", "replay", "dataset", "train", "recipe", "workflow", "evaluate")
"""Training modules that moved from spectuner_nb.policy to spectuner_nb.policy.training."""


def _run(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_top_level_names_are_the_engine_objects():
    expected = {
        "Observation": "spectuner_nb.observation",
        "fit_spectrum": "spectuner_nb.fit",
        "FitResult": "spectuner_nb.results",
        "fit_cube": "spectuner_nb.cube",
        "CubeFitResult": "spectuner_nb.cube",
        "default_cache": "spectuner_nb.catalog",
        "TransitionCache": "spectuner_nb.catalog",
        "LineList": "spectuner_nb.catalog",
        "Policy": "spectuner_nb.policy",
    }
    expected.update(
        identify="spectuner_nb.identification", IdentificationResult="spectuner_nb.identification"
    )
    for name, module in expected.items():
        assert getattr(spectuner_nb, name) is getattr(importlib.import_module(module), name)
        assert name in spectuner_nb.__all__ and name in dir(spectuner_nb)
    with pytest.raises(AttributeError, match="no_such_name"):
        spectuner_nb.no_such_name  # noqa: B018


def test_importing_is_cheap_and_inference_does_not_import_training():
    out = _run(
        "import sys, spectuner_nb\n"
        "print(sorted(m for m in ('numba', 'torch', 'dask', 'scipy') if m in sys.modules))\n"
        "from spectuner_nb.policy import Policy\n"
        "print(any(m.startswith('spectuner_nb.policy.training') for m in sys.modules))"
    )
    assert out.split() == ["[]", "False"]


def _module_files():
    for package in PACKAGES:
        for path in sorted(package.rglob("*.py")):
            rel = path.relative_to(package)
            if any(part.startswith("_") and part != "__init__.py" for part in rel.parts):
                continue  # private modules (_lte_kernels.py, ...)
            if path.parent.name == "policy" and path.stem in MOVED:
                continue  # re-export shims of the old paths
            yield path


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_every_public_module_declares_all():
    missing, unknown = [], []
    for path in _module_files():
        tree = ast.parse(path.read_text())
        declared = [
            node
            for node in tree.body
            if isinstance(node, (ast.Assign, ast.AnnAssign))
            and "__all__" in ast.unparse(node).split("=")[0]
        ]
        if not declared:
            missing.append(str(path.relative_to(ROOT)))
            continue
        value = declared[0].value
        if not isinstance(value, (ast.List, ast.Tuple)):
            continue  # computed (the package's own lazy list)
        defined = _top_level_names(tree)
        unknown += [
            f"{path.relative_to(ROOT)}: {e.value}"
            for e in value.elts
            if isinstance(e, ast.Constant) and e.value not in defined
        ]
    assert not missing, f"modules without __all__: {missing}"
    assert not unknown, f"__all__ names not defined: {unknown}"


@pytest.mark.parametrize("name", MOVED)
def test_old_training_paths_still_import(name):
    new = importlib.import_module(f"spectuner_nb.policy.training.{name}")
    sys.modules.pop(f"spectuner_nb.policy.{name}", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = importlib.import_module(f"spectuner_nb.policy.{name}")
    assert old is new
    assert any(
        issubclass(w.category, DeprecationWarning) and "moved" in str(w.message) for w in caught
    )


def test_smoke_mode_is_an_argument_not_the_environment(monkeypatch, tmp_path):
    from spectuner_nb.policy.training import workflow

    monkeypatch.setenv("SPECTUNER_NB_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SPECTUNER_NB_POLICY_WORKDIR", raising=False)
    monkeypatch.setenv("SPECTUNER_NB_SMOKE", "1")
    assert workflow.workdir().name == "policy_training"
    assert workflow.workdir(smoke=True).name == "policy_smoke"
    assert not hasattr(workflow, "smoke_mode")
