"""Readers of observed data, registered by format beside the object they build.

One place to add a format and one set of error messages (spectral-cube's and
astropy's registry pattern). :meth:`Observation.read(path, format=None, ...)
<spectuner_nb.observation.Observation.read>` calls :func:`read_observation`,
which picks the reader named by ``format`` or guesses it from the path
(:func:`identify_format`). Registered formats:

``"fits"``
    A 1-D FITS spectrum with a spectral WCS (frequency; velocity or wavelength
    with RESTFRQ); BUNIT K or Jy/beam; the beam from BMAJ/BMIN unless given.
``"text"``
    Two columns, frequency (MHz unless ``freq_unit``) and intensity (``unit``,
    default K), separated by spaces, tabs or commas; ``#`` starts a comment.
``"cube"``
    One pixel (``pixel=(x, y)``, default the central one) or the mean of a region
    (``region=((x0, x1), (y0, y1))``, inclusive) of a FITS cube or CASA image.

:func:`read_cube` is the one cube loader, used for spectra (``"cube"``) and by
:func:`spectuner_nb.cube.load.load_cubes`: it opens the cube with spectral-cube,
expresses the spectral axis in MHz (radio convention), takes one beam per
channel from the file (or the beam given) and converts Jy/beam to K channel by
channel. Every failure is a :class:`~spectuner_nb.errors.CubeReadError`, which
is both an :class:`ObservationError` and a :class:`CubeError`, naming the file.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .beam import as_beam_spec, beam_from_header, kelvin_per_jy_beam, median_beam, to_beam
from .doppler import CONVENTION, spectral_axis_mhz
from .errors import CubeReadError, ObservationError
from .observation import Observation

__all__ = [
    "FITS_SUFFIXES",
    "TEXT_SUFFIXES",
    "Reader",
    "READERS",
    "register_reader",
    "identify_format",
    "read_observation",
    "read_fits_spectrum",
    "read_text_spectrum",
    "read_cube_spectrum",
    "CubeFile",
    "open_cube",
    "read_cube",
    "fits_ndim",
]

FITS_SUFFIXES: tuple[str, ...] = (".fits", ".fit", ".fts", ".fits.gz")
"""File names read as FITS."""
TEXT_SUFFIXES: tuple[str, ...] = (".txt", ".dat", ".csv", ".tsv")
"""File names read as text tables."""
_FITS_MAGIC = b"SIMPLE  ="

PathLike = str | os.PathLike


@dataclass(frozen=True)
class Reader:
    """A registered format: the function that reads it (path first, options by keyword)
    and the test that recognises its files."""

    name: str
    function: Callable[..., Observation]
    identify: Callable[[Path], bool]


READERS: dict[str, Reader] = {}
"""Registered readers by format name; :func:`identify_format` tries the most recently
registered first (a format registered by the user before the built-in ones)."""


def register_reader(
    name: str,
    function: Callable[..., Observation],
    identify: Callable[[Path], bool],
    *,
    overwrite: bool = False,
) -> None:
    """Register ``function(path, **options) -> Observation`` as the reader of format ``name``;
    ``identify(path) -> bool`` recognises its files."""
    if name in READERS and not overwrite:
        raise ObservationError(f"a reader for format {name!r} is registered already")
    READERS[name] = Reader(name, function, identify)


def _name(path: Path) -> str:
    return (
        "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()
    )


def _is_fits(path: Path) -> bool:
    if _name(path) in FITS_SUFFIXES:
        return True
    if not path.is_file() or _name(path) in TEXT_SUFFIXES:
        return False
    with open(path, "rb") as fh:
        return fh.read(len(_FITS_MAGIC)) == _FITS_MAGIC


def fits_ndim(path: PathLike) -> int:
    """Number of axes longer than one of the first FITS HDU holding data (header only)."""
    from astropy.io import fits

    path = Path(path)
    try:
        with fits.open(path) as hdul:
            for hdu in hdul:
                naxis = int(hdu.header.get("NAXIS", 0))
                sizes = [int(hdu.header.get(f"NAXIS{i}", 1)) for i in range(1, naxis + 1)]
                if naxis and all(sizes):
                    return sum(n > 1 for n in sizes)
    except Exception as exc:  # astropy raises OSError, TypeError, VerifyError… on garbage
        raise CubeReadError(f"{path} is not a readable FITS file: {exc}") from exc
    raise CubeReadError(f"{path} is not a readable FITS file: no HDU holds data")


def _is_text(path: Path) -> bool:
    if _name(path) in TEXT_SUFFIXES:
        return True
    if not path.is_file() or _is_fits(path):
        return False
    with open(path, "rb") as fh:
        head = fh.read(2048)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\0" not in head


def identify_format(path: PathLike) -> str:
    """The registered format of ``path``: a folder is a CASA image ("cube"), a FITS file
    with three or more axes a "cube" and with one a "fits" spectrum, a text table "text"."""
    path = Path(path)
    if not path.exists():
        raise ObservationError(f"{path} not found")
    for reader in reversed(READERS.values()):
        if reader.identify(path):
            return reader.name
    raise ObservationError(
        f"cannot tell the format of {path}; give format= one of {sorted(READERS)}"
    )


def read_observation(
    path: PathLike | Sequence[PathLike], format: str | None = None, **options: Any
) -> Observation:
    """An :class:`Observation` read from ``path`` by the reader of ``format`` (guessed from
    the path when None; module docstring). ``options`` go to the reader (beam, rms, T_bg,
    v_lsr, and the format's own)."""
    first = path if isinstance(path, str | os.PathLike) else next(iter(path), None)
    if first is None:
        raise ObservationError("no file given")
    fmt = identify_format(first) if format is None else format
    if fmt not in READERS:
        raise ObservationError(f"unknown format {fmt!r}; one of {sorted(READERS)}")
    function = READERS[fmt].function
    try:
        inspect.signature(function).bind(path, **options)
    except TypeError as exc:
        raise ObservationError(f"format {fmt!r} does not take these options: {exc}") from exc
    return function(path, **options)


# ---------------------------------------------------------------------- FITS spectra
def _fits_spectrum(path: Path) -> tuple[np.ndarray, Any, Any]:
    """(freq MHz ascending, intensity Quantity, beam or None) of a 1-D FITS spectrum."""
    import astropy.units as u
    from astropy.io import fits
    from astropy.wcs import WCS

    if not path.exists():
        raise ObservationError(f"spectrum {path} not found")
    try:
        with fits.open(path) as hdul:
            hdu = next((h for h in hdul if h.data is not None and h.data.ndim >= 1), None)
            if hdu is None:
                raise ObservationError(f"{path}: no data")
            data = np.asarray(hdu.data, dtype=float).squeeze()
            header = hdu.header.copy()
    except ObservationError:
        raise
    except Exception as exc:  # astropy raises OSError, TypeError, VerifyError…
        raise ObservationError(f"{path} is not a readable FITS file: {exc}") from exc
    if data.ndim != 1:
        raise ObservationError(
            f"{path}: data has shape {data.shape}; read cubes with format='cube' "
            "(Observation.from_cube_pixel)"
        )
    try:
        wcs = WCS(header).sub(["spectral"])
        axis = wcs.pixel_to_world(np.arange(data.size))
    except Exception as exc:
        raise ObservationError(f"{path}: no usable spectral axis ({exc})") from exc
    try:
        freq = spectral_axis_mhz(axis, (wcs.wcs.restfrq or 0.0) * u.Hz)
    except ObservationError as exc:
        raise ObservationError(f"{path}: {exc}") from exc
    try:
        unit = u.Unit(header.get("BUNIT", ""), parse_strict="raise")
    except ValueError as exc:
        raise ObservationError(f"{path}: unknown BUNIT {header.get('BUNIT')!r}") from exc
    unit = _brightness_unit(unit, path, ObservationError)
    if freq.size > 1 and freq[1] < freq[0]:
        freq, data = freq[::-1], data[::-1]
    return freq, data * unit, beam_from_header(header)


def _brightness_unit(unit, where, error: type[ObservationError]):
    """``unit`` if it is K or Jy/beam; ``error`` naming ``where`` otherwise."""
    import astropy.units as u

    if unit == u.dimensionless_unscaled:
        raise error(f"{where}: no intensity unit (BUNIT); cannot tell K from Jy/beam")
    if unit.is_equivalent(u.Jy / u.beam) or unit.is_equivalent(u.K):
        return unit
    raise error(f"{where}: intensity unit {unit} is neither K nor Jy/beam")


def read_fits_spectrum(
    paths: PathLike | Sequence[PathLike], *, beam=None, rms=None, T_bg=0.0, v_lsr=0.0
) -> Observation:
    """1-D FITS spectra, one file per window (format ``"fits"``, module docstring)."""
    paths = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    freqs, data = [], []
    found = beam
    for path in paths:
        f, y, b = _fits_spectrum(Path(path))
        freqs.append(f)
        data.append(y)
        found = found if found is not None else b
    return Observation.from_arrays(
        freqs,
        data,
        beam=found,
        rms=rms,
        T_bg=T_bg,
        v_lsr=v_lsr,
        name=", ".join(Path(p).name for p in paths),
    )


# ---------------------------------------------------------------------- text tables
_SEPARATORS = re.compile(r"[,\s]+")


def read_text_spectrum(
    path: PathLike,
    *,
    beam=None,
    rms=None,
    T_bg=0.0,
    v_lsr=0.0,
    unit: str = "K",
    freq_unit: str = "MHz",
) -> Observation:
    """A two-column text spectrum (format ``"text"``): frequency in ``freq_unit`` and
    intensity in ``unit`` per row; further columns are ignored, rows sorted by frequency.
    A row that is not two numbers is an :class:`ObservationError` naming its line."""
    import astropy.units as u

    if not isinstance(path, str | os.PathLike):
        raise ObservationError(f"one text file per observation, got {path!r}")
    path = Path(path)
    if not path.exists():
        raise ObservationError(f"{path} not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ObservationError(f"{path}: not a two-column table of numbers ({exc})") from exc
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = [f for f in _SEPARATORS.split(line.split("#", 1)[0].strip()) if f]
        if not fields:
            continue
        if len(fields) < 2:
            raise ObservationError(
                f"{path}, line {number}: not a two-column table of numbers "
                f"(one value, {line.strip()!r})"
            )
        try:
            rows.append((float(fields[0]), float(fields[1])))
        except ValueError:
            bad = next(f for f in fields[:2] if not _is_number(f))
            raise ObservationError(
                f"{path}, line {number}: not a two-column table of numbers "
                f"({bad!r} is not a number)"
            ) from None
    if not rows:
        raise ObservationError(f"{path}: not a two-column table of numbers (no data rows)")
    table = np.asarray(rows)
    table = table[np.argsort(table[:, 0], kind="stable")]
    try:
        freq = table[:, 0] * u.Unit(freq_unit)
    except ValueError as exc:
        raise ObservationError(f"unknown frequency unit {freq_unit!r}") from exc
    return Observation.from_arrays(
        freq, table[:, 1], beam=beam, rms=rms, T_bg=T_bg, v_lsr=v_lsr, unit=unit, name=path.name
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------- cubes
def open_cube(item):
    """A spectral-cube object from a cube or a path (FITS file or CASA image folder);
    :class:`CubeReadError` when it is missing or unreadable."""
    from spectral_cube import SpectralCube

    if hasattr(item, "spectral_axis"):
        return item
    path = Path(item)
    if not path.exists():
        raise CubeReadError(f"cube {path} not found")
    if path.is_file():
        fits_ndim(path)  # garbage and truncated headers fail here, with the file named
    try:
        if path.is_dir():
            return SpectralCube.read(str(path), format="casa_image")
        return SpectralCube.read(str(path))
    except Exception as exc:  # spectral-cube raises many kinds
        raise CubeReadError(f"cannot read cube {path}: {exc}") from exc


@dataclass(frozen=True)
class CubeFile:
    """A cube opened by :func:`read_cube`, channels ascending in frequency; data read on demand.

    Attributes
    ----------
    cube
        The spectral-cube object (lazy).
    freq_mhz
        Observed (LSRK) channel frequencies, MHz, ascending.
    beams
        Beam per channel (n_chan, 3): B_maj (arcsec), B_min (arcsec), PA (deg).
    order
        File channel of each ascending channel (``freq_mhz = file_freq[order]``).
    unit
        Brightness unit of the file (K or Jy/beam).
    source
        Where the cube was read from.
    """

    cube: Any
    freq_mhz: np.ndarray
    beams: np.ndarray
    order: np.ndarray
    unit: Any
    source: str

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_chan, ny, nx)."""
        return tuple(self.cube.shape)  # type: ignore[return-value]

    def kelvin(
        self, y: int | slice = slice(None), x: int | slice = slice(None), dtype=np.float64
    ) -> np.ndarray:
        """Brightness (K) of pixels [y, x], channels ascending, masked values NaN;
        shape (n_chan, …) as the indices select."""
        import astropy.units as u

        try:
            values = np.asarray(self.cube.filled_data[:, y, x].value, dtype=dtype)
        except Exception as exc:  # a truncated file fails only when its data are read
            raise CubeReadError(f"cannot read the data of {self.source}: {exc}") from exc
        values = values[self.order]
        if self.unit.is_equivalent(u.K):
            return values * self.unit.to(u.K)
        factor = kelvin_per_jy_beam(self.freq_mhz, self.beams).astype(dtype)
        factor = factor.reshape((-1,) + (1,) * (values.ndim - 1))
        return values * self.unit.to(u.Jy / u.beam) * factor


def _file_beams(cube, n_chan: int, where: str) -> np.ndarray | None:
    """(n_chan, 3) beams [arcsec, arcsec, deg] of a spectral-cube object, None without one."""
    import astropy.units as u

    beams = getattr(cube, "beams", None)
    if beams is not None and len(beams) == n_chan:
        return np.stack(
            [
                beams.major.to_value(u.arcsec),
                beams.minor.to_value(u.arcsec),
                beams.pa.to_value(u.deg),
            ],
            axis=1,
        )
    try:
        beam = cube.beam
    except Exception:  # spectral_cube.NoBeamError, radio-beam errors
        return None
    if beam is None:
        return None
    row = [beam.major.to_value(u.arcsec), beam.minor.to_value(u.arcsec), beam.pa.to_value(u.deg)]
    return np.tile(row, (n_chan, 1))


def _given_beams(beam, freq_mhz: np.ndarray) -> np.ndarray:
    """(n_chan, 3) beams from a beam given by the user (a dish gives one FWHM per channel)."""
    import astropy.units as u

    b = to_beam(beam)
    if hasattr(b, "fwhm_arcsec"):  # SingleDishBeam
        fwhm = b.fwhm_arcsec(freq_mhz)
        return np.stack([fwhm, fwhm, np.zeros_like(fwhm)], axis=1)
    row = [b.major.to_value(u.arcsec), b.minor.to_value(u.arcsec), b.pa.to_value(u.deg)]
    return np.tile(row, (freq_mhz.size, 1))


def read_cube(item, *, beam=None) -> CubeFile:
    """Open a cube (path or spectral-cube object) for reading in K (module docstring).

    ``beam`` (any :func:`~spectuner_nb.beam.as_beam_spec` input) replaces the file's
    beams; without it the file must have one (BMAJ/BMIN or a beam table).
    """
    import astropy.units as u

    cube = open_cube(item)
    where = str(item) if isinstance(item, str | os.PathLike) else "cube"
    try:
        fcube = cube.with_spectral_unit(u.MHz, velocity_convention=CONVENTION)
        freq = np.asarray(fcube.spectral_axis.to_value(u.MHz), dtype=float)
    except Exception as exc:
        raise CubeReadError(f"{where}: cannot express the spectral axis in MHz: {exc}") from exc
    unit = _brightness_unit(cube.unit, where, CubeReadError)
    beams = _given_beams(beam, freq) if beam is not None else _file_beams(cube, freq.size, where)
    if beams is None:
        raise CubeReadError(
            f"{where}: missing beam: no beam information in the file (BMAJ/BMIN or a "
            "beam table); give one (beam=…, --beam or --dish)"
        )
    order = np.argsort(freq, kind="stable")
    return CubeFile(
        cube=cube, freq_mhz=freq[order], beams=beams[order], order=order, unit=unit, source=where
    )


def _cube_pixels(shape: tuple[int, int, int], pixel, region) -> tuple[tuple, tuple, str]:
    """((x0, x1), (y0, y1), label) of a pixel or region, checked against a cube's shape."""
    ny, nx = shape[1:]
    if pixel is not None and region is not None:
        raise ObservationError("give a pixel or a region, not both")
    if region is not None:
        try:
            (x0, x1), (y0, y1) = (sorted(map(int, region[0])), sorted(map(int, region[1])))
        except (TypeError, ValueError) as exc:
            raise ObservationError(f"region must be ((x0, x1), (y0, y1)), got {region!r}") from exc
        label = f"mean of x {x0}–{x1}, y {y0}–{y1}"
    else:
        try:
            x0, y0 = (nx // 2, ny // 2) if pixel is None else (int(pixel[0]), int(pixel[1]))
        except (TypeError, ValueError, IndexError) as exc:
            raise ObservationError(f"pixel must be (x, y), got {pixel!r}") from exc
        x1, y1 = x0, y0
        label = f"pixel ({x0}, {y0})"
    if not (0 <= y0 and y1 < ny and 0 <= x0 and x1 < nx):
        raise ObservationError(f"{label} outside cube of shape {shape}")
    return (x0, x1), (y0, y1), label


def read_cube_spectrum(
    cubes,
    *,
    pixel: tuple[int, int] | None = None,
    region: tuple[tuple[int, int], tuple[int, int]] | None = None,
    beam=None,
    rms=None,
    T_bg=0.0,
    v_lsr=0.0,
) -> Observation:
    """One pixel (x = column, y = row; default the central pixel) or the mean spectrum of a
    region of one cube per window (format ``"cube"``).

    ``cubes``: a path (FITS or CASA image), a spectral-cube object, or a list of those (one
    per window, on one pixel grid). Intensities are converted to K channel by channel; the
    observation's beam is ``beam`` or the median of the cubes' beams. Channels masked in
    every pixel of a region stay masked; the rms is estimated unless given.
    """
    items = list(cubes) if isinstance(cubes, list | tuple) else [cubes]
    if not items:
        raise ObservationError("no cube given")
    freqs, data, beams, names = [], [], [], []
    label = ""
    for item in items:
        cube = read_cube(item, beam=beam)
        (x0, x1), (y0, y1), label = _cube_pixels(cube.shape, pixel, region)
        if (x0, y0) == (x1, y1):
            values = cube.kelvin(y0, x0)
        else:
            block = cube.kelvin(slice(y0, y1 + 1), slice(x0, x1 + 1))
            finite = np.isfinite(block).sum(axis=(1, 2))
            values = np.where(
                finite > 0, np.nansum(block, axis=(1, 2)) / np.maximum(finite, 1), np.nan
            )
        freqs.append(cube.freq_mhz)
        data.append(values)
        beams.append(cube.beams)
        names.append(Path(cube.source).name if cube.source != "cube" else "cube")
    if beam is None:
        beam = median_beam(np.concatenate(beams))
    return Observation.from_arrays(
        freqs,
        data,
        beam=as_beam_spec(beam),
        rms=rms,
        T_bg=T_bg,
        v_lsr=v_lsr,
        name=f"{', '.join(names)} {label}",
    )


def _is_cube(path: Path) -> bool:
    return path.is_dir() or (_is_fits(path) and fits_ndim(path) >= 3)


def _is_fits_spectrum(path: Path) -> bool:
    return path.is_file() and _is_fits(path) and fits_ndim(path) < 3


register_reader("text", read_text_spectrum, _is_text)  # tried last: any text file
register_reader("fits", read_fits_spectrum, _is_fits_spectrum)
register_reader("cube", read_cube_spectrum, _is_cube)
