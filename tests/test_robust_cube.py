"""Cube fits refuse bad settings before any work, never mix runs, and never half-write
(issue 22 items 1–5, 10, 12, 13): each test injects the fault and asserts the typed
refusal or the recomputation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from spectuner_nb.cube import CubeFitResult, CubeSet, PreprocessConfig, fit_cube
from spectuner_nb.cube.mainguard import guarded_lines
from spectuner_nb.cube.preprocessing import Preprocessed, preprocess
from spectuner_nb.cube.results import (
    FLAG_FAILED,
    FLAG_NOT_CONVERGED,
    FLAG_NOTHING_TO_FIT,
    STATUS_NOTHING_TO_FIT,
)
from spectuner_nb.cube.store import ResultStore
from spectuner_nb.errors import (
    CubeError,
    NothingToFitError,
    ObservationError,
    ResultsError,
    WorkdirBusyError,
)

FAST = {
    "loss": "chi2",
    "init": "random",
    "n_init": 6,
    "select": PreprocessConfig(n_cut=1),
    "progress": False,
    "client": False,
}
MASK = np.eye(4, dtype=bool)


@pytest.fixture(scope="module")
def cubes(small_synthetic_cube):
    return small_synthetic_cube.cubes


def _scaled(cubes: CubeSet, factor: np.ndarray) -> CubeSet:
    """The cubes with each pixel's spectrum multiplied by ``factor`` (ny, nx)."""
    windows = [replace(w, data=(w.data * factor[None]).astype(np.float32)) for w in cubes.windows]
    return CubeSet(windows=windows, wcs=cubes.wcs, v_lsr=cubes.v_lsr, header=cubes.header)


# ------------------------------------------------------------------ item 1 / 12: settings
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"optimizer": "adam"}, "optimizer"),
        ({"n_init": 0}, "n_init"),
        ({"n_init": 2.7}, "n_init"),
        ({"n_init": 10**7}, "n_init"),
        ({"seed": -1}, "seed"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"species": []}, "species"),
        ({"fit_kwargs": {"bounds": {"T_ex": (500.0, 10.0)}}}, "lower < upper"),
        ({"fit_kwargs": {"n_components": 2}}, "fit_kwargs"),
        ({"init": "best"}, "init"),
        ({"v_lsr": -48_500.0}, "m/s"),
    ],
)
def test_bad_settings_refused_before_loading(tmp_path, kwargs, match):
    args = {"species": ["CH3OH"], **FAST, **kwargs}
    species = args.pop("species")
    t0 = time.perf_counter()
    with pytest.raises((CubeError, ObservationError), match=match):
        fit_cube(tmp_path / "no_such_cube.fits", species, workdir=tmp_path / "w", **args)
    assert time.perf_counter() - t0 < 2.0
    assert not (tmp_path / "w").exists()  # nothing written


def test_mask_shape_and_workdir_file_refused(cubes, tmp_path):
    with pytest.raises(CubeError, match="mask has shape"):
        fit_cube(cubes, "CH3OH", mask=np.ones((3, 3), bool), workdir=tmp_path / "w", **FAST)
    (tmp_path / "file").write_text("x")
    with pytest.raises(CubeError, match="not a directory"):
        fit_cube(cubes, "CH3OH", workdir=tmp_path / "file", **FAST)


def test_species_without_lines_refused_before_fitting(cubes, tmp_path):
    with pytest.raises(NothingToFitError, match="no line of CO"):
        fit_cube(cubes, ["CH3OH", "CO"], workdir=tmp_path, **FAST)
    assert not (tmp_path / "chunks").exists()


# ------------------------------------------------------------------ item 5: not counted as fitted
def test_unfittable_pixels_get_a_reason_and_are_not_fitted(cubes, tmp_path):
    factor = np.ones(cubes.shape)
    factor[1, 1] = 1e6  # lines 10⁶× too bright
    res = fit_cube(_scaled(cubes, factor), "CH3OH", workdir=tmp_path / "w", mask=MASK, **FAST)
    assert res.status[1, 1] == STATUS_NOTHING_TO_FIT
    assert res.flags[1, 1] & FLAG_FAILED and res.flags[1, 1] & FLAG_NOTHING_TO_FIT
    assert "T_ex" in res.reasons[1, 1] and "NothingToFitError" in res.reasons[1, 1]
    assert np.isnan(res.loss[1, 1]) and res.n_fitted == 3
    assert "nothing to fit" in res.summary()
    res.write(tmp_path / "maps")
    back = CubeFitResult.read(tmp_path / "maps")
    assert back.reasons[1, 1] == res.reasons[1, 1] and back.n_fitted == 3


def test_cli_exits_nonzero_when_nothing_was_fitted(small_synthetic_cube, tmp_path, capsys):
    from astropy.io import fits

    from spectuner_nb.cli import main

    path = small_synthetic_cube.write(tmp_path)["cubes"][0]
    with fits.open(path) as hdul:
        hdul[0].data = hdul[0].data * 1e6
        hdul.writeto(tmp_path / "bright.fits")
    code = main(
        [
            "fit-cube",
            str(tmp_path / "bright.fits"),
            "--species",
            "CH3OH",
            "--out",
            str(tmp_path / "out"),
            "--no-dask",
            "--init",
            "random",
            "--n-init",
            "4",
            "--n-cut",
            "1",
            "--quiet",
        ]
    )
    assert code == 1
    captured = capsys.readouterr()
    assert "no pixel was fitted" in captured.err and "nothing to fit" in captured.out
    assert CubeFitResult.read(tmp_path / "out").n_fitted == 0


def test_optimizer_stops_are_flagged(cubes, tmp_path):
    res = fit_cube(cubes, "CH3OH", workdir=tmp_path, mask=MASK, fit_kwargs={"maxiter": 1}, **FAST)
    assert np.all(res.flags[MASK] & FLAG_NOT_CONVERGED)
    assert res.n_fitted == 4 and "before converging" in res.summary()


# ------------------------------------------------------------------ item 8: pinned parameters
@pytest.mark.parametrize("loss", ["chi2", "pm"])
def test_cube_errors_cover_free_parameters_only(cubes, tmp_path, loss):
    """log10 Δv held within 0.002 dex by ``bounds``: pinned, not measured (NaN error) with
    either loss; the other errors stay finite where the fit has them."""
    pinned = {"delta_v": (0.600, 0.602)}
    res = fit_cube(
        cubes,
        "CH3OH",
        workdir=tmp_path,
        mask=MASK,
        fit_kwargs={"bounds": pinned},
        **dict(FAST, loss=loss),
    )
    fitted = res.status[MASK] == 0
    assert fitted.sum() >= 3
    err = res.x_err[MASK][fitted, 0]
    assert np.all(np.isnan(err[:, 3]))
    assert np.isfinite(err[:, [0, 2, 4]]).any()


# ------------------------------------------------------------------ item 2: run identity
class _Catalog:
    """A catalog whose CH3OH A_ul are scaled (same line count)."""

    def __init__(self, scale: float):
        from spectuner_nb.catalog import default_cache

        self.inner, self.scale = default_cache(), scale

    def lines(self, species, windows):
        ll = self.inner.lines(species, windows)
        return replace(ll, A_ul=ll.A_ul * self.scale)


def test_resume_refuses_other_line_lists(cubes, tmp_path):
    fit_cube(cubes, "CH3OH", workdir=tmp_path, mask=MASK, catalog=_Catalog(1.0), **FAST)
    with pytest.raises(CubeError, match=r"lines.*--restart"):
        fit_cube(cubes, "CH3OH", workdir=tmp_path, mask=MASK, catalog=_Catalog(1.5), **FAST)


class _PolicyA:
    def propose(self, obs, species, n_init, seed=None):
        rng = np.random.default_rng(seed)
        centre = np.array([-0.05, 150.0, 17.0, 0.6, 0.0])
        return centre + 0.01 * rng.standard_normal((len(obs), n_init, len(species), 5))


class _PolicyB(_PolicyA):
    pass


def test_resume_refuses_other_policy_weights(cubes, tmp_path):
    fit_cube(cubes, "CH3OH", workdir=tmp_path, mask=MASK, **dict(FAST, init=_PolicyA()))
    with pytest.raises(CubeError, match="policy"):
        fit_cube(cubes, "CH3OH", workdir=tmp_path, mask=MASK, **dict(FAST, init=_PolicyB()))


def test_policy_digest_covers_the_weights():
    import torch

    from spectuner_nb.cube.validate import policy_digest
    from spectuner_nb.policy import Policy

    policy = Policy.load()
    before = policy_digest(policy)
    with torch.no_grad():
        next(policy.network.parameters()).add_(1e-6)
    try:
        assert policy_digest(policy) != before
    finally:
        with torch.no_grad():
            next(policy.network.parameters()).sub_(1e-6)


# ------------------------------------------------------------------ item 3: lock, chunk identity
def test_second_run_on_a_busy_workdir_is_refused(cubes, tmp_path):
    first = ResultStore(tmp_path, {"run": 1}, np.arange(4), [(0, 2), (2, 4)])
    first.write(0, {"x": np.zeros(2)})
    with pytest.raises(WorkdirBusyError, match="in use"):
        fit_cube(cubes, "CH3OH", workdir=tmp_path, resume=False, mask=MASK, **FAST)
    assert first.read(0)["x"].shape == (2,)  # the first run's files are intact
    first.close()


def test_chunks_of_another_run_are_not_adopted(tmp_path):
    a = ResultStore(tmp_path / "a", {"species": "CH3OH"}, np.arange(4), [(0, 2), (2, 4)])
    a.write(0, {"x": np.ones(2)})
    a.close()
    b = ResultStore(tmp_path / "b", {"species": "CH3OCHO"}, np.arange(4), [(0, 2), (2, 4)])
    b.close()
    (tmp_path / "b" / "chunks" / "c000000.npz").write_bytes(
        (tmp_path / "a" / "chunks" / "c000000.npz").read_bytes()
    )
    with ResultStore(tmp_path / "b", {"species": "CH3OCHO"}, np.arange(4), [(0, 2), (2, 4)]) as b:
        assert b.pending() == [0, 1]
        assert not (b.chunk_dir / "c000000.npz").exists()


def test_damaged_chunk_is_recomputed(cubes, tmp_path):
    ref = fit_cube(cubes, "CH3OH", workdir=tmp_path, mask=MASK, chunk_size=2, **FAST)
    chunk = tmp_path / "chunks" / "c000001.npz"
    chunk.write_bytes(chunk.read_bytes()[:100])  # truncated
    again = fit_cube(cubes, "CH3OH", workdir=tmp_path, mask=MASK, chunk_size=2, **FAST)
    for name in ("x", "x_err", "loss", "flags"):
        np.testing.assert_array_equal(getattr(ref, name), getattr(again, name))


# ------------------------------------------------------------------ item 4: atomic maps
def test_interrupted_write_is_refused_not_mixed(cubes, tmp_path, monkeypatch):
    res = fit_cube(cubes, "CH3OH", workdir=tmp_path / "w", mask=MASK, **FAST)
    folder = tmp_path / "maps"
    res.write(folder)
    other = replace(res, x=res.x + 0.01)
    real_replace, calls = os.replace, []

    def dying_replace(src, dst):  # the process "dies" after 8 of the renames
        calls.append(dst)
        if len(calls) > 8:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        other.write(folder)
    monkeypatch.setattr(os, "replace", real_replace)
    with pytest.raises(ResultsError, match="complete"):
        CubeFitResult.read(folder)
    assert all(p.stat().st_size > 0 for p in folder.glob("*.fits"))
    other.write(folder)  # a complete write repairs it
    np.testing.assert_array_equal(CubeFitResult.read(folder).x, other.x)


def test_mixed_folder_is_refused(cubes, tmp_path):
    res = fit_cube(cubes, "CH3OH", workdir=tmp_path / "w", mask=MASK, **FAST)
    res.write(tmp_path / "a")
    replace(res, x=res.x + 0.01).write(tmp_path / "b")
    (tmp_path / "b" / "CH3OH_T_ex.fits").write_bytes(
        (tmp_path / "a" / "CH3OH_T_ex.fits").read_bytes()
    )
    with pytest.raises(ResultsError, match="mixed.*CH3OH_T_ex.fits"):
        CubeFitResult.read(tmp_path / "b")
    info = json.loads((tmp_path / "a" / "result.json").read_text())
    assert "CH3OH_T_ex.fits" in info["files"]


# ------------------------------------------------------------------ item 10: preprocessing cache
def test_truncated_preprocessing_cache_is_recomputed(cubes, tmp_path, caplog):
    config = PreprocessConfig(n_cut=1)
    first = preprocess(cubes, config, cache=tmp_path)
    (cached,) = tmp_path.glob("*.npz")
    cached.write_bytes(cached.read_bytes()[:200])
    with pytest.raises(CubeError, match=str(cached.name)):
        Preprocessed.load(cached)
    again = preprocess(cubes, config, cache=tmp_path)
    np.testing.assert_array_equal(first.reason, again.reason)
    assert "recomputing" in caplog.text
    Preprocessed.load(cached)  # rewritten whole


def test_concurrent_cache_writers_do_not_collide(cubes, tmp_path):
    pre = preprocess(cubes, PreprocessConfig(n_cut=1), cache=False)
    errors = []

    def save():
        try:
            for _ in range(20):
                pre.save(tmp_path / "same.npz")
        except Exception as exc:  # noqa: BLE001 - any collision is the failure asserted
            errors.append(exc)

    threads = [threading.Thread(target=save) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and not list(tmp_path.glob(".*tmp"))
    np.testing.assert_array_equal(Preprocessed.load(tmp_path / "same.npz").reason, pre.reason)


# ------------------------------------------------------------------ item 13: unguarded script
def test_main_guard_blocks_are_found():
    source = "import x\nif __name__ == '__main__':\n    run()\n    more()\nrun()\n"
    assert guarded_lines(source) == [(3, 4)]
    assert guarded_lines("if '__main__' == __name__:\n    go()\n") == [(2, 2)]


@pytest.mark.slow
def test_unguarded_script_falls_back_to_this_process(small_synthetic_cube, tmp_path):
    path = small_synthetic_cube.write(tmp_path)["cubes"][0]
    script = tmp_path / "user_script.py"
    script.write_text(
        "import numpy as np\n"
        "from spectuner_nb.cube import PreprocessConfig, fit_cube\n"
        f"res = fit_cube({str(path)!r}, 'CH3OH', loss='chi2', init='random', n_init=4,\n"
        "               select=PreprocessConfig(n_cut=1), mask=np.eye(4, dtype=bool),\n"
        f"               progress=False, n_workers=1, workdir={str(tmp_path / 'w')!r})\n"
        "print('fitted', res.n_fitted)\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=dict(os.environ),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "fitted 4" in out.stdout
    assert "__main__" in out.stderr and "Nanny" not in out.stderr
    assert "Traceback" not in out.stderr


def test_refusal_tells_cli_users_about_restart(cubes, tmp_path):
    fit_cube(cubes, "CH3OH", workdir=tmp_path, mask=MASK, **FAST)
    with pytest.raises(CubeError, match="--restart"):
        fit_cube(cubes, "CH3OH", workdir=tmp_path, mask=MASK, seed=3, **FAST)
