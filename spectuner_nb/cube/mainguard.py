"""Detect a cube fit started from the top level of a script without a ``__main__`` guard.

Dask's local cluster starts its workers with the ``spawn`` method: each worker
re-imports the main script. A script that calls :func:`~spectuner_nb.cube.fit_cube`
at top level, outside ``if __name__ == "__main__":``, would start the fit again in
every worker, and the workers die ("Nanny failed to start"). :func:`unguarded_call`
finds that case, so the caller can fit in its own process instead.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from types import FrameType

__all__ = ["guarded_lines", "unguarded_call"]


def _is_main_test(node: ast.expr) -> bool:
    """True for ``__name__ == "__main__"`` (either order)."""
    if not (
        isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)
    ):
        return False
    sides = [node.left, node.comparators[0]]
    names = [s.id for s in sides if isinstance(s, ast.Name)]
    consts = [s.value for s in sides if isinstance(s, ast.Constant)]
    return names == ["__name__"] and consts == ["__main__"]


def guarded_lines(source: str) -> list[tuple[int, int]]:
    """(first, last) line numbers of the bodies of ``if __name__ == "__main__":`` blocks."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.If) and _is_main_test(node.test) and node.body:
            out.append((node.body[0].lineno, node.body[-1].end_lineno or node.body[-1].lineno))
    return out


def unguarded_call() -> str | None:
    """``"script.py:LINE"`` when the current call comes from the top level of the main
    script outside a ``__main__`` guard (workers would re-run it); None otherwise
    (interactive sessions, notebooks, ``python -c``, guarded calls, fork start method)."""
    import dask

    if dask.config.get("distributed.worker.multiprocessing-method", "spawn") == "fork":
        return None
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not path or not Path(path).is_file():
        return None
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_globals is vars(main) and frame.f_code.co_name == "<module>":
            break
        frame = frame.f_back
    if frame is None:
        return None
    line = frame.f_lineno
    try:
        blocks = guarded_lines(Path(path).read_text())
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return None
    if any(a <= line <= b for a, b in blocks):
        return None
    return f"{path}:{line}"
