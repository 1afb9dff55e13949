"""Resumable chunk store: atomic files, resume, mismatch detection."""

from __future__ import annotations

import numpy as np
import pytest

from spectuner_nb.cube.store import ResultStore
from spectuner_nb.errors import CubeError, ResultsError


def _store(path, resume=True, config=None):
    pixels = np.array([5, 3, 9, 1, 7])
    return ResultStore(path, config or {"seed": 1}, pixels, [(0, 2), (2, 4), (4, 5)], resume=resume)


def test_write_resume_and_read_all(tmp_path):
    s = _store(tmp_path)
    assert s.pending() == [0, 1, 2]
    s.write(1, {"x": np.array([[1.0], [2.0]])})
    (s.chunk_dir / ".c000000.npz.tmp123").write_bytes(b"partial")  # a killed writer
    s.close()
    s2 = _store(tmp_path)
    assert s2.done() == [1] and s2.pending() == [0, 2]
    assert not list(s2.chunk_dir.glob(".*"))
    with pytest.raises(ResultsError, match="not computed"):
        s2.read_all()
    s2.write(0, {"x": np.array([[0.0], [0.5]])})
    s2.write(2, {"x": np.array([[9.0]])})
    out = s2.read_all()
    np.testing.assert_array_equal(out["x"][:, 0], [0.0, 0.5, 1.0, 2.0, 9.0])
    np.testing.assert_array_equal(s2.pixel_order(), [5, 3, 9, 1, 7])


def test_mismatch_and_restart(tmp_path):
    s = _store(tmp_path)
    s.write(0, {"x": np.zeros((2, 1))})
    s.close()
    with pytest.raises(CubeError, match="seed"):
        _store(tmp_path, config={"seed": 2})
    fresh = _store(tmp_path, resume=False, config={"seed": 2})
    assert fresh.pending() == [0, 1, 2]


def test_layout_checked(tmp_path):
    with pytest.raises(CubeError, match="exactly once"):
        ResultStore(tmp_path, {}, np.arange(4), [(0, 2), (1, 4)])
    with pytest.raises(ResultsError, match="first axis"), _store(tmp_path) as store:
        store.write(0, {"x": np.zeros(3)})
