"""fit_cube: pixel-by-pixel fitting of a cube on Dask, resumable (docs/method.md §8).

The kept pixels of :func:`~spectuner_nb.cube.preprocessing.preprocess` are split
into chunks. Each chunk is one Dask task: it builds one
:class:`~spectuner_nb.observation.Observation` per pixel, draws the policy's
proposals for the whole chunk in one batch (``init="policy"``), and runs
:func:`~spectuner_nb.fit.fit_spectrum` pixel by pixel. Finished chunks are
written to ``workdir`` atomically (:class:`~spectuner_nb.cube.store.ResultStore`);
a rerun with ``resume=True`` skips them, so an interrupted run (kill -9
included) continues with no pixel lost or fitted twice.

Determinism: each pixel's random draws use a seed derived from (``seed``, pixel
index) and the policy's draws a seed derived from (``seed``, chunk index); the
chunk layout is fixed in the manifest. A resumed run therefore gives the same
maps as an uninterrupted one.

``init="neighbour"`` fits a coarse grid of seed pixels first (every
``neighbour_stride``-th row and column, policy or random init), then starts
every other pixel from the solutions of its four nearest seed pixels.

Every setting is checked before the cubes are loaded, and the line lists against
the windows before any pixel is fitted (:mod:`~spectuner_nb.cube.validate`). A pixel
that cannot be fitted gets a status and its error message
(:data:`~spectuner_nb.cube.results.STATUS_REASONS`) and is not counted as fitted.
The run identity in the manifest covers the data, every setting, the line lists and
partition functions and the policy's weights; the work directory is locked while a
run uses it (:mod:`~spectuner_nb.cube.store`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, CubeError, NothingToFitError, ObservationError, SpectunerError
from ..parameters import N_PARAMS
from .interrupt import sigint_ignored
from .load import CubeSet, load_cubes
from .mainguard import unguarded_call
from .preprocessing import PreprocessConfig, Preprocessed, preprocess
from .results import (
    REASON_CHARS,
    STATUS_BAD_OBS,
    STATUS_FIT_FAILED,
    STATUS_NOTHING_TO_FIT,
    STATUS_OK,
    CubeFitResult,
)
from .store import ResultStore
from .validate import INITS, check_mask, check_settings, run_identity

__all__ = ["INITS", "STATUS_BAD_OBS", "STATUS_FIT_FAILED", "STATUS_NOTHING_TO_FIT", "STATUS_OK",
           "WORKER_CONFIG", "fit_chunk", "fit_cube", "pixel_seed", "policy_available"]
_N_NEIGHBOURS = 4
_PIXEL_ERRORS = (SpectunerError, ArithmeticError, ValueError, np.linalg.LinAlgError)
_POLICY_CACHE: dict[str, object] = {}
WORKER_CONFIG: dict[str, object] = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "2s",
}
"""Dask settings of the LocalCluster that :func:`fit_cube` starts. Dask's default
``MALLOC_TRIM_THRESHOLD_`` for worker processes freezes glibc's mmap threshold, so every
model call's work arrays (> 128 kB) are mapped and unmapped afresh: the compiled model
ran 1.2–1.7× slower in a worker than in a plain process (measured, same kernels). The
statistical profiler and frequent event-loop ticks also take the GIL from the tasks.
Use these settings for your own cluster with ``dask.config.set(WORKER_CONFIG)`` before
starting it."""
log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- worker side
def _load_policy():
    """The shipped policy, loaded once per process (None when no checkpoint is available)."""
    if "policy" not in _POLICY_CACHE:
        try:
            from ..policy import Policy

            _POLICY_CACHE["policy"] = Policy.load()
        except (ImportError, AttributeError, CheckpointError, FileNotFoundError, OSError):
            _POLICY_CACHE["policy"] = None
    return _POLICY_CACHE["policy"]


def policy_available() -> bool:
    """True when a trained policy checkpoint can be loaded."""
    return _load_policy() is not None


def pixel_seed(seed: int, flat_index: int, stream: int = 0) -> int:
    """Seed of one pixel's (stream 0) or one chunk's (stream 1) random draws."""
    return int(np.random.SeedSequence([int(seed), int(stream), int(flat_index)])
               .generate_state(1)[0])


@contextlib.contextmanager
def _single_threaded():
    """Run numba kernels, BLAS and torch on one thread (one task per worker core).

    Besides avoiding oversubscription, this makes the floating-point results, and
    hence the fits, the same in this process and in any Dask worker.
    """
    import numba
    from threadpoolctl import threadpool_limits

    old_numba = numba.get_num_threads()
    numba.set_num_threads(1)
    blas = threadpool_limits(limits=1)
    try:
        import torch

        old_torch = torch.get_num_threads()
        torch.set_num_threads(1)
    except ImportError:
        torch, old_torch = None, 0
    try:
        yield
    finally:
        blas.restore_original_limits()
        numba.set_num_threads(old_numba)
        if torch is not None:
            torch.set_num_threads(old_torch)


def _observations(task: dict) -> tuple[list, list[str]]:
    """One Observation per pixel (None where refused) and the refusal messages."""
    from ..observation import Observation

    out, why = [], []
    for k in range(task["pixels"].size):
        try:
            obs, text = Observation.from_arrays(
                list(task["freqs"]), [s[k] for s in task["spectra"]], beam=task["beam"],
                rms=task["rms"][k], T_bg=task["t_bg"][k], v_lsr=task["v_lsr"],
                name=f"pixel {int(task['pixels'][k])}",
            ), ""
        except ObservationError as exc:
            obs, text = None, str(exc)
        out.append(obs)
        why.append(text)
    return out, why


def _policy_proposals(task: dict, obs: list, lines: list) -> np.ndarray | None:
    """(n_pix, n_init, n_species, 5) fit-space proposals for the chunk, NaN for bad pixels."""
    policy = _load_policy()
    if policy is None:
        return None
    ok = [k for k, o in enumerate(obs) if o is not None]
    out = np.full((len(obs), task["n_init"], len(lines), N_PARAMS), np.nan)
    if ok:
        draws = policy.propose([obs[k] for k in ok], list(lines), task["n_init"],
                               seed=task["chunk_seed"])
        out[ok] = np.asarray(draws, float).reshape(len(ok), task["n_init"], len(lines), N_PARAMS)
    return out


def fit_chunk(task: dict, lines: list) -> dict[str, np.ndarray]:
    """Fit every pixel of one chunk; returns arrays whose first axis is the chunk's pixels.

    ``task`` holds the pixels' spectra (K, NaN = masked), frequencies (MHz), rms and
    T_bg (K), beam, v_LSR and the fit settings; ``lines`` one line list per species.
    """
    from ..fit import fit_spectrum

    n, n_sp = task["pixels"].size, len(task["species"])
    out = {
        "x": np.full((n, n_sp, N_PARAMS), np.nan),
        "x_err": np.full((n, n_sp, N_PARAMS), np.nan),
        "x_spread": np.full((n, n_sp, N_PARAMS), np.nan),
        "loss": np.full(n, np.nan),
        "chi2": np.full(n, np.nan),
        "nfev": np.zeros(n, np.int64),
        "at_bound": np.zeros((n, n_sp, N_PARAMS), bool),
        "has_peak": np.zeros(n, bool),
        "status": np.full(n, STATUS_OK, np.int8),
        "reason": np.full(n, "", f"<U{REASON_CHARS}"),
        "converged": np.ones(n, bool),
        "seconds": np.zeros(n),
    }
    with _single_threaded():
        obs, refused = _observations(task)
        proposals = _policy_proposals(task, obs, lines) if task["init"] == "policy" else None
        for k, o in enumerate(obs):
            t0 = time.perf_counter()
            if o is None:
                out["status"][k], out["reason"][k] = STATUS_BAD_OBS, refused[k][:REASON_CHARS]
                continue
            if proposals is not None:
                init = proposals[k]
                out["x_spread"][k] = np.std(init, axis=0)
            elif task["init_arrays"] is not None:
                init = task["init_arrays"][k]
                init = init[np.all(np.isfinite(init), axis=(1, 2))]
                init = "random" if init.size == 0 else init
            else:
                init = "random"
            try:
                res = fit_spectrum(
                    o, task["species"], loss=task["loss"], optimizer=task["optimizer"],
                    init=init, n_init=task["n_init"], seed=pixel_seed(task["seed"],
                                                                       task["pixels"][k]),
                    lines=lines, errors=True, **task["fit_kwargs"],
                )
            except _PIXEL_ERRORS as exc:  # one bad pixel must not stop the cube
                out["status"][k] = (STATUS_NOTHING_TO_FIT if isinstance(exc, NothingToFitError)
                                    else STATUS_FIT_FAILED)
                out["reason"][k] = f"{type(exc).__name__}: {exc}"[:REASON_CHARS]
                continue
            out["x"][k], out["x_err"][k] = res.x, res.x_err
            out["loss"][k], out["chi2"][k], out["nfev"][k] = res.loss, res.chi2, res.nfev
            out["converged"][k] = bool(res.meta.get("success", True))
            out["at_bound"][k] = res.at_bound
            out["has_peak"][k] = res.has_peak
            out["seconds"][k] = time.perf_counter() - t0
    return out


# --------------------------------------------------------------------------- driver side
def _chunks(n: int, size: int, offset: int = 0) -> list[tuple[int, int]]:
    return [(offset + a, offset + min(a + size, n)) for a in range(0, n, size)]


def _pixel_plan(keep: np.ndarray, init: str, stride: int):
    """Pixel order (flat indices) and the number of seed pixels (pass 0)."""
    flat = np.flatnonzero(keep.ravel())
    if init != "neighbour":
        return flat, flat.size
    iy, ix = np.unravel_index(flat, keep.shape)
    seeds = (iy % stride == 0) & (ix % stride == 0)
    if not seeds.any():
        return flat, flat.size
    return np.concatenate([flat[seeds], flat[~seeds]]), int(seeds.sum())


def _neighbour_inits(shape, seed_pix: np.ndarray, seed_x: np.ndarray, pix: np.ndarray):
    """Fit-space starts (n_pix, 4, n_species, 5): solutions of the nearest fitted seed pixels."""
    ok = np.all(np.isfinite(seed_x), axis=(1, 2))
    seed_pix, seed_x = seed_pix[ok], seed_x[ok]
    out = np.full((pix.size, _N_NEIGHBOURS) + seed_x.shape[1:], np.nan)
    if seed_pix.size == 0:
        return out
    sy, sx = np.unravel_index(seed_pix, shape)
    py, px = np.unravel_index(pix, shape)
    dist = (py[:, None] - sy[None]) ** 2 + (px[:, None] - sx[None]) ** 2
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :_N_NEIGHBOURS]
    out[:, : nearest.shape[1]] = seed_x[nearest]
    return out


def _make_client(client, n_workers: int | None):
    """(client, owned) — a LocalCluster client on all cores unless one is given; (None, False)
    (fit in this process) when called from an unguarded script (:mod:`.mainguard`)."""
    if client is not None:
        return client, False
    where = unguarded_call()
    if where is not None:
        warnings.warn(
            f"fit_cube was called at the top level of {where} without an "
            "`if __name__ == \"__main__\":` guard; Dask worker processes would re-run the "
            "script, so the pixels are fitted in this process instead. Put the call under "
            "such a guard to fit on all cores.", stacklevel=3)
        return None, False
    import dask
    from dask.distributed import Client, LocalCluster

    n = n_workers or os.cpu_count() or 1
    with dask.config.set(WORKER_CONFIG), sigint_ignored():  # see .interrupt
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
    return Client(cluster), True


def _progress(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="px", desc="fit_cube", disable=not enabled,
                smoothing=0.1, dynamic_ncols=True)


def fit_cube(
    cubes: CubeSet | str | os.PathLike | Sequence[str | os.PathLike],
    species: str | Sequence[str],
    *,
    continuum=None,
    v_lsr: float = 0.0,
    loss: str = "chi2",
    init: str = "policy",
    optimizer: str = "slsqp",
    n_init: int = 50,
    client=None,
    workdir: str | os.PathLike | None = None,
    resume: bool = True,
    seed: int = 0,
    chunk_size: int = 32,
    n_workers: int | None = None,
    select: bool | PreprocessConfig = True,
    mask: np.ndarray | None = None,
    bad_channels=None,
    catalog=None,
    neighbour_stride: int = 3,
    progress: bool = True,
    fit_kwargs: dict | None = None,
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
        "chi2" or "pm" (peak matching).
    init
        "policy" (batched proposals per chunk; random draws when no checkpoint is
        available), "random" or "neighbour".
    optimizer, n_init, fit_kwargs
        Passed to :func:`~spectuner_nb.fit.fit_spectrum` for each pixel.
    client
        A ``dask.distributed.Client``; None: a LocalCluster with ``n_workers``
        processes (default all cores); False: run in this process, no Dask.
    workdir
        Directory for the chunk files (resumable); default a new temporary directory.
    resume
        Reuse finished chunks of the same run in ``workdir``.
    seed
        Seed of the random draws.
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
    """
    t_start = time.perf_counter()
    opts = check_settings(
        species=species, loss=loss, init=init, optimizer=optimizer, n_init=n_init, seed=seed,
        chunk_size=chunk_size, n_workers=n_workers, neighbour_stride=neighbour_stride,
        fit_kwargs=fit_kwargs, v_lsr=v_lsr, workdir=workdir, select=select)
    names, optimizer, n_init, seed = (opts["species"], opts["optimizer"], opts["n_init"],
                                      opts["seed"])
    chunk_size, neighbour_stride = opts["chunk_size"], opts["neighbour_stride"]
    fit_kwargs = opts["fit_kwargs"]
    if not isinstance(cubes, CubeSet):
        cubes = load_cubes(cubes, continuum=continuum, v_lsr=v_lsr, bad_channels=bad_channels)
    mask = check_mask(mask, cubes.shape)
    if catalog is None:
        from ..catalog import default_cache

        catalog = default_cache()
    probe = _probe(cubes)
    rest = probe.rest_freqs
    lines = [catalog.lines(s, [(float(f[0]), float(f[-1])) for f in rest]) for s in names]
    _check_problem(probe, names, lines, loss, fit_kwargs)

    init_used = init
    if init in ("policy", "neighbour") and not policy_available():
        warnings.warn("no trained policy checkpoint available: using random initial points",
                      stacklevel=2)
        init_used = "random" if init == "policy" else "neighbour-random"
    pre = _selection(cubes, select)
    keep = pre.keep if pre is not None else _finite_pixels(cubes)
    if mask is not None:
        keep = keep & mask
    if not keep.any():
        raise CubeError("no pixel left to fit after the selection")
    pixels, n_seed = _pixel_plan(keep, init, neighbour_stride)
    layout = _chunks(n_seed, chunk_size) + _chunks(pixels.size - n_seed, chunk_size, n_seed)
    config = run_identity({
        "data": cubes.fingerprint(), "species": names, "loss": loss, "init": init_used,
        "optimizer": optimizer, "n_init": n_init, "seed": seed,
        "chunk_size": chunk_size, "select": None if pre is None else repr(pre.config),
        "neighbour_stride": neighbour_stride, "fit_kwargs": repr(sorted(fit_kwargs.items())),
    }, lines, _load_policy() if init_used in ("policy", "neighbour") else None)
    workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="fitcube_"))
    store = ResultStore(workdir, config, pixels, layout, resume=resume)
    try:
        if pre is not None:
            pre.write_mask(workdir / "selection_mask.fits", cubes.wcs)
            (workdir / "selection_report.txt").write_text(pre.report() + "\n")

        base = {"species": names, "loss": loss, "optimizer": optimizer, "n_init": int(n_init),
                "seed": int(seed), "fit_kwargs": dict(fit_kwargs or {}), "beam": cubes.beam_arcsec,
                "v_lsr": cubes.v_lsr, "freqs": [w.freq_mhz for w in cubes.windows]}
        rms_map = _rms_map(cubes, pre)
        seed_chunks = [i for i, (a, _) in enumerate(layout) if a < n_seed]
        rest_chunks = [i for i, (a, _) in enumerate(layout) if a >= n_seed]
        n_done = sum(store.chunk_pixels(i).size for i in store.done())
        bar = _progress(pixels.size, n_done, progress)
        t_fit = time.perf_counter()
        run_client, owned = ((None, False) if client is False
                             else _make_client(client, opts["n_workers"]))
        try:
            first_init = "policy" if init_used in ("policy", "neighbour") else "random"
            _run(store, cubes, rms_map, base, seed_chunks, first_init, None, lines, run_client, bar)
            if rest_chunks:
                seed_x = (np.concatenate([store.read(i)["x"] for i in seed_chunks])
                          if seed_chunks else np.zeros((0, len(names), N_PARAMS)))
                nb = (pixels[:n_seed], seed_x)
                _run(store, cubes, rms_map, base, rest_chunks, "neighbour", nb, lines, run_client,
                     bar)
        finally:
            bar.close()
            if owned:
                cluster = run_client.cluster
                run_client.close()
                cluster.close()
        arrays = store.read_all()
        meta = {**config, "init_requested": init, "workdir": str(workdir),
                "n_pixels": int(pixels.size), "wall_s_total": time.perf_counter() - t_start,
                "wall_s_fit": time.perf_counter() - t_fit, "v_lsr": cubes.v_lsr,
                "beam_arcsec": list(cubes.beam_arcsec),
                "mean_freq_mhz": float(np.mean(np.concatenate(rest))),
                "pixel_s_median": float(np.median(arrays["seconds"])),
                "pixel_s_sum": float(np.sum(arrays["seconds"])),
                "object": cubes.header.get("OBJECT", "")}
        result = CubeFitResult.from_pixels(
            names, cubes.shape, cubes.wcs, store.pixel_order(), arrays, keep, meta=meta,
            lines=lines, preprocessed=pre,
        )
    finally:
        store.close()
    if result.n_fitted == 0:
        warnings.warn(f"no pixel was fitted: {result.failures()}", stacklevel=2)
    return result


def _check_problem(probe, names: list[str], lines: list, loss: str, fit_kwargs: dict) -> None:
    """Refuse species without a line in the windows and invalid bounds/shared before fitting."""
    from ..fit import FitProblem
    from ..sanity import check_fittable

    problem = FitProblem(probe, names, loss=loss, lines=lines, bounds=fit_kwargs.get("bounds"),
                         shared=fit_kwargs.get("shared", ()))
    check_fittable(probe, names, lines, t_ex_max=float(problem.bounds[:, 1, 1].max()))


def _probe(cubes: CubeSet):
    """An Observation with the cubes' channels, beam and v_LSR (zero intensities, rms 1 K)."""
    from ..observation import Observation

    return Observation(
        freqs=tuple(w.freq_mhz for w in cubes.windows),
        intensities=tuple(np.zeros(w.n_chan) for w in cubes.windows),
        rms=np.ones(len(cubes.windows)), T_bg=np.zeros(len(cubes.windows)),
        beam=cubes.beam_arcsec, v_lsr=cubes.v_lsr,
    )


def _rest_freqs(cubes: CubeSet) -> list[np.ndarray]:
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


def _task(store: ResultStore, index: int, cubes: CubeSet, rms_map, base: dict, init: str,
          neighbours) -> dict:
    pix = store.chunk_pixels(index)
    iy, ix = np.unravel_index(pix, cubes.shape)
    task = dict(base, pixels=pix, init=init, chunk_seed=pixel_seed(base["seed"], index, 1),
                spectra=cubes.spectra(iy, ix, masked=True), t_bg=cubes.t_background(iy, ix),
                rms=rms_map[:, iy, ix].T, init_arrays=None)
    if neighbours is not None:
        task["init_arrays"] = _neighbour_inits(cubes.shape, neighbours[0], neighbours[1], pix)
    return task


def _run(store, cubes, rms_map, base, chunk_ids, init, neighbours, lines, client, bar) -> None:
    todo = [i for i in chunk_ids if i in set(store.pending())]
    if not todo:
        return
    if client is None:
        for i in todo:
            store.write(i, fit_chunk(_task(store, i, cubes, rms_map, base, init, neighbours),
                                     lines))
            bar.update(store.chunk_pixels(i).size)
        return
    from dask.distributed import as_completed

    lines_f = client.scatter(lines, broadcast=True)
    n_slots = 2 * max(1, len(client.scheduler_info().get("workers", {})) or 1)
    queue = list(todo)
    running = as_completed()
    keys = {}

    def submit():
        i = queue.pop(0)
        fut = client.submit(fit_chunk, _task(store, i, cubes, rms_map, base, init, neighbours),
                            lines_f, pure=False)
        keys[fut.key] = i
        running.add(fut)

    for _ in range(min(n_slots, len(queue))):
        submit()
    for fut in running:
        i = keys.pop(fut.key)
        store.write(i, fut.result())
        bar.update(store.chunk_pixels(i).size)
        fut.release()
        if queue:
            submit()


__all__ = ["INITS", "WORKER_CONFIG", "policy_available", "pixel_seed", "fit_chunk", "fit_cube"]
