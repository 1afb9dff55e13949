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

For line identification (docs/method.md §9), :func:`mock_mixture` and
:func:`mixture_dataset` make spectra of 3–25 catalog species (a hot-core
"mixture" in bands 3/6/7, or a "cold-core" single-dish band-3 spectrum of
5–10 K gas with 0.2–0.5 km/s lines), optionally with an "interloper" (a species
in the spectrum that is left out of the candidate list), plus absent "decoy"
candidates; the truth says which species show at least
:data:`DETECTABLE_MIN_LINES` lines above :data:`DETECTABLE_SNR` σ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import CatalogError, FitError
from .losses import find_peaks_above
from .observation import Observation
from .parameters import TABLE1_BOUNDS, fit_to_physical, physical_to_fit

__all__ = [
    "BANDS",
    "DEFAULT_SPECIES",
    "REGIMES",
    "MAX_DRAWS",
    "DELTA_V_RANGE",
    "V_OFF_RANGE",
    "MockSpectrum",
    "available_species",
    "mock_spectrum",
    "mock_dataset",
]

BANDS: dict[int, dict] = {
    3: {"range_mhz": (84_000.0, 116_000.0), "channel_mhz": 0.244, "beam_arcsec": (0.5, 3.0)},
    6: {"range_mhz": (211_000.0, 275_000.0), "channel_mhz": 0.488, "beam_arcsec": (0.2, 1.5)},
    7: {"range_mhz": (275_000.0, 373_000.0), "channel_mhz": 0.977, "beam_arcsec": (0.1, 1.0)},
}
"""ALMA bands: sky frequency range (MHz), default channel width (MHz), beam FWHM range (″)."""

DEFAULT_SPECIES: tuple[str, ...] = (
    "CH3OH",
    "CH3OCHO",
    "CH3OCH3",
    "C2H5CN",
    "C2H3CN",
    "CH3CN",
    "H2CO",
    "HC3N",
    "OCS",
    "SO2",
    "HNCO",
    "NH2CHO",
    "CH3CHO",
    "C2H5OH",
    "HCOOH",
    "CH2CO",
    "CH3CCH",
    "SO",
    "CS",
    "SiO",
    "H2S",
    "HCN",
    "HNC",
    "13CO",
    "C18O",
)
"""Species mixed into mock spectra (those present in the catalog are used)."""

REGIMES: dict[str, dict] = {
    "line-rich": {
        "n_species": (4, 8),
        "log_n": (15.5, 18.5),
        "t_ex": (60.0, 300.0),
        "log_eta": (-1.3, -0.05),
        "rms_k": (0.05, 0.3),
        "t_bg_k": (0.0, 20.0),
    },
    "line-poor": {
        "n_species": (1, 3),
        "log_n": (13.5, 16.0),
        "t_ex": (10.0, 80.0),
        "log_eta": (-2.0, -0.3),
        "rms_k": (0.02, 0.1),
        "t_bg_k": (0.0, 3.0),
    },
    "mixture": {
        "n_species": (3, 25),
        "log_n": (14.0, 17.5),
        "t_ex": (50.0, 300.0),
        "log_eta": (-1.0, -0.05),
        "rms_k": (0.02, 0.2),
        "t_bg_k": (0.0, 10.0),
        "delta_v": (2.0, 6.0),
        "v_off": (-3.0, 3.0),
    },
    "cold-core": {
        "n_species": (3, 10),
        "log_n": (12.0, 14.5),
        "t_ex": (5.0, 10.0),
        "log_eta": (-0.5, -0.01),
        "rms_k": (0.005, 0.02),
        "t_bg_k": (0.0, 0.0),
        "delta_v": (0.2, 0.5),
        "v_off": (-0.5, 0.5),
        "bounds": None,
    },
}
"""Sampling ranges per regime: species count, log10 N_tot (cm⁻²), T_ex (K), log10 η,
rms (K), continuum T_bg (K); optional line width FWHM (km/s, default
:data:`DELTA_V_RANGE`), velocity offset (km/s, default :data:`V_OFF_RANGE`) and the
fit-space bounds the draws are clipped to (default Table 1; None: not clipped, the
cold-core draws lie below Table 1's log N and Δv limits)."""

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


def _sample_fit_params(rng: np.random.Generator, n: int, regime: dict[str, Any]) -> np.ndarray:
    """Fit-space parameters (n, 5) drawn from the regime's ranges, clipped to its bounds."""
    spans = (
        regime["log_eta"],
        regime["t_ex"],
        regime["log_n"],
        np.log10(regime.get("delta_v", DELTA_V_RANGE)),
        regime.get("v_off", V_OFF_RANGE),
    )
    x = np.column_stack([rng.uniform(float(lo), float(hi), n) for lo, hi in spans])
    bounds = regime.get("bounds", TABLE1_BOUNDS)
    return x if bounds is None else np.clip(x, bounds[:, 0], bounds[:, 1])


def _strong_lines(linelist, t_ex: float) -> np.ndarray:
    """Frequencies (MHz) of the lines that carry most of the emission at ``t_ex``."""
    if len(linelist) == 0:
        return np.zeros(0)
    freq = np.asarray(linelist.freq)
    weight = (
        np.asarray(linelist.A_ul)
        * np.asarray(linelist.g_u)
        * np.exp(-np.asarray(linelist.E_up) / t_ex)
        / freq**2
    )
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
        (B_maj, B_min) ″ or a single-dish diameter (m), noise K, continuum K; drawn if None.
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
    freqs: list[np.ndarray] = []
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
    assert params is not None  # set by the first draw
    clean = model(params)
    noisy = [y + rng.normal(0.0, rms, y.size) for y in clean]
    obs = Observation.from_arrays(
        freqs,
        noisy,
        beam=beam,
        rms=rms,
        T_bg=t_bg,
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
        out.append(
            mock_spectrum(
                band=band, regime=regime, catalog=catalog, seed=seed * 100003 + i, **kwargs
            )
        )
    return out


MIXTURE_SPECIES: tuple[str, ...] = (
    "C2H3CN",
    "C2H5CN",
    "C2H5OH",
    "CCH",
    "CH2CO",
    "CH2NH",
    "CH3CCH",
    "CH3CHO",
    "CH3CN",
    "CH3NC",
    "CH3OCH3",
    "CH3OCHO",
    "CH3OH",
    "CH3SH",
    "CN",
    "CO",
    "CS",
    "H2CN",
    "H2CO",
    "H2NCH2COOH",
    "H2S",
    "HC3N",
    "HC7N",
    "HCCNC",
    "HCN",
    "HCO+",
    "HCO",
    "HCOCH2OH",
    "HCOOH",
    "HCS+",
    "HNC",
    "HNCO",
    "HNCS",
    "HNO",
    "HOCN",
    "NH2CHO",
    "NH2CN",
    "NO",
    "NS",
    "OCS",
    "SO+",
    "SO2",
    "SO",
    "SiO",
    "a-H2CCHOH",
    "aGg'-(CH2OH)2",
    "c-C2H4O",
    "c-C3H2",
    "c-C3H",
    "c-H2C3O",
    "s-H2CCHOH",
)
"""Pool of hot-core mixtures: main isotopologues in their ground states (the
identification groups isotopologues and excited states with their parent)."""

COLD_CORE_SPECIES: tuple[str, ...] = (
    "CH3OH",
    "HC3N",
    "CH3CCH",
    "c-C3H2",
    "c-C3H",
    "CCH",
    "HNCO",
    "CH3CHO",
    "CH2CO",
    "HCO",
    "HC7N",
    "HCCNC",
    "CH3CN",
    "c-H2C3O",
    "H2CN",
    "NS",
    "HNCS",
    "CH2NH",
    "SO",
    "H2CO",
)
"""Pool of cold-core mixtures: species of cold dark clouds with band-3 lines."""

DETECTABLE_SNR: float = 5.0
"""A species' line counts for the truth when its own noiseless peak reaches this many rms."""
DETECTABLE_MIN_LINES: int = 3
"""Lines above :data:`DETECTABLE_SNR` σ a species needs to count as detectable."""

MIXTURE_LAYOUTS: dict[str, dict] = {
    "mixture": {"n_windows": 3, "n_channels": 1920},
    "cold-core": {"n_windows": 6, "n_channels": 4096, "channel_mhz": 0.049, "beam": 30.0},
}
"""Window layout per mixture regime (cold core: IRAM-30m-like 49 kHz channels, beam = dish
diameter in m)."""


@dataclass
class MockMixture:
    """A mock spectrum for line identification, with its truth.

    Attributes
    ----------
    mock
        The spectrum and the parameters of every species in it (interloper included).
    candidates
        Canonical names offered to the identification: the spectrum's species minus the
        interloper, plus the decoys, sorted.
    interloper
        A species in the spectrum that is not a candidate (its lines should stay unknown),
        or None.
    decoys
        Candidates that are not in the spectrum.
    n_lines
        Per species of the spectrum: peaks of its own noiseless model above
        :data:`DETECTABLE_SNR` σ.
    """

    mock: MockSpectrum
    candidates: list[str]
    interloper: str | None
    decoys: list[str]
    n_lines: dict[str, int]

    @property
    def obs(self) -> Observation:
        """The observation."""
        return self.mock.obs

    @property
    def detectable(self) -> list[str]:
        """Candidates in the spectrum with at least :data:`DETECTABLE_MIN_LINES` lines above
        :data:`DETECTABLE_SNR` σ: the species an identification should find."""
        return [s for s in self.candidates if self.n_lines.get(s, 0) >= DETECTABLE_MIN_LINES]

    def score(self, identified: Sequence[str]) -> dict[str, int]:
        """Counts for precision and recall of ``identified`` (canonical names).

        ``tp``: detectable species found; ``fn``: detectable species missed; ``fp``:
        identified species absent from the spectrum (decoys, or anything else);
        ``weak``: identified species present but below the detectability rule (counted
        neither way).
        """
        found = set(identified)
        detectable = set(self.detectable)
        present = set(self.mock.species)
        return {
            "tp": len(found & detectable),
            "fn": len(detectable - found),
            "fp": len(found - present),
            "weak": len(found & present - detectable),
        }


def mock_mixture(
    n_species: int | None = None,
    *,
    regime: str = "mixture",
    band: int | None = None,
    interloper: bool = False,
    n_decoys: int = 5,
    pool: Sequence[str] | None = None,
    catalog=None,
    seed: int | None = None,
    **kwargs,
) -> MockMixture:
    """A mixture of ``n_species`` catalog species for line identification (docs/method.md §9).

    Parameters
    ----------
    n_species
        Species in the spectrum; default drawn from the regime's range (3–25 for
        "mixture", 3–10 for "cold-core").
    regime
        "mixture" (hot-core-like, :data:`MIXTURE_SPECIES`, ALMA beam) or "cold-core"
        (5–10 K, 0.2–0.5 km/s lines, band 3, single dish; :data:`COLD_CORE_SPECIES`).
    band
        ALMA band 3, 6 or 7; default drawn (cold core: always 3).
    interloper
        Leave one species of the spectrum (one with detectable lines when there is
        one) out of the candidate list.
    n_decoys
        Absent species of the pool added to the candidates.
    pool
        Species to draw from (default the regime's pool; those the catalog knows).
    seed
        Seed of everything random.
    kwargs
        Passed to :func:`mock_spectrum` (window layout, rms, beam, …), overriding
        :data:`MIXTURE_LAYOUTS`.
    """
    if regime not in MIXTURE_LAYOUTS:
        raise FitError(f"regime must be one of {sorted(MIXTURE_LAYOUTS)}, got {regime!r}")
    from .model import LTEModel

    rng = np.random.default_rng(seed)
    catalog = _catalog(catalog)
    default_pool = COLD_CORE_SPECIES if regime == "cold-core" else MIXTURE_SPECIES
    names = available_species(catalog, default_pool if pool is None else pool)
    if band is None:
        band = 3 if regime == "cold-core" else int(rng.choice(sorted(BANDS)))
    lo, hi = REGIMES[regime]["n_species"]
    n = int(rng.integers(lo, hi + 1)) if n_species is None else int(n_species)
    if not 1 <= n <= len(names):
        raise FitError(f"n_species must be between 1 and {len(names)} (the pool), got {n}")
    fmin, fmax = BANDS[band]["range_mhz"]
    in_band = [s for s in names if len(catalog.lines(s, [(fmin, fmax)], pad_kms=0.0))]
    species = list(rng.choice(in_band, size=min(n, len(in_band)), replace=False))
    layout = {**MIXTURE_LAYOUTS[regime], **kwargs}
    mock = mock_spectrum(
        species, band=band, regime=regime, catalog=catalog, seed=int(rng.integers(2**31)), **layout
    )

    obs = mock.obs
    n_lines = {}
    for i, name in enumerate(mock.species):
        alone = LTEModel(
            obs.freqs, [catalog.lines(name, obs.windows)], beam=obs.beam, T_bg=obs.T_bg
        )(mock.params[i : i + 1])
        n_lines[name] = sum(
            find_peaks_above(y, DETECTABLE_SNR * r).size
            for y, r in zip(alone, obs.rms, strict=True)
        )
    left_out = None
    if interloper:
        strong = [s for s in mock.species if n_lines[s] >= DETECTABLE_MIN_LINES]
        left_out = str(rng.choice(strong or mock.species))
    absent = [s for s in names if s not in mock.species]
    decoys = sorted(rng.choice(absent, size=min(n_decoys, len(absent)), replace=False).tolist())
    candidates = sorted([s for s in mock.species if s != left_out] + decoys)
    return MockMixture(mock, candidates, left_out, decoys, n_lines)


def mixture_case(
    i: int,
    *,
    seed: int = 0,
    regime: str = "mixture",
    interloper_every: int = 3,
    catalog=None,
    **kwargs,
) -> MockMixture:
    """Mixture ``i`` of the seeded series: seed ``seed * 100003 + i``, band
    ``(3, 6, 7)[i % 3]`` (cold core: 3), an interloper when
    ``(i + i // 3) % interloper_every == interloper_every - 1`` (0: never): one mixture in
    ``interloper_every``, spread over the three bands (the shift by ``i // 3`` keeps them
    from all landing in one band when ``interloper_every`` is a multiple of 3). Extra
    keyword arguments go to :func:`mock_mixture`."""
    band = 3 if regime == "cold-core" else (3, 6, 7)[i % 3]
    with_interloper = (
        interloper_every > 0 and (i + i // 3) % interloper_every == interloper_every - 1
    )
    return mock_mixture(
        regime=regime,
        band=band,
        interloper=with_interloper,
        catalog=_catalog(catalog),
        seed=seed * 100003 + i,
        **kwargs,
    )


def mixture_dataset(n: int, *, catalog=None, **kwargs) -> list[MockMixture]:
    """Mixtures 0 … n−1 of :func:`mixture_case` (same keyword arguments)."""
    catalog = _catalog(catalog)
    return [mixture_case(i, catalog=catalog, **kwargs) for i in range(n)]
