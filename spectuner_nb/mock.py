"""Mock observations with known truth, generated with the LTE model from the catalog.

Used by the fit-quality benchmark, the policy training data and tests. A mock
is an ALMA-like spectrum: one or more spectral windows in band 3, 6 or 7,
placed on lines of the chosen species, a mixture of species with hot-core-like
parameters (line-rich) or a few weak species (line-poor), an interferometer
beam, a continuum temperature (the spectrum is continuum-subtracted, the
continuum enters the model as T_bg, XCLASS-style) and Gaussian noise.

Entry points: :func:`mock_spectrum` (one) and :func:`mock_dataset` (many,
seeded). Each returns :class:`MockSpectrum` objects holding the
:class:`~spectuner_nb.observation.Observation`, the species, the true physical
parameters and the noiseless model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import CatalogError, FitError
from .observation import Observation
from .parameters import TABLE1_BOUNDS, fit_to_physical, physical_to_fit

__all__ = [
    "BANDS", "DEFAULT_SPECIES", "REGIMES", "MAX_DRAWS", "DELTA_V_RANGE", "V_OFF_RANGE",
    "MockSpectrum", "available_species", "mock_spectrum", "mock_dataset",
]

BANDS: dict[int, dict] = {
    3: {"range_mhz": (84_000.0, 116_000.0), "channel_mhz": 0.244, "beam_arcsec": (0.5, 3.0)},
    6: {"range_mhz": (211_000.0, 275_000.0), "channel_mhz": 0.488, "beam_arcsec": (0.2, 1.5)},
    7: {"range_mhz": (275_000.0, 373_000.0), "channel_mhz": 0.977, "beam_arcsec": (0.1, 1.0)},
}
"""ALMA bands: sky frequency range (MHz), default channel width (MHz), beam FWHM range (″)."""

DEFAULT_SPECIES: tuple[str, ...] = (
    "CH3OH", "CH3OCHO", "CH3OCH3", "C2H5CN", "C2H3CN", "CH3CN", "H2CO", "HC3N", "OCS",
    "SO2", "HNCO", "NH2CHO", "CH3CHO", "C2H5OH", "HCOOH", "CH2CO", "CH3CCH", "SO", "CS",
    "SiO", "H2S", "HCN", "HNC", "13CO", "C18O",
)
"""Species mixed into mock spectra (those present in the catalog are used)."""

REGIMES: dict[str, dict] = {
    "line-rich": {"n_species": (4, 8), "log_n": (15.5, 18.5), "t_ex": (60.0, 300.0),
                  "log_eta": (-1.3, -0.05), "rms_k": (0.05, 0.3), "t_bg_k": (0.0, 20.0)},
    "line-poor": {"n_species": (1, 3), "log_n": (13.5, 16.0), "t_ex": (10.0, 80.0),
                  "log_eta": (-2.0, -0.3), "rms_k": (0.02, 0.1), "t_bg_k": (0.0, 3.0)},
}
"""Sampling ranges per regime: species count, log10 N_tot (cm⁻²), T_ex (K), log10 η,
rms (K), continuum T_bg (K)."""

MAX_DRAWS: int = 30
"""Parameter redraws allowed to reach ``min_peak_snr``."""
DELTA_V_RANGE: tuple[float, float] = (1.0, 8.0)
"""Line widths (FWHM, km/s), sampled log-uniformly."""
V_OFF_RANGE: tuple[float, float] = (-4.0, 4.0)
"""Velocity offsets (km/s), uniform."""


@dataclass
class MockSpectrum:
    """A mock observation with its truth.

    Attributes
    ----------
    obs
        The observation (continuum-subtracted, noise added).
    species
        Canonical names of every species in the spectrum, fitted first.
    params
        True physical parameters (n_species, 5): θ″, T_ex K, N cm⁻², Δv km/s, v_off km/s.
    model
        Noiseless spectra per window, K.
    band, regime, seed
        How the mock was made.
    """

    obs: Observation
    species: list[str]
    params: np.ndarray
    model: list[np.ndarray]
    band: int
    regime: str
    seed: int | None

    @property
    def params_fit(self) -> np.ndarray:
        """True parameters in fit space (n_species, 5), at the observation's reference beam."""
        return physical_to_fit(self.params, self.obs.theta_b_sq_ref)

    def truth(self, species: str) -> np.ndarray:
        """True physical parameters (5,) of one species."""
        try:
            return self.params[self.species.index(species)]
        except ValueError as exc:
            raise FitError(f"{species} is not in this mock ({', '.join(self.species)})") from exc


def available_species(catalog=None, candidates: Sequence[str] = DEFAULT_SPECIES) -> list[str]:
    """Canonical names of the ``candidates`` the catalog knows."""
    catalog = _catalog(catalog)
    out = []
    for name in candidates:
        try:
            out.append(_stored_name(catalog, name))
        except CatalogError:
            continue
    return list(dict.fromkeys(out))


def _stored_name(catalog, name: str) -> str:
    """The name under which the catalog stores ``name`` ("CH3OH" → "CH3OH;vt=0-2;")."""
    return catalog.entry(name).name


def _catalog(catalog):
    if catalog is None:
        from .catalog import default_cache

        return default_cache()
    return catalog


def _sample_fit_params(rng: np.random.Generator, n: int, regime: dict) -> np.ndarray:
    """Fit-space parameters (n, 5) drawn from the regime's ranges (inside Table 1)."""
    x = np.empty((n, 5))
    x[:, 0] = rng.uniform(*regime["log_eta"], n)
    x[:, 1] = rng.uniform(*regime["t_ex"], n)
    x[:, 2] = rng.uniform(*regime["log_n"], n)
    x[:, 3] = rng.uniform(*np.log10(DELTA_V_RANGE), n)
    x[:, 4] = rng.uniform(*V_OFF_RANGE, n)
    return np.clip(x, TABLE1_BOUNDS[:, 0], TABLE1_BOUNDS[:, 1])


def _strong_lines(linelist, t_ex: float) -> np.ndarray:
    """Frequencies (MHz) of the lines that carry most of the emission at ``t_ex``."""
    if len(linelist) == 0:
        return np.zeros(0)
    freq = np.asarray(linelist.freq)
    weight = (np.asarray(linelist.A_ul) * np.asarray(linelist.g_u)
              * np.exp(-np.asarray(linelist.E_up) / t_ex) / freq**2)
    keep = weight >= 0.05 * weight.max()
    return freq[keep]


def mock_spectrum(
    species: Sequence[str] | None = None,
    *,
    band: int = 6,
    regime: str = "line-rich",
    n_windows: int = 2,
    n_channels: int = 512,
    channel_mhz: float | None = None,
    params: np.ndarray | None = None,
    beam: tuple[float, float] | None = None,
    rms: float | None = None,
    T_bg: float | None = None,
    min_peak_snr: float = 5.0,
    catalog=None,
    seed: int | None = None,
) -> MockSpectrum:
    """One mock observation with known truth.

    Parameters
    ----------
    species
        Species in the spectrum (canonical or any resolvable name). ``None``:
        a random mixture from :func:`available_species`, size per ``regime``.
    band
        ALMA band 3, 6 or 7 (sets frequencies, channel width and beam range).
    regime
        "line-rich" (many strong species, warm, continuum) or "line-poor".
    n_windows, n_channels, channel_mhz
        Window count, channels per window, channel width (MHz; band default).
    params
        True physical parameters (n_species, 5); if None, drawn from ``regime``
        in fit space (η, T_ex, log N, log Δv, v_off uniform in the regime's ranges).
    beam, rms, T_bg
        (B_maj, B_min) ″, noise K, continuum K; drawn if None.
    min_peak_snr
        Drawn parameters are redrawn (T_ex kept, up to ``MAX_DRAWS`` times) until
        the brightest noiseless channel reaches this many rms.
    seed
        Seed of everything random (frequencies, parameters, noise).
    """
    from .model import LTEModel

    if band not in BANDS:
        raise FitError(f"band must be one of {sorted(BANDS)}, got {band}")
    if regime not in REGIMES:
        raise FitError(f"regime must be one of {sorted(REGIMES)}, got {regime!r}")
    rng = np.random.default_rng(seed)
    cfg, reg = BANDS[band], REGIMES[regime]
    catalog = _catalog(catalog)
    fmin, fmax = cfg["range_mhz"]
    if species is None:
        pool = available_species(catalog)
        n = int(rng.integers(reg["n_species"][0], reg["n_species"][1] + 1))
        species = list(rng.choice(pool, size=min(n, len(pool)), replace=False))
    species = [_stored_name(catalog, s) for s in species]
    x_true = _sample_fit_params(rng, len(species), reg)
    if params is not None:
        params = np.asarray(params, dtype=float).reshape(len(species), 5)
        t_ex = params[:, 1]
    else:
        t_ex = x_true[:, 1]

    band_lines = [catalog.lines(s, [(fmin, fmax)], pad_kms=0.0) for s in species]
    centres = []
    for _ in range(n_windows):
        order = rng.permutation(len(species))
        for i in order:
            strong = _strong_lines(band_lines[i], t_ex[i])
            if strong.size:
                centres.append(float(rng.choice(strong)))
                break
        else:
            raise FitError(f"none of {species} has lines in band {band}")
    dnu = float(channel_mhz or cfg["channel_mhz"])
    width = dnu * n_channels
    freqs = []
    for c in sorted(centres):
        start = c - width * rng.uniform(0.2, 0.8)
        if freqs and start < freqs[-1][-1] + dnu:  # overlapping windows: place after the last
            start = freqs[-1][-1] + dnu
        freqs.append(start + dnu * np.arange(n_channels))

    if beam is None:
        bmaj = float(np.exp(rng.uniform(*np.log(cfg["beam_arcsec"]))))
        beam = (bmaj, bmaj * rng.uniform(0.6, 1.0))
    rms = float(np.exp(rng.uniform(*np.log(reg["rms_k"])))) if rms is None else float(rms)
    t_bg = float(rng.uniform(*reg["t_bg_k"])) if T_bg is None else float(T_bg)
    windows = [(float(f[0]), float(f[-1])) for f in freqs]
    lines = [catalog.lines(s, windows) for s in species]
    model = LTEModel(freqs, lines, beam=beam, T_bg=t_bg)
    if params is None:
        for _ in range(MAX_DRAWS):  # redraw until some line stands out of the noise
            params = fit_to_physical(x_true, model.theta_b_sq_ref)
            clean = model(params)
            if max(float(np.max(np.abs(y))) for y in clean) >= min_peak_snr * rms:
                break
            x_true = _sample_fit_params(rng, len(species), reg)
            x_true[:, 1] = t_ex
    clean = model(params)
    noisy = [y + rng.normal(0.0, rms, y.size) for y in clean]
    obs = Observation.from_arrays(
        freqs, noisy, beam=beam, rms=rms, T_bg=t_bg,
        name=f"mock band {band} {regime} seed {seed}",
    )
    return MockSpectrum(obs, species, params, clean, band, regime, seed)


def mock_dataset(
    n: int,
    *,
    seed: int = 0,
    bands: Sequence[int] = (3, 6, 7),
    regimes: Sequence[str] = ("line-rich", "line-poor"),
    catalog=None,
    **kwargs,
) -> list[MockSpectrum]:
    """``n`` mocks cycling through ``bands`` and ``regimes``, seeded reproducibly.

    Mock ``i`` uses seed ``seed * 100003 + i``; extra keyword arguments go to
    :func:`mock_spectrum`.
    """
    catalog = _catalog(catalog)
    combos = [(b, r) for r in regimes for b in bands]
    out = []
    for i in range(n):
        band, regime = combos[i % len(combos)]
        out.append(mock_spectrum(band=band, regime=regime, catalog=catalog,
                                 seed=seed * 100003 + i, **kwargs))
    return out
