"""``spectuner-nb identify`` on a synthetic cube region and on a text spectrum."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from spectuner_nb.cli import main
from spectuner_nb.cube.results import CubeFitResult
from spectuner_nb.cube.synthetic import make_synthetic_cube
from spectuner_nb.identification import IdentificationResult
from spectuner_nb.mock import mock_mixture

POOL = ["CH3OH", "CH3OCHO", "C2H5CN", "HC3N", "OCS", "H2CO", "SO2", "CH3CN"]


@pytest.fixture(scope="module")
def small_cube(tmp_path_factory):
    """A 3 × 3 synthetic cube of CH3OH and CH3OCHO, one 218 GHz window, no continuum."""
    synth = make_synthetic_cube(
        ["CH3OH", "CH3OCHO"],
        windows_mhz=[(218150.0, 218550.0)],
        n_channels=400,
        shape=(3, 3),
        continuum_peak_k=0.0,
        log_n_peak={"CH3OH": 17.5, "CH3OCHO": 17.3},
        seed=1,
    )
    return synth.write(tmp_path_factory.mktemp("idcube"))["cubes"][0]


@pytest.mark.slow
def test_identify_region_and_map(small_cube, tmp_path, capsys):
    out = tmp_path / "id"
    code = main(
        [
            "identify",
            str(small_cube),
            "--region",
            "0",
            "2",
            "0",
            "2",
            "--candidates",
            "CH3OH",
            "CH3OCHO",
            "HC3N",
            "OCS",
            "--n-init",
            "10",
            "--map",
            "--no-dask",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "mean of x 0–2, y 0–2" in printed and "unknown lines" in printed
    found = IdentificationResult.read(out).species
    assert "CH3OH;vt=0-2;" in found
    assert not {"HC3N;v=0;", "OCS;v=0;"} & set(found)
    assert (out / "identified.molfit").is_file() and (out / "identify.html").is_file()
    maps = sorted((out / "maps").glob("*.fits"))
    assert maps and fits.getdata(maps[0]).shape == (3, 3)
    meta = CubeFitResult.read(out / "maps").meta  # IdentificationResult.fit_cube's settings
    assert meta["loss"] == "chi2" and meta["tie"] and meta["species"] == found


def test_identify_text_spectrum_finds_the_strong_species(tmp_path, capsys):
    mix = mock_mixture(3, band=6, n_decoys=2, seed=3, n_windows=1, n_channels=1024, pool=POOL)
    assert mix.detectable == ["CH3OH;vt=0-2;"]
    obs = mix.obs
    text = tmp_path / "spec.txt"
    np.savetxt(text, np.column_stack([obs.freqs[0], obs.intensities[0]]))
    out = tmp_path / "id"
    args = [
        "identify",
        str(text),
        "--beam",
        *map(str, obs.beam),
        "--rms",
        str(obs.rms[0]),
        "--candidates",
        *mix.candidates,
        "--n-init",
        "10",
        "--quiet",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    found = IdentificationResult.read(out).species
    assert set(mix.detectable) <= set(found)
    assert not set(mix.decoys) & set(found)


def test_identify_errors_name_the_problem(small_cube, tmp_path, capsys):
    assert main(["identify", str(tmp_path / "nope.fits")]) == 1
    assert "not found" in capsys.readouterr().err
    assert (
        main(
            [
                "identify",
                str(small_cube),
                "--exclude",
                "NoSuchMolecule",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 1
    )
    assert "NoSuchMolecule" in capsys.readouterr().err
    text = tmp_path / "spec.txt"
    np.savetxt(text, np.column_stack([218_200 + 0.5 * np.arange(100), np.zeros(100)]))
    assert main(["identify", str(text), "--beam", "1", "1", "--map"]) == 1
    assert "needs a cube" in capsys.readouterr().err
