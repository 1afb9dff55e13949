"""``spectuner-nb fit-spectrum`` on the real W3(H2O) cube and on a text spectrum."""

from __future__ import annotations

import json

import numpy as np
from fit_helpers import real_catalog, w3h2o_cube

from spectuner_nb.cli import main
from spectuner_nb.xclass import read_molfit


def test_fit_spectrum_command_on_a_cube_pixel(tmp_path, capsys):
    cube = w3h2o_cube()
    cache = tmp_path / "cat.sqlite"
    real_catalog(cache)
    prefix = tmp_path / "out" / "w3"
    code = main(
        [
            "fit-spectrum",
            str(cube),
            "--species",
            "HC3N",
            "--pixel",
            "15",
            "15",
            "--v-lsr",
            "-48.5",
            "--loss",
            "chi2",
            "--n-init",
            "10",
            "--cache",
            str(cache),
            "--out",
            str(prefix),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "HC3N;v=0;" in printed and "T_ex" in printed and "nfev" in printed
    data = json.loads(prefix.with_suffix(".json").read_text())
    assert (
        data["species"] == ["HC3N;v=0;"] and data["nfev"] == data["nfev_init"] + data["nfev_local"]
    )
    assert prefix.with_suffix(".png").stat().st_size > 10_000
    assert "bokeh" in prefix.with_suffix(".html").read_text().lower()
    molfit = read_molfit(prefix.with_suffix(".molfit"))
    np.testing.assert_array_equal(molfit["HC3N;v=0;"].params(), np.asarray(data["params"]))


def test_fit_spectrum_command_errors(tmp_path, capsys):
    missing = tmp_path / "nope.fits"
    assert main(["fit-spectrum", str(missing), "--species", "HC3N"]) == 1
    assert "not found" in capsys.readouterr().err
    text = tmp_path / "spec.txt"
    np.savetxt(text, np.column_stack([218_200 + 0.5 * np.arange(100), np.zeros(100)]))
    assert main(["fit-spectrum", str(text), "--species", "HC3N"]) == 1  # no beam given
    assert "missing beam" in capsys.readouterr().err
