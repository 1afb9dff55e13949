"""XCLASS molfit files: read, write, and compute the spectrum they describe.

A molfit file (XCLASS, Möller et al. 2017; myXCLASS and myXCLASSFit) lists
species and, per species, velocity components::

    % comment lines start with '%'; '%%Key = value' lines are global settings
    CH3OH;v=0;   2
    y  0.1  5.0  1.2   y  10 400 150   y  1e14 1e19 3e16   y  1 10 4.5   y  -5 5 0.3   c
    n  0.1  5.0  0.8   n  10 400  60   n  1e14 1e19 1e15   n  1 10 2.0   n  -5 5 1.1   e

A component line holds five groups "fit-flag lower upper value" for source
size (arcsec), T_rot (K), N_tot (cm⁻²), velocity width (FWHM, km/s) and
velocity offset (km/s), then the core/envelope flag ``c``/``e``. The short
form used for plain model calculations gives only the five values and the
flag. We read both and write the long form (or the short form on request);
numbers are written with Python's shortest round-trip repr, so parameters
read back are bit-identical.

XCLASS conventions reproduced by :func:`molfit_spectra`: the filling factor is
η = θ²/(θ² + θ_b²) with the beam of the observation, core components of every
species add in intensity, the background is subtracted as a temperature
(docs/method.md §2). XCLASS describes an interferometer beam by one FWHM
("TelescopeSize" with Inter_Flag) while we use θ_b² = B_maj·B_min: to reproduce
an XCLASS run made with TelescopeSize T, give the observation ``beam=(T, T)``.
Envelope (``e``) components are foreground layers in XCLASS; our model has no
layered radiative transfer, so computing a spectrum with them raises
:class:`MolfitError` (reading and writing them is fine).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import MolfitError
from .parameters import N_PARAMS, PHYSICAL_NAMES

__all__ = [
    "MolfitComponent",
    "MolfitEntry",
    "Molfit",
    "read_molfit",
    "write_molfit",
    "xclass_name",
    "molfit_spectra",
    "XCLASS_PARAMETERS",
    "read_molfit_maps",
    "find_xclass_maps",
    "read_xclass_maps",
]

_N_TOKENS_LONG = 21
_N_TOKENS_SHORT = 6


@dataclass
class MolfitComponent:
    """One velocity component of one species.

    ``values`` are physical: [θ arcsec, T_ex K, N_tot cm⁻², Δv km/s, v_off km/s];
    ``lower``/``upper`` are the fit limits in the same units and ``fit`` the
    XCLASS y/n flags. ``cf_flag`` is "c" (core) or "e" (envelope/foreground).
    """

    values: tuple[float, ...]
    lower: tuple[float, ...] | None = None
    upper: tuple[float, ...] | None = None
    fit: tuple[bool, ...] = (True,) * 5
    cf_flag: str = "c"

    def __post_init__(self) -> None:
        if len(self.values) != 5:
            raise MolfitError(f"a component needs 5 values ({', '.join(PHYSICAL_NAMES)})")
        if self.cf_flag not in ("c", "e"):
            raise MolfitError(f"core/envelope flag must be 'c' or 'e', got {self.cf_flag!r}")


@dataclass
class MolfitEntry:
    """A species (XCLASS name as written in the file) and its components."""

    species: str
    components: list[MolfitComponent] = field(default_factory=list)

    def params(self) -> np.ndarray:
        """Physical parameters of the components, shape (n_components, 5)."""
        return np.array([c.values for c in self.components], dtype=float).reshape(-1, 5)


@dataclass
class Molfit:
    """The content of a molfit file: species entries plus ``%%`` global settings."""

    entries: list[MolfitEntry] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def species(self) -> list[str]:
        """XCLASS species names in file order."""
        return [e.species for e in self.entries]

    def __getitem__(self, species: str) -> MolfitEntry:
        for entry in self.entries:
            if entry.species == species:
                return entry
        raise MolfitError(f"species {species!r} not in molfit (has {', '.join(self.species)})")

    @classmethod
    def from_params(
        cls,
        species: Sequence[str],
        params,
        *,
        lower=None,
        upper=None,
        cf_flag: str = "c",
        xclass_names: bool = True,
    ) -> Molfit:
        """Build from one (n_components, 5) or (5,) physical array per species.

        ``lower``/``upper``: optional (5,) limits applied to every component.
        ``xclass_names``: convert our species names to XCLASS spelling.
        """
        if len(params) != len(species):
            raise MolfitError(f"{len(params)} parameter sets for {len(species)} species")
        lo = None if lower is None else tuple(float(v) for v in lower)
        hi = None if upper is None else tuple(float(v) for v in upper)
        entries = []
        for name, p in zip(species, params, strict=True):
            arr = np.asarray(p, dtype=float).reshape(-1, 5)
            comps = [
                MolfitComponent(tuple(float(v) for v in row), lo, hi, (True,) * 5, cf_flag)
                for row in arr
            ]
            entries.append(MolfitEntry(xclass_name(name) if xclass_names else name, comps))
        return cls(entries)


def _number(token: str, where: str) -> float:
    try:
        return float(token.replace("d", "e").replace("D", "E"))
    except ValueError as exc:
        raise MolfitError(f"{where}: {token!r} is not a number") from exc


def _flag(token: str, where: str) -> bool:
    t = token.lower()
    if t in ("y", "yes", "t", "true"):
        return True
    if t in ("n", "no", "f", "false"):
        return False
    raise MolfitError(f"{where}: fit flag must be y or n, got {token!r}")


def _parse_component(tokens: list[str], where: str) -> MolfitComponent:
    if len(tokens) == _N_TOKENS_LONG:
        groups = [tokens[4 * i : 4 * i + 4] for i in range(5)]
        fit = tuple(_flag(g[0], where) for g in groups)
        a = [_number(g[1], where) for g in groups]
        b = [_number(g[2], where) for g in groups]
        values = tuple(_number(g[3], where) for g in groups)
        lower = tuple(min(x, y) for x, y in zip(a, b, strict=True))
        upper = tuple(max(x, y) for x, y in zip(a, b, strict=True))
        cf = tokens[20].lower()
        return MolfitComponent(values, lower, upper, fit, cf)
    if len(tokens) == _N_TOKENS_SHORT:
        values = tuple(_number(t, where) for t in tokens[:5])
        return MolfitComponent(values, None, None, (False,) * 5, tokens[5].lower())
    raise MolfitError(
        f"{where}: a component line needs {_N_TOKENS_LONG} fields (5 × flag/lower/upper/value "
        f"+ c/e) or {_N_TOKENS_SHORT} (5 values + c/e), got {len(tokens)}"
    )


def read_molfit(source: str | Path) -> Molfit:
    """Parse a molfit file (path) or molfit text (a string with newlines)."""
    if isinstance(source, Path) or "\n" not in str(source):
        path = Path(source)
        if not path.exists():
            raise MolfitError(f"molfit file {path} not found")
        text, label = path.read_text(), str(path)
    else:
        text, label = str(source), "<molfit text>"
    molfit = Molfit()
    pending: MolfitEntry | None = None
    remaining = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"{label} line {number}"
        line = raw.strip()
        if line.startswith("%%"):
            key, _, value = line[2:].partition("=")
            molfit.settings[key.strip()] = value.strip()
            continue
        if not line or line.startswith("%"):
            continue
        tokens = line.split("%")[0].split()
        if remaining == 0:
            if len(tokens) != 2:
                raise MolfitError(f"{where}: expected 'SPECIES  N_COMPONENTS', got {line!r}")
            try:
                remaining = int(tokens[1])
            except ValueError as exc:
                raise MolfitError(
                    f"{where}: component count {tokens[1]!r} is not an integer"
                ) from exc
            if remaining < 1:
                raise MolfitError(f"{where}: {tokens[0]} has {remaining} components")
            pending = MolfitEntry(tokens[0])
            molfit.entries.append(pending)
            continue
        assert pending is not None  # remaining > 0 only after an entry line
        pending.components.append(_parse_component(tokens, where))
        remaining -= 1
    if remaining and pending is not None:
        raise MolfitError(f"{label}: {pending.species} is missing {remaining} component line(s)")
    if not molfit.entries:
        raise MolfitError(f"{label}: no species found")
    return molfit


def _fmt(x: float) -> str:
    """Shortest string that reads back to the same float."""
    if not math.isfinite(x):
        raise MolfitError(f"cannot write non-finite value {x}")
    return repr(float(x))


def write_molfit(molfit: Molfit, path: str | Path | None = None, *, short: bool = False) -> str:
    """Molfit text for ``molfit``; also written to ``path`` when given.

    The long (fit) form is written unless ``short``; components without
    limits get lower = upper = value in the long form.
    """
    lines = [f"%%{k} = {v}" for k, v in molfit.settings.items()]
    if short:
        lines.append("% name of molecule    number of components")
        lines.append(
            "% s_size [arcsec]  T_rot [K]  N_tot [cm-2]  V_width [km/s]  V_off [km/s]  CFFlag"
        )
    else:
        lines.append("% name of molecule    number of components")
        lines.append(
            "% fit  low  up  s_size [arcsec] | T_rot [K] | N_tot [cm-2] | "
            "V_width [km/s] | V_off [km/s] | CFFlag"
        )
    for entry in molfit.entries:
        if not entry.components:
            raise MolfitError(f"species {entry.species} has no components")
        lines.append(f"{entry.species}   {len(entry.components)}")
        for comp in entry.components:
            if short:
                lines.append("   ".join([_fmt(v) for v in comp.values] + [comp.cf_flag]))
                continue
            lo = comp.lower or comp.values
            hi = comp.upper or comp.values
            groups = [
                f"{'y' if f else 'n'}  {_fmt(a)}  {_fmt(b)}  {_fmt(v)}"
                for f, a, b, v in zip(comp.fit, lo, hi, comp.values, strict=True)
            ]
            lines.append("   ".join(groups + [comp.cf_flag]))
    text = "\n".join(lines) + "\n"
    if path is not None:
        Path(path).write_text(text)
    return text


def xclass_name(species: str) -> str:
    """XCLASS spelling of a species name ("CH3OH" → "CH3OH;v=0;", "13CO" → "C-13-O;v=0;").

    Our canonical names (:func:`spectuner_nb.catalog.names.resolve`) already
    have the XCLASS shape "FORMULA;STATE;", with CDMS/XCLASS isotope markers.
    """
    from .catalog.names import resolve

    return resolve(species)


def molfit_spectra(molfit: Molfit, obs, *, catalog=None) -> list[np.ndarray]:
    """The model spectrum (K per window of ``obs``) that ``molfit`` describes.

    Every component becomes one model entry (core components add in
    intensity), with η from the source size and the beam of ``obs`` and
    the background T_bg of ``obs``, as XCLASS computes it.
    """
    from .model import lte_spectra

    if catalog is None:
        from .catalog import default_cache

        catalog = default_cache()
    lines, params = [], []
    for entry in molfit.entries:
        species = xclass_name(entry.species)
        linelist = catalog.lines(species, obs.windows)
        for comp in entry.components:
            if comp.cf_flag == "e":
                raise MolfitError(
                    f"{entry.species}: envelope ('e') components are foreground layers in "
                    "XCLASS; spectuner_nb models core ('c') components only"
                )
            lines.append(linelist)
            params.append(comp.values)
    return lte_spectra(
        obs.rest_freqs, lines, np.asarray(params, dtype=float), beam=obs.beam, T_bg=obs.T_bg
    )


XCLASS_PARAMETERS: dict[str, str] = {
    "source_size": "theta",
    "t_rot": "T_ex",
    "n_tot": "N_tot",
    "v_width_gauss": "delta_v",
    "v_width": "delta_v",
    "v_off": "v_off",
}
"""XCLASS parameter names (lower case) → ours."""
XCLASS_MAP_NAME = re.compile(
    r"parameter__(?P<par>[A-Za-z_]+?)___molecule__(?P<mol>.+?)___component__(?P<comp>\d+)",
)
"""File names of XCLASS map-fit parameter images."""


def read_molfit_maps(
    files: Mapping[tuple[int, int], str | Path], shape: tuple[int, int], label: str = "XCLASS"
):
    """:class:`~spectuner_nb.parameter_maps.ParameterMaps` from one molfit file per pixel,
    ``{(x, y): path}`` on an (ny, nx) grid; the first component of each species is used."""
    from .parameter_maps import ParameterMaps

    per_pixel = {xy: read_molfit(path) for xy, path in files.items()}
    species: list[str] = []
    for molfit in per_pixel.values():
        species += [s for s in molfit.species if s not in species]
    params = np.full(tuple(shape) + (len(species), N_PARAMS), np.nan)
    for (x, y), molfit in per_pixel.items():
        for entry in molfit.entries:
            values = entry.params()
            if values.size:
                params[y, x, species.index(entry.species)] = values[0]
    return ParameterMaps(label, species, params)


def find_xclass_maps(folder: str | Path) -> dict[tuple[str, str], Path]:
    """XCLASS map-fit images of component 1 in ``folder``: ``{(species, parameter): path}``.

    File names hold ``…parameter__<P>___molecule__<M>___component__<n>…`` (P among
    :data:`XCLASS_PARAMETERS`); they spell the XCLASS name "CH3OH;v=0;" as "CH3OH_v=0".
    """
    found: dict[tuple[str, str], Path] = {}
    for path in sorted(Path(folder).glob("*.fits")):
        match = XCLASS_MAP_NAME.search(path.name)
        if match and match["comp"] == "1":
            par = XCLASS_PARAMETERS.get(match["par"].lower())
            if par:
                found[(match["mol"].replace("_", ";") + ";", par)] = path
    return found


def read_xclass_maps(
    files: Mapping[tuple[str, str], str | Path] | str | Path, label: str = "XCLASS"
):
    """:class:`~spectuner_nb.parameter_maps.ParameterMaps` from FITS images:
    ``{(species, parameter): path}`` with our parameter names, or a folder of XCLASS map-fit
    results (:func:`find_xclass_maps`). N_tot images may hold log10 values (all < 100)."""
    from astropy.io import fits

    from .catalog.names import resolve
    from .parameter_maps import ParameterMaps

    if isinstance(files, (str, Path)):
        found = find_xclass_maps(files)
        if not found:
            raise MolfitError(f"no XCLASS parameter maps found in {files}")
        files = found
    species: list[str] = []
    images: dict[tuple[str, str], np.ndarray] = {}
    for (name, par), path in files.items():
        if par not in PHYSICAL_NAMES:
            raise MolfitError(f"{path}: unknown parameter {par!r}; one of {PHYSICAL_NAMES}")
        canon = resolve(name)
        species += [canon] if canon not in species else []
        data = np.squeeze(np.asarray(fits.getdata(path), dtype=float))
        if par == "N_tot" and np.nanmax(data) < 100.0:
            data = 10.0**data
        images[(canon, par)] = data
    shape = next(iter(images.values())).shape
    params = np.full(shape + (len(species), N_PARAMS), np.nan)
    for (canon, par), data in images.items():
        params[:, :, species.index(canon), PHYSICAL_NAMES.index(par)] = data
    return ParameterMaps(label, species, params)
