"""Training and evaluation pixels for the policy: mock spectra and real cube pixels.

A :class:`Pixel` is one observation with its candidate target species: those
with at least one observed peak (4 rms) within the Table-1 velocity bounds of
one of their transitions (docs/method.md §6). Pixels are saved as JSON in a work
directory outside the repository (real data are never copied into the repo).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...catalog.linelist import LineList
from ...doppler import velocity_width
from ...observation import Observation
from ...parameters import V_OFF_MAX_KMS
from ..features import count_peaks, peak_channels, transitions_in_view

__all__ = [
    "TRAIN_SPECIES",
    "HELDOUT_SPECIES",
    "EXTRA_TRAIN_SPECIES",
    "HOTCORE_TRAIN_SPECIES",
    "ORGANIC_TRAIN_SPECIES",
    "SNAPSHOT_TRAIN_SPECIES",
    "SHIPPED_TRAIN_SPECIES",
    "W3H2O_FILE",
    "W3H2O_VLSR_KMS",
    "Pixel",
    "has_peak_near_lines",
    "make_pixel",
    "mock_pixels",
    "pixel_from_mock",
    "W3LIKE_LAYOUT",
    "W3H2O_PIXEL_PREFIX",
    "W3LIKE_PIXEL_PREFIX",
    "layout_mock_pixels",
    "w3h2o_cube",
    "w3h2o_pixels",
    "save_pixels",
    "load_pixels",
    "peak_bins",
]

TRAIN_SPECIES: tuple[str, ...] = (
    "CH3OH",
    "H2CO",
    "HC3N",
    "OCS",
    "SO2",
    "CH3CN",
    "HNCO",
    "CS",
    "SO",
    "SiO",
    "HCN",
    "HNC",
    "13CO",
    "C18O",
    "H2S",
    "CH3CCH",
    "CH3OCHO",
)
"""The older, common species the policy is trained on."""
HELDOUT_SPECIES: tuple[str, ...] = (
    "C2H5CN",
    "C2H3CN",
    "CH3OCH3",
    "NH2CHO",
    "CH3CHO",
    "C2H5OH",
    "HCOOH",
    "CH2CO",
)
"""Species never used as training targets (generalisation test)."""
EXTRA_TRAIN_SPECIES: tuple[str, ...] = (
    "13CH3CN",
    "13CH3OH",
    "13CS",
    "C17O",
    "CO",
    "C34S",
    "H13CN",
    "H13CO+",
    "HCO+",
    "HN13C",
    "34SO2",
)
"""The other species of the starter catalog (isotopologues, ions), training-only
additions of the continued run; the held-out list is unchanged."""
HOTCORE_TRAIN_SPECIES: tuple[str, ...] = (
    "c-C3H2",
    "HCOCH2OH",
    "CH3SH",
    "NH2CN",
    "CH2NH",
    "CH3NC",
    "CH3C15N",
    "HDCO",
    "H213CO",
    "HOCN",
    "HNCS a-type",
    "HCCNC",
    "HC7N",
    "H13CCCN",
    "HC13CCN",
    "HCC13CN",
    "HDO",
    "PN",
    "NS",
    "33SO2",
    "33SO",
    "34SO",
    "CCH",
    "CN",
    "O13CS",
    "OC34S",
    "HCS+",
    "SO+",
    "HC15N",
    "DNC",
)
"""The 30 hot-core species added to the starter catalog on 2026-11-22: training-only
additions of the shipped checkpoint (step 3317, with TRAIN_SPECIES and
EXTRA_TRAIN_SPECIES); the held-out list is unchanged."""
ORGANIC_TRAIN_SPECIES: tuple[str, ...] = (
    "c-C2H4O",
    "aGg'-(CH2OH)2",
    "s-H2CCHOH",
    "a-H2CCHOH",
    "H2NCH2COOH",
)
"""Five complex organics added to the starter catalog on 2026-11-22 (ethylene oxide,
aGg'-ethylene glycol, syn- and anti-vinyl alcohol, glycine I): training-only, to widen the
set of large asymmetric rotors the policy learns from; the held-out list is unchanged."""
SNAPSHOT_TRAIN_SPECIES: tuple[str, ...] = (
    "c-H2C3O",
    "c-HCCCD",
    "CH2DCCH",
    "D2CO",
    "CH3C5N",
    "CH3C6H",
    "HSCN;a-type;",
    "H2CN",
    "HNO",
    "HCO",
    "NO",
    "NS-34",
    "D2O",
    "DNCO",
    "HNC-13-O",
    "HNCO-18",
    "SiC-13-C",
    "c-C3H",
)
"""18 more species of the Splatalogue snapshot added to the starter catalog on 2026-11-22
(cyclopropenone, isotopologues, radicals, long carbon chains): training-only; the held-out
list is unchanged."""
SHIPPED_TRAIN_SPECIES: tuple[str, ...] = (
    TRAIN_SPECIES
    + EXTRA_TRAIN_SPECIES
    + HOTCORE_TRAIN_SPECIES
    + ORGANIC_TRAIN_SPECIES
    + SNAPSHOT_TRAIN_SPECIES
)
"""The 79 training species of the shipped checkpoint (steps 5117–14517): every species of the
starter catalog except the held-out ones."""
W3H2O_FILE: str = "spectra/noema_core_wideX/W3H2O_WideX_ABD_center.fits"
"""The real W3(H2O) cube, relative to the shared data directory."""
W3H2O_VLSR_KMS: float = -48.5
"""Systemic velocity of W3(H2O), km/s (the cube header's VELO-LSR)."""


@dataclass
class Pixel:
    """One observation with its candidate target species.

    ``truth`` maps species to true fit-space parameters (mocks only).
    """

    obs: Observation
    name: str
    species: list[str]
    n_peaks: int
    truth: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "obs": self.obs.to_dict(),
            "name": self.name,
            "species": self.species,
            "n_peaks": self.n_peaks,
            "truth": self.truth,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Pixel:
        return cls(
            Observation.from_dict(d["obs"]),
            d["name"],
            list(d["species"]),
            int(d["n_peaks"]),
            dict(d["truth"]),
        )


def has_peak_near_lines(obs: Observation, lines: LineList) -> bool:
    """True if an observed peak lies within ±V_OFF_MAX of a transition in view.

    This is the training data's reach rule (docs/policy.md): a species enters a training
    pixel when some v_off inside Table 1 can put one of its lines on an observed peak
    (:func:`~spectuner_nb.policy.features.peak_channels`, the peaks the network sees), so
    that the policy also learns to propose for species with weak or blended lines. It
    judges no model and is not the engine's "which peaks a species explains"
    (:func:`~spectuner_nb.identification.matching.match_model`); the shipped checkpoint's
    recipe selects its pixels' species with it.
    """
    view = transitions_in_view(lines, obs)
    if len(view) == 0:
        return False
    nu_t = np.asarray(view.freq)
    for f, pk in zip(obs.rest_freqs, peak_channels(obs), strict=True):
        if pk.size == 0:
            continue
        nu_p = f[pk]
        j = np.clip(np.searchsorted(nu_t, nu_p), 1, max(nu_t.size - 1, 1))
        near = np.minimum(
            np.abs(nu_t[j - 1] - nu_p), np.abs(nu_t[np.minimum(j, nu_t.size - 1)] - nu_p)
        )
        if np.any(velocity_width(near, nu_p) <= V_OFF_MAX_KMS):
            return True
    return False


def make_pixel(
    obs: Observation, name: str, candidates: Sequence[str], catalog, truth: dict | None = None
) -> Pixel:
    """A :class:`Pixel` whose species are the ``candidates`` with observed peaks."""
    species = [s for s in candidates if has_peak_near_lines(obs, catalog.lines(s, obs.windows))]
    return Pixel(obs, name, species, count_peaks(obs), truth or {})


def _mock_draws(
    n: int,
    species_pool: Sequence[str],
    *,
    seed: int,
    catalog,
    setup: Callable[[int], tuple[str, tuple[int, int], dict]],
):
    """Yield ``(i, mock)`` until ``n`` mocks are made (at most ``5 n`` tries).

    ``setup(i)`` gives try ``i``'s regime, (min, max) species count and further
    :func:`~spectuner_nb.mock.mock_spectrum` keywords; the mixture is drawn from
    ``species_pool`` with the ``seed`` generator, the mock seeded by ``seed``·100003 + i.
    Mixtures the mock generator rejects are skipped.
    """
    from ...errors import SpectunerError
    from ...mock import mock_spectrum

    rng = np.random.default_rng(seed)
    pool = list(species_pool)
    made = 0
    for i in range(5 * n):
        if made == n:
            return
        regime, (lo, hi), kwargs = setup(i)
        k = min(int(rng.integers(lo, hi + 1)), len(pool))
        mix = list(rng.choice(pool, size=k, replace=False))
        try:
            m = mock_spectrum(mix, regime=regime, catalog=catalog, seed=seed * 100003 + i, **kwargs)
        except SpectunerError:
            continue
        made += 1
        yield i, m


def mock_pixels(
    n: int, species_pool: Sequence[str], *, seed: int, catalog, targets: Sequence[str] | None = None
) -> list[Pixel]:
    """``n`` mock pixels (bands 3/6/7, line-rich and line-poor) mixing ``species_pool``.

    Target candidates are ``targets`` (default: the pool) present in each mock.
    """
    from ...mock import REGIMES

    def setup(i: int) -> tuple[str, tuple[int, int], dict]:
        regime = ("line-rich", "line-poor")[(i // 3) % 2]
        return regime, REGIMES[regime]["n_species"], {"band": (3, 6, 7)[i % 3]}

    targets = list(species_pool if targets is None else targets)
    return [
        pixel_from_mock(m, f"mock{seed}:{i}", targets, catalog)
        for i, m in _mock_draws(n, species_pool, seed=seed, catalog=catalog, setup=setup)
    ]


def pixel_from_mock(mock, name: str, targets: Sequence[str], catalog) -> Pixel:
    """The :class:`Pixel` of a :class:`~spectuner_nb.mock.MockSpectrum`: its species among
    ``targets`` with observed peaks, and the true fit-space parameters of all of them."""
    truth = {s: mock.params_fit[j].tolist() for j, s in enumerate(mock.species)}
    cands = [s for s in mock.species if s in targets]
    return make_pixel(mock.obs, name, cands, catalog, truth)


W3LIKE_LAYOUT: dict = {"band": 6, "n_windows": 1, "n_channels": 400, "channel_mhz": 1.953}
"""Window layout of the W3(H2O) NOEMA cube (one 400-channel window of 1.953 MHz near
218.5 GHz) for :func:`layout_mock_pixels`."""


W3H2O_PIXEL_PREFIX = "w3h2o"
"""Name prefix of real W3(H2O) pixels (``w3h2o:<x>,<y>``)."""
W3LIKE_PIXEL_PREFIX = "w3like"
"""Default name prefix of W3-like mock pixels (``w3like<seed>:<i>``)."""


def layout_mock_pixels(
    n: int,
    species_pool: Sequence[str],
    *,
    seed: int,
    catalog,
    layout: dict | None = None,
    prefix: str | None = None,
    line_rich_species: tuple[int, int] | None = None,
) -> list[Pixel]:
    """``n`` mock pixels with one fixed window ``layout`` (default :data:`W3LIKE_LAYOUT`).

    Line-rich and line-poor mocks alternate; the mixtures are drawn from
    ``species_pool`` (``line_rich_species`` = (min, max) species per line-rich mock
    overrides the regime's count, e.g. (8, 16) for a hot core). Every species of a
    mock with an observed peak is a target. Pixels are named ``<prefix>:<i>`` (default
    prefix ``w3like<seed>``; the name seeds the training augmentations of the pixel).
    """
    from ...mock import REGIMES

    layout = dict(W3LIKE_LAYOUT if layout is None else layout)

    def setup(i: int) -> tuple[str, tuple[int, int], dict]:
        regime = ("line-rich", "line-poor")[i % 2]
        if regime == "line-rich" and line_rich_species is not None:
            return regime, line_rich_species, layout
        return regime, REGIMES[regime]["n_species"], layout

    name = prefix or f"{W3LIKE_PIXEL_PREFIX}{seed}"
    return [
        pixel_from_mock(m, f"{name}:{i}", m.species, catalog)
        for i, m in _mock_draws(n, species_pool, seed=seed, catalog=catalog, setup=setup)
    ]


def w3h2o_cube():
    """The real W3(H2O) cube from the shared data (spectral axis in MHz, radio convention)."""
    from ...doppler import CONVENTION
    from ...readers import open_cube
    from ...settings import shared_data_dir

    return open_cube(shared_data_dir() / W3H2O_FILE).with_spectral_unit(
        "MHz", velocity_convention=CONVENTION
    )


def w3h2o_pixels(
    species: Sequence[str], catalog, *, parity: int | None = 0, step: int = 1
) -> list[Pixel]:
    """Pixels of the real W3(H2O) cube (read from the shared data at run time).

    ``parity`` 0 or 1 keeps pixels with (x + y) % 2 == parity (training vs
    held-out pixels), None keeps all; ``step`` thins the grid.
    """
    cube = w3h2o_cube()
    out = []
    for y in range(0, cube.shape[1], step):
        for x in range(0, cube.shape[2], step):
            if parity is not None and (x + y) % 2 != parity:
                continue
            obs = Observation.from_cube_pixel(cube, x, y, v_lsr=W3H2O_VLSR_KMS)
            out.append(make_pixel(obs, f"{W3H2O_PIXEL_PREFIX}:{x},{y}", species, catalog))
    return out


def save_pixels(pixels: Sequence[Pixel], path: str | Path) -> Path:
    """Write pixels to a JSON file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps([p.to_dict() for p in pixels]))
    partial.replace(path)  # a stopped write never leaves a truncated file behind
    return path


def load_pixels(path: str | Path) -> list[Pixel]:
    """Read pixels written by :func:`save_pixels`."""
    return [Pixel.from_dict(d) for d in json.loads(Path(path).read_text())]


def peak_bins(pixels: Sequence[Pixel], n_bins: int = 5) -> list[np.ndarray]:
    """Indices of pixels in ``n_bins`` even bins of observed peak number (empty bins dropped)."""
    peaks = np.array([p.n_peaks for p in pixels], dtype=float)
    edges = np.linspace(peaks.min(), peaks.max() + 1e-9, n_bins + 1)
    which = np.clip(np.searchsorted(edges, peaks, side="right") - 1, 0, n_bins - 1)
    return [np.flatnonzero(which == b) for b in range(n_bins) if np.any(which == b)]
