"""spectunerid: identification of image cubes (FITS and CASA image) and its parameter checks."""

from __future__ import annotations

import numpy as np
import pytest
from spectuner_nb.casa_tasks import casaenv, spectunerid

from spectuner_nb.cube.synthetic import make_synthetic_cube
from spectuner_nb.errors import TaskParameterError
from spectuner_nb.identification import IdentificationResult

CANDIDATES = ["CH3OH", "CH3OCHO", "HC3N", "OCS"]


@pytest.fixture(scope="module")
def cube_fits(tmp_path_factory):
    """A 3 × 3 synthetic cube of CH3OH and CH3OCHO (one 218 GHz window, no continuum)."""
    synth = make_synthetic_cube(
        ["CH3OH", "CH3OCHO"],
        windows_mhz=[(218150.0, 218550.0)],
        n_channels=400,
        shape=(3, 3),
        continuum_peak_k=0.0,
        log_n_peak={"CH3OH": 17.5, "CH3OCHO": 17.3},
        seed=2,
    )
    return synth.write(tmp_path_factory.mktemp("casa_id"))["cubes"][0]


def _tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"vis": "a.ms", "imagename": "x.fits"}, "give either vis"),
        ({"candidates": ["NoSuchMolecule"]}, "candidates='NoSuchMolecule': unknown species"),
        ({"exclude": "NoSuchMolecule"}, "exclude='NoSuchMolecule': unknown species"),
        ({"preset": "warm"}, "preset='warm': must be one of"),
        ({"box": "0,0,9,9"}, "box='0,0,9,9': outside the image"),
        ({"ninit": 0}, "ninit=0: must be a positive integer"),
        ({"domap": "yes"}, "domap='yes': must be True or False"),
    ],
)
def test_bad_parameters_are_refused_before_anything_is_written(
    cube_fits, tmp_path, monkeypatch, kwargs, expected
):
    monkeypatch.chdir(tmp_path)
    before = _tree(tmp_path)
    with pytest.raises(TaskParameterError) as info:
        spectunerid(**{"imagename": str(cube_fits), **kwargs})
    assert str(info.value).startswith("spectunerid: ") and expected in str(info.value)
    assert _tree(tmp_path) == before


@pytest.mark.slow
def test_identify_a_box_of_the_cube_and_map_it(cube_fits, tmp_path):
    out = tmp_path / "id"
    summary = spectunerid(
        imagename=str(cube_fits),
        box="0,0,2,2",
        candidates=CANDIDATES,
        ninit=10,
        usepolicy=False,
        domap=True,
        outdir=str(out),
    )
    assert summary["mode"] == "image" and "CH3OH;vt=0-2;" in summary["species"]
    assert not {"HC3N;v=0;", "OCS;v=0;"} & set(summary["species"])
    assert summary["npeaks"] >= summary["nunknown"] >= 0
    assert IdentificationResult.read(out).species == summary["species"]
    assert summary["npix"] > 0 and any(f.endswith(".fits") for f in summary["mapfiles"])
    p = summary["params"]["CH3OH;vt=0-2;"]
    assert 1e15 < p["N_tot"] < 1e21 and p["T_ex"] > 0  # log N_peak = 17.5 at the centre


@pytest.mark.casa
@pytest.mark.skipif(not casaenv.casatools_installed(), reason="casatools absent")
def test_a_casa_image_gives_the_same_identification_as_its_fits(cube_fits, tmp_path):
    image = tmp_path / "cube.im"
    ia = casaenv.casatools().image()
    ia.fromfits(outfile=str(image), infile=str(cube_fits))
    ia.close()
    kw = {"box": "1,1,1,1", "candidates": CANDIDATES, "ninit": 10, "usepolicy": False}
    from_image = spectunerid(imagename=str(image), outdir=str(tmp_path / "a"), **kw)
    from_fits = spectunerid(imagename=str(cube_fits), outdir=str(tmp_path / "b"), **kw)
    assert from_image["species"] == from_fits["species"]
    for name in from_fits["params"]:
        assert np.allclose(
            list(from_image["params"][name].values()),
            list(from_fits["params"][name].values()),
            rtol=1e-6,
            equal_nan=True,
        )
