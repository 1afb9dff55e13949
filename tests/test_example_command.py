"""The README's main job: ``spectuner-nb example`` identifies the species of its cube and maps
them with the joint model."""

import re

import numpy as np
import pytest
from astropy.io import fits

from spectuner_nb.cli import main
from spectuner_nb.identification import IdentificationResult


@pytest.mark.slow
def test_example_identifies_and_maps(tmp_path, capsys):
    out = tmp_path / "example"
    candidates = ["CH3OH", "CH3OCHO", "H2CO", "HC3N", "OCS", "SO2", "CH3OCH3", "C2H5OH"]
    assert (
        main(
            [
                "example",
                "--out",
                str(out),
                "--size",
                "3",
                "--workers",
                "1",
                "--candidates",
                *candidates,
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    ident = IdentificationResult.read(out / "identify")
    assert {"CH3OH;vt=0-2;", "CH3OCHO;v=0;"} <= set(ident.species)
    assert "C2H5CN;v=0;" not in ident.species  # in the cube, not a candidate
    assert len(ident.unknown) > 0 and re.search(r"unknown lines \(\d+ of \d+ peaks", text)
    assert (out / "identify" / "identify.html").is_file()
    maps = sorted((out / "maps").glob("*.fits"))
    assert maps, "no FITS maps written"
    assert (out / "example_maps.png").stat().st_size > 10_000
    header = fits.getheader(maps[0])
    assert header["NAXIS"] == 2 and header["NAXIS1"] == 3 and "RA" in header["CTYPE1"]
    # CH3OH is well constrained by the 23 lines of the two windows, in the joint model
    m = re.search(
        r"recovery CH3OH: median \|Δlog10 N_tot\| = ([0-9.]+) dex, "
        r"median \|ΔT_ex\|/T_ex = ([0-9.]+)%",
        text,
    )
    assert m, text
    assert float(m.group(1)) < 0.1 and float(m.group(2)) < 15.0
    assert np.isfinite(float(m.group(1)))


@pytest.mark.slow
def test_example_refuses_another_runs_work_until_restarted(tmp_path, capsys):
    """A second example with another seed in the same folder is refused (the work of two
    runs is never mixed); ``--restart`` starts it afresh."""
    args = ["example", "--out", str(tmp_path), "--size", "2", "--workers", "1"]
    args += ["--candidates", "CH3OH", "H2CO"]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--seed", "1"]) != 0
    assert "--restart" in capsys.readouterr().err
    assert main([*args, "--seed", "1", "--restart"]) == 0
    assert "recovery CH3OH" in capsys.readouterr().out
