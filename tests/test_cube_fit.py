"""fit_cube end to end on small synthetic cubes: maps, FITS headers, resume after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from spectuner_nb.cube import CubeFitResult, PreprocessConfig, fit_cube, make_synthetic_cube
from spectuner_nb.cube.results import FLAG_NOT_FITTED
from spectuner_nb.errors import CubeError

WINDOW = [(218150.0, 218550.0)]
FAST = {
    "loss": "chi2",
    "init": "random",
    "n_init": 8,
    "select": PreprocessConfig(n_cut=1),
    "progress": False,
}


@pytest.fixture(scope="module")
def synth():
    return make_synthetic_cube(
        ["CH3OH"],
        windows_mhz=WINDOW,
        n_channels=240,
        shape=(4, 4),
        continuum_peak_k=10.0,
        v_lsr=-20.0,
    )


def _maps_equal(a: CubeFitResult, b: CubeFitResult) -> None:
    for name in ("x", "x_err", "x_spread", "loss", "chi2", "nfev", "flags"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_fit_cube_maps_fits_and_roundtrip(synth, tmp_path):
    mask = np.ones((4, 4), bool)
    mask[0, 0] = False
    res = fit_cube(
        synth.cubes, "CH3OH", client=False, workdir=tmp_path / "w", chunk_size=5, mask=mask, **FAST
    )
    assert res.species == ["CH3OH"] and res.shape == (4, 4)
    assert res.flags[0, 0] & FLAG_NOT_FITTED and np.isnan(res.loss[0, 0])
    fitted = np.ones((4, 4), bool)
    fitted[0, 0] = False
    for par in ("theta", "eta", "T_ex", "N_tot", "delta_v", "v_off"):
        m = res.map("CH3OH", par)
        assert np.all(np.isfinite(m[fitted])) and np.isnan(m[0, 0])
    assert np.all(res.nfev[fitted] >= 8)
    # NaN where the data leave a parameter unconstrained within its bounds (σ > range)
    assert np.isfinite(res.error_map("CH3OH", "N_tot")[fitted]).sum() >= 10
    assert np.all(np.isnan(res.error_map("CH3OH", "T_ex", kind="spread")))  # random init
    assert res.meta["v_lsr"] == -20.0 and res.meta["n_pixels"] == 15
    paths = res.write(tmp_path / "maps")
    with fits.open(tmp_path / "maps" / "CH3OH_N_tot.fits") as hdul:
        h = hdul[0].header
        assert h["BUNIT"] == "cm-2" and h["SPECIES"] == "CH3OH" and h["PARAM"] == "N_tot"
        assert h["CTYPE1"] == "RA---SIN" and h["CTYPE2"] == "DEC--SIN" and h["NAXIS"] == 2
        assert h["LOSS"] == "chi2" and h["VELO-LSR"] == -20000.0
        assert [x.name for x in hdul] == ["PRIMARY", "ERR_HESSIAN", "ERR_SPREAD"]
        np.testing.assert_allclose(hdul[0].data, res.map("CH3OH", "N_tot"), rtol=1e-6)
    with fits.open(tmp_path / "maps" / "CH3OH_T_ex.fits") as hdul:
        assert hdul[0].header["BUNIT"] == "K"
    with fits.open(tmp_path / "maps" / "flags.fits") as hdul:
        assert hdul[0].data[0, 0] == FLAG_NOT_FITTED and "FLAG1" in hdul[0].header
    assert len(paths) == 6 + 5 + 2  # maps, loss/chi2/nfev/flags/status, npz + json
    back = CubeFitResult.read(tmp_path / "maps")
    _maps_equal(res, back)
    model = res.model_cubes(synth.cubes)
    assert model[0].shape == (240, 4, 4) and np.isnan(model[0][:, 0, 0]).all()
    assert np.nanmax(model[0]) > 1.0
    assert res.plot() is not None


def test_workdir_of_another_run_is_refused(synth, tmp_path):
    fit_cube(
        synth.cubes,
        "CH3OH",
        client=False,
        workdir=tmp_path,
        chunk_size=8,
        mask=np.eye(4, dtype=bool),
        **FAST,
    )
    with pytest.raises(CubeError, match="seed"):
        fit_cube(
            synth.cubes,
            "CH3OH",
            client=False,
            workdir=tmp_path,
            chunk_size=8,
            mask=np.eye(4, dtype=bool),
            seed=5,
            **FAST,
        )


def test_neighbour_init(synth, tmp_path):
    kw = dict(FAST, init="neighbour")
    res = fit_cube(
        synth.cubes, "CH3OH", client=False, workdir=tmp_path, chunk_size=4, neighbour_stride=2, **kw
    )
    assert res.meta["init"] in ("neighbour", "neighbour-random")
    assert np.all(np.isfinite(res.map("CH3OH", "T_ex")))


@pytest.mark.slow
def test_kill9_then_resume_gives_identical_maps(tmp_path):
    """A CLI run on Dask is killed with SIGKILL mid-run, then resumed: same maps as a clean run."""
    synth = make_synthetic_cube(["CH3OH"], windows_mhz=WINDOW, n_channels=240, shape=(6, 6))
    files = synth.write(tmp_path / "data")
    out, work = tmp_path / "out", tmp_path / "out" / "work"
    cmd = [
        sys.executable,
        "-m",
        "spectuner_nb.cli",
        "fit-cube",
        *map(str, files["cubes"]),
        "--continuum",
        *map(str, files["continuum"]),
        "--species",
        "CH3OH",
        "--out",
        str(out),
        "--loss",
        "chi2",
        "--init",
        "random",
        "--n-init",
        "8",
        "--chunk-size",
        "2",
        "--n-cut",
        "1",
        "--workers",
        "1",
        "--quiet",
    ]
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    chunks = work / "chunks"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if chunks.exists() and len(list(chunks.glob("c*.npz"))) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its Dask workers, at once
    proc.wait()
    done_before = {p.name: p.read_bytes() for p in chunks.glob("c*.npz")}
    n_chunks = 18
    assert 2 <= len(done_before) < n_chunks
    assert not (out / "CH3OH_T_ex.fits").exists()

    resumed = fit_cube(
        files["cubes"],
        "CH3OH",
        continuum=files["continuum"],
        client=False,
        workdir=work,
        chunk_size=2,
        **FAST,
    )
    after = {p.name: p.read_bytes() for p in chunks.glob("c*.npz")}
    assert len(after) == n_chunks
    assert all(after[name] == data for name, data in done_before.items())  # not refitted
    clean = fit_cube(
        files["cubes"],
        "CH3OH",
        continuum=files["continuum"],
        client=False,
        workdir=tmp_path / "clean",
        chunk_size=2,
        **FAST,
    )
    _maps_equal(resumed, clean)
    fitted = (resumed.flags & FLAG_NOT_FITTED) == 0
    assert fitted.sum() == 36 and np.all(np.isfinite(resumed.loss[fitted]))
    assert Path(work / "manifest.json").exists()


class _FakePolicy:
    """Stands in for a trained checkpoint: records the batches it is asked for."""

    def __init__(self):
        self.calls = []

    def propose(self, obs, species, n_init, seed=None):
        self.calls.append(len(obs))
        rng = np.random.default_rng(seed)
        centre = np.array([-0.05, 150.0, 17.0, 0.6, 0.0])
        width = np.array([0.02, 20.0, 0.3, 0.05, 0.5])
        return centre + width * rng.standard_normal((len(obs), n_init, len(species), 5))


def test_policy_init_is_batched_per_chunk_and_gives_spread_maps(synth, tmp_path):
    fake = _FakePolicy()
    kw = dict(FAST, init=fake, n_init=16)
    res = fit_cube(synth.cubes, "CH3OH", client=False, workdir=tmp_path, chunk_size=6, **kw)
    assert fake.calls == [6, 6, 4]  # one batched call per chunk
    assert res.meta["init"] == "policy"
    spread = res.error_map("CH3OH", "T_ex", kind="spread")
    assert np.all((spread > 10) & (spread < 30))  # std of the 20 K proposal width


def test_species_not_detected_where_its_model_stays_below_the_noise(synth, tmp_path):
    from dataclasses import replace

    mask = np.eye(4, dtype=bool)
    res = fit_cube(
        synth.cubes, "CH3OH", client=False, workdir=tmp_path, chunk_size=8, mask=mask, **FAST
    )
    x = res.x.copy()
    x[1, 1, 0, 2] = 12.0  # log10 N at the lower bound: lines far below any noise
    faint = replace(res, x=x)
    peak = np.nanmax(res.model_cubes(synth.cubes)[0][:, 2, 2])
    det = faint.detected(synth.cubes, rms=0.1)
    assert det.shape == (1, 4, 4)
    assert det[0, 2, 2] and det[0, 0, 0] and not det[0, 1, 1]
    assert not det[0][~mask].any()  # pixels without a fit are not detections
    per_window = faint.detected(synth.cubes, rms=np.array([peak / 3.0]))
    assert not per_window[0, 2, 2]  # a peak of 3 rms is below the 4 rms threshold


def test_tie_runs_the_identification_tie_in_every_pixel(synth, tmp_path, monkeypatch):
    """``tie=True`` passes each pixel's χ² fit through ``ties.tie_unconstrained`` with the
    run's bounds, keeps what it returns, is part of the run identity, and needs χ²."""
    import spectuner_nb.ties as ties

    real, calls = ties.tie_unconstrained, []

    def spy(obs, names, lines, joint, settings, lent=None):
        calls.append(np.asarray(settings["bounds"]))
        out, tied = real(obs, names, lines, joint, settings, lent)
        out.x = out.x.copy()
        out.x[:, 4] = 0.123  # marks the returned fit
        return out, tied

    monkeypatch.setattr(ties, "tie_unconstrained", spy)
    mask = np.eye(4, dtype=bool)
    res = fit_cube(
        synth.cubes, "CH3OH", client=False, workdir=tmp_path, mask=mask, tie=True, **FAST
    )
    assert len(calls) == res.n_fitted == 4
    np.testing.assert_allclose(res.x[mask][:, 0, 4], 0.123)
    monkeypatch.setattr(ties, "TIE_RULES_REVISION", ties.TIE_RULES_REVISION + 1)
    with pytest.raises(CubeError, match="tie_rules"):  # the rules changed: not mixed
        fit_cube(synth.cubes, "CH3OH", client=False, workdir=tmp_path, mask=mask, tie=True, **FAST)
    with pytest.raises(CubeError, match="other run|--restart"):
        fit_cube(synth.cubes, "CH3OH", client=False, workdir=tmp_path, mask=mask, **FAST)
    with pytest.raises(CubeError, match="tie=True needs loss='chi2'"):
        fit_cube(synth.cubes, "CH3OH", client=False, **dict(FAST, loss="pm"), tie=True)
