"""Every bad task input gives one clear message (TaskParameterError) and writes nothing."""

from __future__ import annotations

import numpy as np
import pytest
from spectuner_nb.casa_tasks import casaenv, spectunerfit, spectunerpredict, spectunerprep
from spectuner_nb.casa_tasks.tasklog import TaskLog

from spectuner_nb.errors import TaskParameterError

needs_casa = pytest.mark.skipif(not casaenv.casatools_installed(), reason="casatools absent")


@pytest.fixture(scope="module")
def tiny_ms(tmp_path_factory):
    """A 5-antenna MS with one 16-channel spw (DATA = 0)."""
    if not casaenv.casatools_installed():
        pytest.skip("casatools absent")
    import simobs

    vis = tmp_path_factory.mktemp("casa_tiny") / "tiny.ms"
    simobs.create_ms(vis, [simobs.SpwSpec(241.79e9, 1.0e6, 16)])
    return vis


@pytest.fixture(scope="module")
def w3_fits(tmp_path_factory):
    """A small FITS cube (16 channels, 30 x 30 pixels, K) standing in for a real image."""
    from astropy.io import fits

    header = fits.Header()
    for key, value in {
        "CTYPE1": "RA---SIN",
        "CUNIT1": "deg",
        "CRVAL1": 36.77,
        "CRPIX1": 15.0,
        "CDELT1": -2e-5,
        "CTYPE2": "DEC--SIN",
        "CUNIT2": "deg",
        "CRVAL2": 61.87,
        "CRPIX2": 15.0,
        "CDELT2": 2e-5,
        "CTYPE3": "FREQ",
        "CUNIT3": "Hz",
        "CRVAL3": 218.44e9,
        "CRPIX3": 1.0,
        "CDELT3": 1e6,
        "SPECSYS": "LSRK",
        "BUNIT": "K",
        "BMAJ": 1.5e-4,
        "BMIN": 1.2e-4,
        "BPA": 0.0,
    }.items():
        header[key] = value
    path = tmp_path_factory.mktemp("casa_cube") / "cube.fits"
    fits.PrimaryHDU(np.zeros((16, 30, 30), np.float32), header=header).writeto(path)
    return str(path)


class _Severe:
    """SEVERE messages the tasks post, and the captured stderr."""

    def __init__(self, capfd) -> None:
        self.posted: list[str] = []
        self.capfd = capfd
        self.uses_casalog = False

    def clear(self) -> None:
        self.posted.clear()
        self.capfd.readouterr()


@pytest.fixture
def severe(monkeypatch, capfd):
    """Records what the tasks post as SEVERE."""
    record = _Severe(capfd)
    original = TaskLog.post

    def post(self, message, priority="INFO"):
        if priority == "SEVERE":
            record.posted.append(message)
            record.uses_casalog = self.uses_casalog
        original(self, message, priority)

    monkeypatch.setattr(TaskLog, "post", post)
    return record


LEAP_SECOND = (
    "Leap second table TAI_UTC seems out-of-date",
    "Until the table is updated",
    "times and coordinates derived from UTC could be wrong",
)
"""CASA's harmless warning about casadata's leap-second table (printed as SEVERE on stderr)."""


def _severe_on_stderr(capfd) -> list[str]:
    """SEVERE lines CASA printed on stderr, without the leap-second warning."""
    err = capfd.readouterr().err
    return [
        line
        for line in err.splitlines()
        if "\tSEVERE\t" in line and not any(text in line for text in LEAP_SECOND)
    ]


def _tree(path):
    return sorted((str(p.relative_to(path)), p.stat().st_mtime_ns) for p in path.rglob("*"))


def _fails(task, kwargs, expected: str, where, severe) -> str:
    """Run ``task``; it must raise one TaskParameterError naming ``expected`` and write nothing.

    The message must be posted once as SEVERE and, with casalog, be the only SEVERE line CASA
    prints on stderr apart from the leap-second warning.
    """
    before = _tree(where)
    severe.clear()
    with pytest.raises(TaskParameterError) as info:
        task(**kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(task.__name__ + ": ")
    assert expected in message, message
    assert severe.posted == [message]  # logged exactly once, as SEVERE
    printed = _severe_on_stderr(severe.capfd)
    if severe.uses_casalog:
        assert len(printed) == 1 and printed[0].endswith(message), printed
    assert _tree(where) == before  # nothing written, not even in the working directory
    return message


FIT = {"species": "CH3OH", "usepolicy": False}


def test_missing_files(tmp_path, monkeypatch, severe):
    monkeypatch.chdir(tmp_path)
    msg = _fails(
        spectunerfit,
        dict(FIT, vis="nothere.ms", beam="1arcsec"),
        "vis='nothere.ms'",
        tmp_path,
        severe,
    )
    assert "does not exist" in msg
    _fails(
        spectunerfit,
        dict(FIT, imagename=["nothere.fits"]),
        "image does not exist",
        tmp_path,
        severe,
    )
    _fails(
        spectunerprep,
        dict(imagename="nothere.image"),
        "imagename='nothere.image'",
        tmp_path,
        severe,
    )
    _fails(
        spectunerpredict,
        dict(imagename="x.fits", molfit="nothere.molfit"),
        "molfit='nothere.molfit'",
        tmp_path,
        severe,
    )


def test_unknown_species_and_bad_fit_settings(tmp_path, monkeypatch, severe, w3_fits):
    monkeypatch.chdir(tmp_path)
    cases = [
        (dict(FIT, species="XYZ123"), "unknown species"),
        (dict(FIT, species=[]), "give at least one species"),
        (dict(FIT, loss="l2"), "loss='l2': must be one of 'pm', 'chi2'"),
        (dict(FIT, optimizer="adam"), "optimizer='adam'"),
        (dict(FIT, ninit=0), "ninit=0: must be a positive integer"),
        (dict(FIT, vlsr="fast"), "vlsr='fast'"),
        (dict(FIT, parallel=-2), "parallel=-2"),
        (dict(FIT, spw="2"), "no spectral window [2]"),
        (dict(FIT, box="10,10,40,40"), "outside the image of 30 x 30 pixels"),
        (dict(FIT, contimage=[w3_fits, w3_fits]), "one continuum image per cube"),
    ]
    for kwargs, expected in cases:
        _fails(spectunerfit, dict(kwargs, imagename=w3_fits), expected, tmp_path, severe)


def test_output_exists_without_overwrite(tmp_path, monkeypatch, severe, w3_fits):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "keep.txt").write_text("previous results")
    _fails(
        spectunerfit,
        dict(FIT, imagename=w3_fits, outdir="done"),
        "already exists; set overwrite=True",
        tmp_path,
        severe,
    )
    (tmp_path / "mask.fits").write_text("not overwritten")
    _fails(
        spectunerprep,
        dict(imagename=w3_fits, maskfile="mask.fits"),
        "maskfile='mask.fits'",
        tmp_path,
        severe,
    )
    _fails(
        spectunerpredict,
        dict(
            imagename=w3_fits, species="CH3OH", params=[[1, 100, 1e16, 3, 0]], outfile="mask.fits"
        ),
        "outfile='mask.fits'",
        tmp_path,
        severe,
    )
    assert (tmp_path / "done" / "keep.txt").read_text() == "previous results"


def test_bad_predict_and_prep_parameters(tmp_path, monkeypatch, severe, w3_fits):
    monkeypatch.chdir(tmp_path)
    _fails(
        spectunerpredict,
        dict(imagename=w3_fits, species="CH3OH", params=[[1, 100, 1e16]]),
        "params=",
        tmp_path,
        severe,
    )
    _fails(
        spectunerpredict,
        dict(imagename=w3_fits, species="CH3OH", params=[[1, -5, 1e16, 3, 0]]),
        "must be positive",
        tmp_path,
        severe,
    )
    _fails(
        spectunerpredict,
        dict(imagename=w3_fits, species="CH3OH", params=[[1, 100, 1e16, 3, 0]], outunit="mJy"),
        "outunit='mJy'",
        tmp_path,
        severe,
    )
    _fails(
        spectunerprep,
        dict(imagename=w3_fits, nsigmaglobal=-1.0),
        "nsigmaglobal=-1.0",
        tmp_path,
        severe,
    )


@needs_casa
def test_bad_measurement_set_selections(tiny_ms, tmp_path, monkeypatch, severe):
    monkeypatch.chdir(tmp_path)
    vis = str(tiny_ms)
    cases = [
        (dict(spw="5"), "spw='5': no spectral window [5] here; available: 0"),
        (dict(spw="0:2~9"), "channel selections are not supported"),
        (dict(field="orion"), "field='orion': unknown field; available: 0 (src)"),
        (dict(datacolumn="weird"), "datacolumn='weird'"),
        (dict(beam=""), "needs the beam"),
        (dict(vismode="uvfit"), "vismode='uvfit'"),
        (dict(beam="1arcsec", imagename="x.fits"), "not both"),
        (dict(beam="1arcsec", box="1,1,2,2"), "box='1,1,2,2'"),
        (dict(vismode="tclean", imsize=0), "imsize=0"),
        (dict(vismode="tclean", beam="1arcsec"), "only for vismode='vecavg'"),
    ]
    for kwargs, expected in cases:
        _fails(spectunerfit, dict(FIT, vis=vis, **kwargs), expected, tmp_path, severe)
    _fails(
        spectunerpredict,
        dict(vis=vis, species="CH3OH", params=[[1, 100, 1e16, 3, 0]]),
        "a MeasurementSet has no beam",
        tmp_path,
        severe,
    )
    assert sorted(p.name for p in tiny_ms.parent.iterdir()) == ["tiny.ms"]
