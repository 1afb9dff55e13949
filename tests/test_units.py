"""Units, beams and readers in one place: Doppler shifts against astropy's radio convention,
Jy/beam ↔ K against astropy and radio-beam, the reader registry, and a typed error for each
bad input (issue 22 items 5 and 12)."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from radio_beam import Beam, Beams

from spectuner_nb import beam as beams_mod
from spectuner_nb import doppler, readers
from spectuner_nb.beam import (
    SingleDishBeam,
    as_beam_spec,
    beam_from_header,
    common_beam,
    header_keywords,
    kelvin_per_jy_beam,
    median_beam,
)
from spectuner_nb.cube.load import load_cubes
from spectuner_nb.errors import CubeError, CubeReadError, ObservationError
from spectuner_nb.observation import V_LSR_MAX_KMS, Observation

REST = 230538.0  # CO 2-1, MHz


def _k_per_jy(freq_mhz, area_sr):
    """astropy's own Jy/beam → K factor for one frequency and beam area."""
    return (1.0 * u.Jy / u.beam).to_value(
        u.K, u.brightness_temperature(freq_mhz * u.MHz, beam_area=area_sr * u.sr)
    )


# ---------------------------------------------------------------------- Doppler
def test_radio_velocity_and_sky_frequency_match_astropy():
    rng = np.random.default_rng(0)
    freq = REST * (1 + rng.uniform(-1e-3, 1e-3, 50))
    want_v = (freq * u.MHz).to_value(u.km / u.s, equivalencies=u.doppler_radio(REST * u.MHz))
    np.testing.assert_allclose(doppler.radio_velocity(freq, REST), want_v, rtol=0, atol=1e-9)
    v = rng.uniform(-300, 300, 50)
    want_f = (v * u.km / u.s).to_value(u.MHz, equivalencies=u.doppler_radio(REST * u.MHz))
    np.testing.assert_allclose(doppler.sky_frequency(REST, v), want_f, rtol=1e-14)


@pytest.mark.parametrize("v_lsr", [-48.5, 0.0, 12.3, 900.0])
def test_round_trips(v_lsr):
    rest = np.linspace(218000.0, 219000.0, 7)
    sky = doppler.sky_frequency(rest, v_lsr)
    np.testing.assert_allclose(doppler.rest_frequency(sky, v_lsr), rest, rtol=1e-14)
    np.testing.assert_allclose(doppler.radio_velocity(sky, rest), v_lsr, atol=1e-9)
    dv = doppler.velocity_width(doppler.frequency_width(3.0, rest), rest)
    np.testing.assert_allclose(dv, 3.0, rtol=1e-14)


def test_quantities_at_the_edges():
    v = doppler.radio_velocity(230.5 * u.GHz, REST * u.MHz)
    assert v == pytest.approx(doppler.radio_velocity(230500.0, REST))
    f = doppler.sky_frequency(REST * u.MHz, -48500 * u.m / u.s)
    assert f == pytest.approx(doppler.sky_frequency(REST, -48.5))
    axis = np.array([-10.0, 0.0, 10.0]) * u.km / u.s
    np.testing.assert_allclose(
        doppler.spectral_axis_mhz(axis, REST * 1e6 * u.Hz),
        doppler.sky_frequency(REST, [-10.0, 0.0, 10.0]),
        rtol=1e-14,
    )
    wavelength = u.Quantity([1.3, 1.2], u.mm)
    np.testing.assert_allclose(
        doppler.spectral_axis_mhz(wavelength),
        wavelength.to_value(u.MHz, equivalencies=u.spectral()),
    )
    with pytest.raises(ObservationError, match="RESTFRQ"):
        doppler.spectral_axis_mhz(axis)
    with pytest.raises(ObservationError, match="rest frequency"):
        doppler.radio_velocity(230000.0, 0.0)


def test_channel_width():
    freq = np.linspace(100000.0, 100010.0, 11)
    assert doppler.channel_width_kms(freq) == pytest.approx(299792.458 / 100005.0, rel=1e-12)
    assert doppler.channel_width_kms(freq[::-1]) == doppler.channel_width_kms(freq)
    with pytest.raises(ObservationError, match="two channels"):
        doppler.channel_width_kms(freq[:1])


def test_observation_rest_frequencies_use_the_radio_convention():
    f = np.linspace(218200.0, 218300.0, 100)
    obs = Observation.from_arrays(f, np.zeros(f.size), beam=(1.0, 1.0), rms=0.1, v_lsr=-48.5)
    back = doppler.radio_velocity(obs.freqs[0], obs.rest_freqs[0])
    np.testing.assert_allclose(back, -48.5, atol=1e-9)


# ---------------------------------------------------------------------- beams
def test_kelvin_per_jy_beam_matches_astropy_and_radio_beam():
    freq = np.array([100000.0, 230000.0, 345000.0])
    beam = Beam(0.5 * u.arcsec, 0.4 * u.arcsec, 30 * u.deg)
    want = [_k_per_jy(f, beam.sr.to_value(u.sr)) for f in freq]
    for given in (beam, (0.5, 0.4), (0.5 * u.arcsec, 400 * u.mas)):
        np.testing.assert_allclose(kelvin_per_jy_beam(freq, given), want, rtol=1e-12)
    per_channel = Beams(major=[0.5, 1.0, 0.7] * u.arcsec, minor=[0.4, 0.8, 0.7] * u.arcsec)
    want = [_k_per_jy(f, b.sr.to_value(u.sr)) for f, b in zip(freq, per_channel, strict=True)]
    np.testing.assert_allclose(kelvin_per_jy_beam(freq, per_channel), want, rtol=1e-12)
    rows = np.array([[0.5, 0.4, 0.0], [1.0, 0.8, 0.0], [0.7, 0.7, 0.0]])
    np.testing.assert_allclose(kelvin_per_jy_beam(freq, rows), want, rtol=1e-12)


def test_single_dish_beam():
    dish = SingleDishBeam(30 * u.m)
    assert dish.diameter == 30.0 and as_beam_spec(dish) == 30.0 and as_beam_spec(30 * u.m) == 30.0
    freq = np.array([100000.0, 230000.0])
    theta = 1.22 * 299792458.0 / (freq * 1e6 * 30.0) * u.rad
    np.testing.assert_allclose(dish.fwhm_arcsec(freq), theta.to_value(u.arcsec), rtol=1e-12)
    want = [_k_per_jy(f, Beam(t).sr.to_value(u.sr)) for f, t in zip(freq, theta, strict=True)]
    np.testing.assert_allclose(kelvin_per_jy_beam(freq, 30.0), want, rtol=1e-12)
    np.testing.assert_allclose(kelvin_per_jy_beam(freq, dish), want, rtol=1e-12)
    assert dish.at(230000.0).major.to_value(u.arcsec) == pytest.approx(theta[1].to_value(u.arcsec))
    with pytest.raises(ObservationError, match="diameter"):
        SingleDishBeam(-1.0)


@pytest.mark.parametrize(
    ("beam", "match"),
    [
        (None, "missing beam"),
        ((1.0, 2.0, 3.0), r"\(B_maj, B_min\)"),
        ((1.0, -1.0), "> 0"),
        (5 * u.s, "dish diameter"),
        ("wide", "cannot read a beam"),
        ((1 * u.s, 1 * u.s), "arcsec"),
    ],
)
def test_bad_beams_are_typed(beam, match):
    with pytest.raises(ObservationError, match=match):
        as_beam_spec(beam)


def test_header_keywords_round_trip():
    beam = Beam(0.5 * u.arcsec, 0.4 * u.arcsec, 30 * u.deg)
    header = fits.Header(header_keywords(beam))
    assert header["BMAJ"] == pytest.approx(0.5 / 3600) and header["BPA"] == pytest.approx(30)
    assert beam_from_header(header) == beam
    assert header_keywords([0.5, 0.4, 30.0]) == pytest.approx(header_keywords(beam))
    assert header_keywords((0.5, 0.4))["BPA"] == 0.0
    assert beam_from_header(fits.Header({"BUNIT": "K"})) is None
    with pytest.raises(ObservationError):
        header_keywords([1.0])


def test_common_and_median_beam():
    rows = np.array([[0.5, 0.4, 0.0], [0.6, 0.3, 90.0], [0.5, 0.4, 0.0]])
    want = Beams(
        major=rows[:, 0] * u.arcsec, minor=rows[:, 1] * u.arcsec, pa=rows[:, 2] * u.deg
    ).common_beam()
    got = common_beam(rows)
    assert got.major.to_value(u.arcsec) == pytest.approx(want.major.to_value(u.arcsec))
    assert got.minor.to_value(u.arcsec) == pytest.approx(want.minor.to_value(u.arcsec))
    assert common_beam(rows[[0, 2]]) == Beam(0.5 * u.arcsec, 0.4 * u.arcsec)
    assert median_beam(rows) == (0.5, 0.4)
    assert beams_mod.Beam is Beam and beams_mod.Beams is Beams


# ---------------------------------------------------------------------- readers
@pytest.fixture(scope="module")
def cube_file(small_synthetic_cube, tmp_path_factory):
    return small_synthetic_cube.write(tmp_path_factory.mktemp("cube"))["cubes"][0]


def _text(path, freq, values):
    rows = [f"{float(f)!r}, {float(y)!r}\n" for f, y in zip(freq, values, strict=True)]
    path.write_text("# frequency (MHz), intensity (K)\n" + "".join(rows))
    return path


def test_registry_and_format_guess(cube_file, tmp_path):
    assert {"fits", "text", "cube"} <= set(readers.READERS)
    f = np.linspace(218200.0, 218300.0, 50)
    text = _text(tmp_path / "spec.csv", f, np.zeros(f.size))
    unnamed = _text(tmp_path / "spectrum", f, np.zeros(f.size))
    spec = tmp_path / "spec.fits"
    fits.PrimaryHDU(
        np.zeros(f.size),
        fits.Header(
            {
                "CTYPE1": "FREQ",
                "CUNIT1": "Hz",
                "CRPIX1": 1.0,
                "CRVAL1": f[0] * 1e6,
                "CDELT1": (f[1] - f[0]) * 1e6,
                "BUNIT": "K",
                **header_keywords((1.0, 1.0)),
            }
        ),
    ).writeto(spec)
    unnamed_fits = tmp_path / "spectrum_fits"
    unnamed_fits.write_bytes(spec.read_bytes())
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    assert readers.identify_format(text) == "text"
    assert readers.identify_format(unnamed) == "text"
    assert readers.identify_format(spec) == "fits"
    assert readers.identify_format(unnamed_fits) == "fits"
    assert readers.identify_format(cube_file) == "cube"
    with pytest.raises(ObservationError, match="cannot tell the format"):
        readers.identify_format(binary)
    with pytest.raises(ObservationError, match="not found"):
        readers.identify_format(tmp_path / "nope.fits")
    with pytest.raises(ObservationError, match="unknown format"):
        Observation.read(text, format="hdf5")
    with pytest.raises(ObservationError, match="does not take"):
        Observation.read(spec, pixel=(1, 1))


def test_register_a_reader(tmp_path):
    path = tmp_path / "x.myformat"
    path.write_text("")

    def read_mine(p, *, beam=(1.0, 1.0)):
        f = np.linspace(218200.0, 218300.0, 20)
        return Observation.from_arrays(f, np.zeros(f.size), beam=beam, rms=0.1, name="mine")

    readers.register_reader("mine", read_mine, lambda p: p.suffix == ".myformat")
    try:
        assert Observation.read(path).name == "mine"
        with pytest.raises(ObservationError, match="registered already"):
            readers.register_reader("mine", read_mine, lambda p: False)
    finally:
        del readers.READERS["mine"]


def test_text_reader(tmp_path):
    f = np.linspace(218200.0, 218300.0, 50)
    y = np.sin(f)
    path = _text(tmp_path / "spec.txt", f[::-1], y[::-1])  # rows in any order
    obs = Observation.read(path, beam=(1.0, 1.0), rms=0.1, v_lsr=-5.0, unit="mK")
    want = Observation.from_arrays(f, y * 1e-3, beam=(1.0, 1.0), rms=0.1, v_lsr=-5.0)
    np.testing.assert_array_equal(obs.freqs[0], want.freqs[0])
    np.testing.assert_allclose(obs.intensities[0], want.intensities[0], rtol=1e-15)
    ghz = Observation.read(
        _text(tmp_path / "ghz.txt", f / 1e3, y), beam=(1.0, 1.0), rms=0.1, freq_unit="GHz"
    )
    np.testing.assert_allclose(ghz.freqs[0], f, rtol=1e-14)


def test_cube_reader_is_the_cube_loader(small_synthetic_cube, cube_file):
    cubes = load_cubes(cube_file, v_lsr=-5.0)
    obs = Observation.read(cube_file, pixel=(2, 1), v_lsr=-5.0, rms=0.1)
    np.testing.assert_array_equal(obs.freqs[0], cubes.windows[0].freq_mhz)
    np.testing.assert_allclose(obs.intensities[0], cubes.spectra([1], [2])[0][0], rtol=1e-6)
    assert obs.beam == pytest.approx(cubes.beam_arcsec)
    centre = Observation.read(cube_file, rms=0.1)  # default: the central pixel (2, 2)
    assert "pixel (2, 2)" in centre.name
    region = Observation.read(cube_file, region=((1, 2), (1, 2)), rms=0.1)
    mean = np.mean(cubes.spectra([1, 1, 2, 2], [1, 2, 1, 2])[0], axis=0)
    np.testing.assert_allclose(region.intensities[0], mean, rtol=1e-6)
    dish = Observation.read(cube_file, pixel=(0, 0), beam=12 * u.m, rms=0.1)
    assert dish.is_single_dish
    with pytest.raises(ObservationError, match="outside"):
        Observation.read(cube_file, pixel=(9, 0))


# ---------------------------------------------------------------------- bad inputs → typed errors
def test_cube_without_a_beam(cube_file, tmp_path):
    with fits.open(cube_file) as hdul:
        for key in ("BMAJ", "BMIN", "BPA"):
            del hdul[0].header[key]
        hdul[0].header["BUNIT"] = "Jy/beam"
        hdul.writeto(tmp_path / "nobeam.fits")
    for call in (
        lambda: Observation.read(tmp_path / "nobeam.fits"),
        lambda: load_cubes(tmp_path / "nobeam.fits"),
    ):
        with pytest.raises(CubeReadError, match="nobeam.fits: missing beam") as err:
            call()
        assert isinstance(err.value, ObservationError) and isinstance(err.value, CubeError)
    given = Observation.read(tmp_path / "nobeam.fits", beam=(1.0, 1.0), rms=0.1)
    assert given.beam == (1.0, 1.0)


def test_truncated_and_garbage_fits(cube_file, tmp_path):
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes(cube_file.read_bytes()[: 2880 + 1000])
    garbage = tmp_path / "garbage.fits"
    garbage.write_bytes(b"\x00\x01garbage" * 100)
    for path in (truncated, garbage):
        with pytest.raises(ObservationError, match=path.name):
            Observation.read(path, beam=(1.0, 1.0))
        with pytest.raises(CubeError, match=path.name):
            load_cubes(path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("218200.0 0.1\n218200.5 zero\n218201.0 0.2\n", r"line 2: .*'zero' is not a number"),
        ("# only a comment\n\n", "no data rows"),
        ("218200.0 0.1\n218200.5\n", "line 2: .*one value"),
    ],
)
def test_bad_text_spectra_name_the_line(tmp_path, content, match):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(ObservationError, match=match):
        Observation.read(path, beam=(1.0, 1.0))


@pytest.mark.parametrize(
    ("scale", "match"),
    [
        (1e-6, "plausible"),  # 0.2 MHz
        (1e-3, "look like GHz"),  # GHz given as MHz
        (1e6, "look like Hz"),  # Hz given as MHz
    ],
)
def test_implausible_frequencies(scale, match):
    f = np.linspace(218200.0, 218300.0, 50) * scale
    with pytest.raises(ObservationError, match=match):
        Observation.from_arrays(f, np.zeros(f.size), beam=(1.0, 1.0), rms=0.1)


@pytest.mark.parametrize("v_lsr", [-48_500.0, V_LSR_MAX_KMS + 1, np.nan])
def test_implausible_v_lsr(v_lsr):
    f = np.linspace(218200.0, 218300.0, 50)
    with pytest.raises(ObservationError, match="v_LSR|v_lsr"):
        Observation.from_arrays(f, np.zeros(f.size), beam=(1.0, 1.0), rms=0.1, v_lsr=v_lsr)
    with pytest.raises(ObservationError, match="VELO-LSR"):
        Observation.from_arrays(f, np.zeros(f.size), beam=(1.0, 1.0), rms=0.1, v_lsr=-48_500)
