"""fit_cube: pixel-by-pixel fitting of a cube on Dask, resumable (docs/method.md §8).

The kept pixels of :func:`~spectuner_nb.cube.preprocessing.preprocess` are split
into chunks. Each chunk is one task (:mod:`.worker`): it builds one
:class:`~spectuner_nb.observation.Observation` per pixel, draws the start strategy's
proposals for the whole chunk in one batch (the policy, or any object with a
``propose`` method), and runs :func:`~spectuner_nb.fit.fit_spectrum` pixel by pixel.
The chunks run in this process or on Dask (:mod:`.scheduling`). Finished chunks are
written to ``workdir`` atomically (:class:`~spectuner_nb.cube.store.ResultStore`);
a rerun with ``resume=True`` skips them, so an interrupted run (kill -9
included) continues with no pixel lost or fitted twice.

Determinism: each pixel's random draws use a seed derived from (``seed``, pixel
index) and the proposer's draws a seed derived from (``seed``, chunk index); the
chunk layout is fixed in the manifest. A resumed run therefore gives the same
maps as an uninterrupted one.

``init="neighbour"`` fits a coarse grid of seed pixels first (every
``neighbour_stride``-th row and column, policy or random init), then starts
every other pixel from the solutions of its four nearest seed pixels (:mod:`.neighbours`).

Every setting is checked before the cubes are loaded
(:class:`~spectuner_nb.fit_settings.CubeSettings`, :mod:`~spectuner_nb.cube.validate`),
the start strategy resolved (a missing checkpoint refused for ``init="policy"``) before
any pixel is selected, and the line lists checked against the windows before any pixel
is fitted. A pixel that cannot be fitted gets a status and its error message
(:data:`~spectuner_nb.cube.results.STATUS_REASONS`) and is not counted as fitted.
The run identity in the manifest covers the data, every setting, the line lists and
partition functions and the policy's weights; the work directory is locked while a
run uses it (:mod:`~spectuner_nb.cube.store`).
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import ties
from ..errors import CubeError
from ..fit_settings import CUBE_DEFAULTS
from ..parameters import N_PARAMS, TABLE1_BOUNDS
from ..policy.loader import policy_available
from ..starts import resolve_init
from .lend import LEND_RADIUS, lenders, lent_ranges, needs_lending
from .load import CubeSet, load_cubes
from .neighbours import neighbour_inits, pixel_plan
from .preprocessing import PreprocessConfig, Preprocessed, preprocess
from .results import (
    STATUS_BAD_OBS,
    STATUS_FIT_FAILED,
    STATUS_NOTHING_TO_FIT,
    STATUS_OK,
    CubeFitResult,
)
from .scheduling import WORKER_CONFIG, close_client, make_client, progress_bar, run_chunks
from .store import ResultStore
from .validate import INITS, check_mask, check_settings, run_identity
from .worker import ChunkSettings, ChunkTask, fit_chunk, pixel_seed, single_threaded

__all__ = [
    "INITS",
    "STATUS_BAD_OBS",
    "STATUS_FIT_FAILED",
    "STATUS_NOTHING_TO_FIT",
    "STATUS_OK",
    "WORKER_CONFIG",
    "fit_chunk",
    "fit_cube",
    "pixel_seed",
    "policy_available",
]

# the private names of earlier releases, kept for a release
_single_threaded = single_threaded
_make_client = make_client
_pixel_plan = pixel_plan
_neighbour_inits = neighbour_inits


def _chunks(n: int, size: int, offset: int = 0) -> list[tuple[int, int]]:
    return [(offset + a, offset + min(a + size, n)) for a in range(0, n, size)]


def fit_cube(
    cubes: CubeSet | str | os.PathLike | Sequence[str | os.PathLike],
    species: str | Sequence[str],
    *,
    continuum=None,
    v_lsr: float = 0.0,
    loss: str = CUBE_DEFAULTS.loss,
    init=CUBE_DEFAULTS.init,
    optimizer: str = CUBE_DEFAULTS.optimizer,
    n_init: int = CUBE_DEFAULTS.n_init,
    client=None,
    workdir: str | os.PathLike | None = None,
    resume: bool = True,
    seed: int | None = CUBE_DEFAULTS.seed,
    chunk_size: int = CUBE_DEFAULTS.chunk_size,
    n_workers: int | None = None,
    select: bool | PreprocessConfig = True,
    mask: np.ndarray | None = None,
    bad_channels=None,
    catalog=None,
    neighbour_stride: int = CUBE_DEFAULTS.neighbour_stride,
    progress: bool = True,
    fit_kwargs: dict | None = None,
    tie: bool = False,
) -> CubeFitResult:
    """Fit ``species`` to every selected pixel of a cube; see the module docstring.

    Parameters
    ----------
    cubes
        A :class:`CubeSet`, or one FITS/CASA cube per spectral window.
    species
        Species names (one velocity component each).
    continuum, v_lsr, bad_channels
        Passed to :func:`~spectuner_nb.cube.load.load_cubes` when ``cubes`` are paths
        (continuum images per window; systemic velocity in km/s; bad channels).
    loss
        "pm" (peak matching, default) or "chi2"; the defaults are those of
        :data:`~spectuner_nb.fit_settings.CUBE_DEFAULTS`.
    init
        "auto" (default: the policy's batched proposals per chunk when a checkpoint
        loads and the bounds lie inside Table 1, uniform draws otherwise — with a warning
        when no checkpoint loads), "policy" (:class:`~spectuner_nb.errors.CheckpointError`
        when none loads), "random", "neighbour" (see the module docstring), or any object
        with a ``propose`` method (:class:`~spectuner_nb.starts.Proposer`).
    optimizer, n_init, fit_kwargs
        Passed to :func:`~spectuner_nb.fit.fit_spectrum` for each pixel (``fit_kwargs``:
        bounds, gradient, maxiter, n_trial, shared, base).
    client
        A ``dask.distributed.Client``; None: a LocalCluster with ``n_workers``
        processes (default all cores); False: run in this process, no Dask.
    workdir
        Directory for the chunk files (resumable); default a new temporary directory.
    resume
        Reuse finished chunks of the same run in ``workdir``.
    seed
        Seed of the random draws, a whole number ≥ 0 (None raises
        :class:`~spectuner_nb.errors.CubeError`: a cube fit is reproducible).
    chunk_size
        Pixels per task.
    select
        Pixel selection of docs/method.md §8: True (defaults), a :class:`PreprocessConfig`,
        or False to fit every pixel with finite data.
    mask
        Optional boolean map (ny, nx) restricting the pixels further.
    catalog
        Transition cache; default :func:`spectuner_nb.catalog.default_cache`.
    neighbour_stride
        Spacing of the seed-pixel grid for ``init="neighbour"``.
    progress
        Show a progress bar (pixels/s and ETA).
    tie
        Run the tie step of the identification in every pixel (χ² only,
        :func:`~spectuner_nb.ties.tie_unconstrained`): a species whose T_ex or η that
        pixel's data leave unconstrained takes them from the range of the species the
        pixel does constrain (one emitting region), instead of running to a bound.
    """
    t_start = time.perf_counter()
    opts = check_settings(
        species=species,
        loss=loss,
        init=init,
        optimizer=optimizer,
        n_init=n_init,
        seed=seed,
        chunk_size=chunk_size,
        n_workers=n_workers,
        neighbour_stride=neighbour_stride,
        fit_kwargs=fit_kwargs,
        v_lsr=v_lsr,
        workdir=workdir,
        select=select,
    )
    names, fit_kwargs = opts["species"], opts["fit_kwargs"]
    if tie and loss != "chi2":
        raise CubeError(f"tie=True needs loss='chi2' (the tie step refits by χ²), not {loss!r}")
    proposer, init_used = _start(init, opts["bounds"])
    if not isinstance(cubes, CubeSet):
        cubes = load_cubes(cubes, continuum=continuum, v_lsr=v_lsr, bad_channels=bad_channels)
    mask = check_mask(mask, cubes.shape)
    lines = _line_lists(cubes, names, catalog, loss, fit_kwargs)
    plan = _plan(cubes, select, mask, init, opts["neighbour_stride"], opts["chunk_size"])
    config = run_identity(
        {
            "data": cubes.fingerprint(),
            "species": names,
            "loss": loss,
            "init": init_used,
            "optimizer": opts["optimizer"],
            "n_init": opts["n_init"],
            "seed": opts["seed"],
            "chunk_size": opts["chunk_size"],
            "select": None if plan.pre is None else repr(plan.pre.config),
            "neighbour_stride": opts["neighbour_stride"],
            "fit_kwargs": repr(sorted(fit_kwargs.items())),
            "tie": bool(tie),
            "tie_rules": ties.TIE_RULES_REVISION if tie else None,
        },
        lines,
        proposer,
    )
    workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="fitcube_"))
    store = ResultStore(workdir, config, plan.pixels, plan.layout, resume=resume)
    try:
        if plan.pre is not None:
            plan.pre.write_mask(workdir / "selection_mask.fits", cubes.wcs)
            (workdir / "selection_report.txt").write_text(plan.pre.report() + "\n")
        settings = ChunkSettings(
            species=names,
            loss=loss,
            optimizer=opts["optimizer"],
            n_init=int(opts["n_init"]),
            seed=int(opts["seed"]),
            fit_kwargs=dict(fit_kwargs or {}),
            beam=cubes.beam_arcsec,
            v_lsr=float(cubes.v_lsr),
            freqs=[w.freq_mhz for w in cubes.windows],
            tie=bool(tie),
        )
        t_fit = time.perf_counter()
        run_client, owned = (
            (None, False) if client is False else make_client(client, opts["n_workers"])
        )
        lent = None
        rms_map = _rms_map(cubes, plan.pre)
        try:
            _fit_chunks(
                store, plan, cubes, rms_map, settings, lines, proposer, run_client, progress
            )
            if tie:
                lent = _lend(store, plan, cubes, _preset(opts["bounds"], fit_kwargs), resume)
                _fit_lent(lent, cubes, rms_map, settings, lines, run_client, progress)
        finally:
            if owned:
                close_client(run_client)
        timing = {
            "wall_s_total": time.perf_counter() - t_start,
            "wall_s_fit": time.perf_counter() - t_fit,
        }
        meta = {**config, "init_requested": init if isinstance(init, str) else "proposer"}
        result = _collect(store, plan, cubes, names, lines, {**meta, **timing}, lent)
    finally:
        store.close()
        if lent is not None:
            lent[0].close()
    if result.n_fitted == 0:
        warnings.warn(f"no pixel was fitted: {result.failures()}", stacklevel=2)
    return result


@dataclass(frozen=True)
class _PixelPlan:
    """Which pixels a run fits, in which order and chunks.

    ``pixels`` holds flat pixel indices, the ``n_seed`` seed pixels of
    ``init="neighbour"`` first; ``layout`` the (start, stop) of each chunk in ``pixels``.
    """

    pre: Preprocessed | None
    keep: np.ndarray
    pixels: np.ndarray
    n_seed: int
    layout: list[tuple[int, int]]
    chunk_size: int


def _plan(cubes: CubeSet, select, mask, init, stride: int, chunk_size: int) -> _PixelPlan:
    """The pixel selection of docs/method.md §8 (or every finite pixel), cut to ``mask``."""
    pre = _selection(cubes, select)
    keep = pre.keep if pre is not None else _finite_pixels(cubes)
    if mask is not None:
        keep = keep & mask
    if not keep.any():
        raise CubeError("no pixel left to fit after the selection")
    pixels, n_seed = pixel_plan(keep, init if isinstance(init, str) else "proposer", stride)
    layout = _chunks(n_seed, chunk_size) + _chunks(pixels.size - n_seed, chunk_size, n_seed)
    return _PixelPlan(pre, keep, pixels, n_seed, layout, chunk_size)


def _line_lists(cubes: CubeSet, names: list[str], catalog, loss: str, fit_kwargs: dict) -> list:
    """Each species' lines in the cubes' rest-frequency windows, checked fittable."""
    if catalog is None:
        from ..catalog import default_cache

        catalog = default_cache()
    probe = _probe(cubes)
    windows = [(float(f[0]), float(f[-1])) for f in probe.rest_freqs]
    lines = [catalog.lines(s, windows) for s in names]
    _check_problem(probe, names, lines, loss, fit_kwargs)
    return lines


def _fit_chunks(
    store: ResultStore,
    plan: _PixelPlan,
    cubes: CubeSet,
    rms_map: np.ndarray,
    settings: ChunkSettings,
    lines: list,
    proposer,
    client,
    progress: bool,
) -> None:
    """Fit the chunks ``store`` still lacks: the seed chunks from the start strategy,
    then the others from their neighbouring seed pixels' solutions (``rms_map``: noise per
    window and pixel, :func:`_rms_map`)."""
    seed_chunks = [i for i, (a, _) in enumerate(plan.layout) if a < plan.n_seed]
    rest_chunks = [i for i, (a, _) in enumerate(plan.layout) if a >= plan.n_seed]
    n_done = sum(store.chunk_pixels(i).size for i in store.done())
    bar = progress_bar(plan.pixels.size, n_done, progress)
    try:
        first = "random" if proposer is None else "policy"
        tasks = _TaskMaker(store, cubes, rms_map, settings.seed, first)
        run_chunks(store, seed_chunks, tasks, settings, lines, proposer, client, bar)
        if rest_chunks:
            seed_x = (
                np.concatenate([store.read(i)["x"] for i in seed_chunks])
                if seed_chunks
                else np.zeros((0, len(settings.species), N_PARAMS))
            )
            neighbours = (plan.pixels[: plan.n_seed], seed_x)
            tasks = _TaskMaker(store, cubes, rms_map, settings.seed, "neighbour", neighbours)
            run_chunks(store, rest_chunks, tasks, settings, lines, None, client, bar)
    finally:
        bar.close()


def _preset(bounds: np.ndarray | None, fit_kwargs: dict) -> np.ndarray | None:
    """The fit-space bounds every pixel was fitted with: the run's, Table 1 when none was
    given, None when each pixel chose its own preset (``bounds="auto"``)."""
    if bounds is not None:
        return bounds
    return None if isinstance(fit_kwargs.get("bounds"), str) else TABLE1_BOUNDS


def _lend(
    store: ResultStore, plan: _PixelPlan, cubes: CubeSet, bounds: np.ndarray | None, resume: bool
) -> tuple[ResultStore, np.ndarray, np.ndarray] | None:
    """The lending pass of a tied fit (:mod:`.lend`): its store in ``workdir/lend`` and, for
    its pixels (sorted flat indices), the first-pass solutions and the lent ranges; None when
    no pixel needs a range that a neighbour can lend, or the pixels' bounds differ."""
    if bounds is None:
        return None
    arrays, order = store.read_all(), store.pixel_order()
    preset = np.broadcast_to(np.asarray(bounds, float), arrays["x"].shape + (2,))
    ok = arrays["status"] == STATUS_OK
    ranges = lent_ranges(
        cubes.shape, order, arrays["x"], lenders(arrays["x"], arrays["x_err"], preset) & ok[:, None]
    )
    need = needs_lending(arrays["x"], arrays["x_err"], preset, ok)
    need &= np.isfinite(ranges).all(axis=2).any(axis=1)
    if not need.any():
        return None
    sort = np.argsort(order[need], kind="stable")
    pixels = order[need][sort]
    config = {"first_pass": store.run_id, "lend_radius": LEND_RADIUS}
    lent_store = ResultStore(
        store.workdir / "lend",
        config,
        pixels,
        _chunks(pixels.size, plan.chunk_size),
        resume=resume,
    )
    return lent_store, arrays["x"][need][sort], ranges[need][sort]


def _fit_lent(
    lent: tuple[ResultStore, np.ndarray, np.ndarray] | None,
    cubes: CubeSet,
    rms_map: np.ndarray,
    settings: ChunkSettings,
    lines: list,
    client,
    progress: bool,
) -> None:
    """Refit the lending pass's pixels from their first-pass solutions with the tie step
    and the lent ranges."""
    if lent is None:
        return
    lent_store, x, ranges = lent
    n_done = sum(lent_store.chunk_pixels(i).size for i in lent_store.done())
    bar = progress_bar(lent_store.pixels.size, n_done, progress)
    try:
        tasks = _TaskMaker(lent_store, cubes, rms_map, settings.seed, "neighbour", lent=(x, ranges))
        chunks = range(len(lent_store.chunks))
        run_chunks(lent_store, chunks, tasks, settings, lines, None, client, bar)
    finally:
        bar.close()


_ADDED = ("nfev", "seconds")
"""Per-pixel arrays that the lending pass adds to the first pass's; it replaces the others
(``x_spread``, the spread of the first pass's starts, is kept)."""


def _merge_lent(arrays: dict, order: np.ndarray, lent_store: ResultStore) -> int:
    """Put the lending pass's fits into the first pass's ``arrays`` (pixels ``order``) in
    place; returns how many pixels it refitted."""
    extra, where = lent_store.read_all(), lent_store.pixel_order()
    pos = {int(p): k for k, p in enumerate(order)}
    rows = np.array([pos[int(p)] for p in where], np.int64)
    good = extra["status"] == STATUS_OK
    for key, values in extra.items():
        if key == "x_spread":
            continue
        if key in _ADDED:
            arrays[key][rows] += values
        else:
            arrays[key][rows[good]] = values[good]
    return int(good.sum())


def _collect(
    store: ResultStore,
    plan: _PixelPlan,
    cubes: CubeSet,
    names: list[str],
    lines: list,
    meta,
    lent: tuple[ResultStore, np.ndarray, np.ndarray] | None = None,
) -> CubeFitResult:
    """The maps of a finished run, with the run's settings and timings in ``meta``."""
    arrays = store.read_all()
    n_lent = 0 if lent is None else _merge_lent(arrays, store.pixel_order(), lent[0])
    meta = {
        **meta,
        "n_pixels_lent": n_lent,
        "workdir": str(store.workdir),
        "n_pixels": int(plan.pixels.size),
        "v_lsr": cubes.v_lsr,
        "beam_arcsec": list(cubes.beam_arcsec),
        "mean_freq_mhz": float(np.mean(np.concatenate(_rest_freqs(cubes)))),
        "pixel_s_median": float(np.median(arrays["seconds"])),
        "pixel_s_sum": float(np.sum(arrays["seconds"])),
        "object": cubes.header.get("OBJECT", ""),
    }
    return CubeFitResult.from_pixels(
        names,
        cubes.shape,
        cubes.wcs,
        store.pixel_order(),
        arrays,
        plan.keep,
        meta=meta,
        lines=lines,
        preprocessed=plan.pre,
    )


def _check_problem(probe, names: list[str], lines: list, loss: str, fit_kwargs: dict) -> None:
    """Refuse species without a line in the windows and invalid bounds/shared before fitting."""
    from ..fit import FitProblem
    from ..sanity import check_fittable

    problem = FitProblem(
        probe,
        names,
        loss=loss,
        lines=lines,
        bounds=fit_kwargs.get("bounds"),
        shared=fit_kwargs.get("shared", ()),
    )
    check_fittable(probe, names, lines, t_ex_max=float(problem.bounds[:, 1, 1].max()))


def _probe(cubes: CubeSet):
    """An Observation with the cubes' channels, beam and v_LSR (zero intensities, rms 1 K)."""
    from ..observation import Observation

    return Observation(
        freqs=tuple(w.freq_mhz for w in cubes.windows),
        intensities=tuple(np.zeros(w.n_chan) for w in cubes.windows),
        rms=np.ones(len(cubes.windows)),
        T_bg=np.zeros(len(cubes.windows)),
        beam=cubes.beam_arcsec,
        v_lsr=cubes.v_lsr,
    )


def _rest_freqs(cubes: CubeSet) -> list[np.ndarray]:
    """Rest frequencies per window (MHz) of the cubes' channels at their v_LSR."""
    return _probe(cubes).rest_freqs


def _selection(cubes: CubeSet, select) -> Preprocessed | None:
    if select is False:
        return None
    return preprocess(cubes, select if isinstance(select, PreprocessConfig) else None)


def _finite_pixels(cubes: CubeSet) -> np.ndarray:
    return np.all([np.isfinite(w.data[w.good]).any(axis=0) for w in cubes.windows], axis=0)


def _rms_map(cubes: CubeSet, pre: Preprocessed | None) -> np.ndarray:
    """Noise per window and pixel (n_windows, ny, nx): local rms, else global."""
    if pre is None:
        from .preprocessing import global_rms

        rms = global_rms(cubes)
        return np.broadcast_to(rms[:, None, None], (len(rms),) + cubes.shape).copy()
    return np.where(np.isfinite(pre.rms_local), pre.rms_local, pre.rms_global[:, None, None])


def _start(init, bounds):
    """(proposer or None, init label of the run) for the validated ``init``."""
    start = resolve_init("auto" if init == "neighbour" else init, bounds=bounds, error=CubeError)
    proposer = None if isinstance(start, str) else start
    if init == "neighbour":
        return proposer, "neighbour" if proposer is not None else "neighbour-random"
    return proposer, "random" if proposer is None else "policy"


class _TaskMaker:
    """Builds the :class:`ChunkTask` of a chunk index from the cubes (on the driver)."""

    def __init__(
        self,
        store: ResultStore,
        cubes: CubeSet,
        rms_map: np.ndarray,
        seed: int,
        init: str,
        neighbours: tuple[np.ndarray, np.ndarray] | None = None,
        lent: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.store, self.cubes, self.rms_map = store, cubes, rms_map
        self.seed, self.init, self.neighbours, self.lent = seed, init, neighbours, lent

    def __call__(self, index: int) -> ChunkTask:
        pix = self.store.chunk_pixels(index)
        iy, ix = np.unravel_index(pix, self.cubes.shape)
        init_arrays = lent = None
        if self.neighbours is not None:
            init_arrays = neighbour_inits(
                self.cubes.shape, self.neighbours[0], self.neighbours[1], pix
            )
        if self.lent is not None:  # rows of the store's sorted pixels
            rows = np.searchsorted(self.store.pixels, pix)
            init_arrays, lent = self.lent[0][rows][:, None], self.lent[1][rows]
        return ChunkTask(
            index=index,
            pixels=pix,
            init=self.init,
            chunk_seed=pixel_seed(self.seed, index, 1),
            spectra=self.cubes.spectra(iy, ix, masked=True),
            t_bg=self.cubes.t_background(iy, ix),
            rms=self.rms_map[:, iy, ix].T,
            init_arrays=init_arrays,
            lent=lent,
        )
