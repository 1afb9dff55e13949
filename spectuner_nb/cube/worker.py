"""The worker side of a cube fit: one chunk of pixels fitted in one task (docs/method.md §8).

:func:`fit_chunk` builds one :class:`~spectuner_nb.observation.Observation` per pixel,
draws the proposer's starts for the whole chunk in one batch (``init="policy"``), and
runs :func:`~spectuner_nb.fit.fit_spectrum` pixel by pixel on one thread. A pixel that
cannot be fitted gets a status and its error message instead of stopping the chunk.
The settings shared by every chunk are a :class:`ChunkSettings`, the pixels of one
chunk a :class:`ChunkTask`.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import CubeError, NothingToFitError, ObservationError, SpectunerError
from ..parameters import N_PARAMS
from .results import (
    REASON_CHARS,
    STATUS_BAD_OBS,
    STATUS_FIT_FAILED,
    STATUS_NOTHING_TO_FIT,
    STATUS_OK,
)

__all__ = [
    "ChunkSettings",
    "ChunkTask",
    "CHUNK_INITS",
    "fit_chunk",
    "pixel_seed",
    "single_threaded",
]

CHUNK_INITS: tuple[str, ...] = ("random", "policy", "neighbour")
"""Start strategies of one chunk: uniform draws, the proposer's batch, the neighbours'
solutions (:attr:`ChunkTask.init_arrays`)."""
_PIXEL_ERRORS = (SpectunerError, ArithmeticError, ValueError, np.linalg.LinAlgError)


@dataclass(frozen=True)
class ChunkSettings:
    """What every chunk of one cube fit shares.

    Attributes
    ----------
    species
        Species names (one velocity component each).
    loss, optimizer, n_init, seed
        The validated fit settings (:class:`~spectuner_nb.fit_settings.CubeSettings`).
    fit_kwargs
        Further :func:`~spectuner_nb.fit.fit_spectrum` arguments (bounds, maxiter, …).
    beam
        Beam (bmaj, bmin) in arcsec.
    v_lsr
        Systemic velocity, km/s.
    freqs
        Observed frequencies per window, MHz.
    tie
        Run the tie step after each pixel's fit (:func:`~spectuner_nb.ties.tie_unconstrained`).
    """

    species: list[str]
    loss: str
    optimizer: str
    n_init: int
    seed: int
    fit_kwargs: dict = field(default_factory=dict)
    beam: tuple[float, float] = (1.0, 1.0)
    v_lsr: float = 0.0
    freqs: list[np.ndarray] = field(default_factory=list)
    tie: bool = False


@dataclass(frozen=True)
class ChunkTask:
    """The pixels of one chunk and how they start.

    Attributes
    ----------
    index
        Chunk number in the run's layout.
    pixels
        Flat pixel indices (n_pix,).
    spectra
        Intensities per window (n_pix, n_chan), K, NaN where masked.
    t_bg
        Background temperature per window and pixel (n_pix, n_windows), K.
    rms
        Noise per pixel and window (n_pix, n_windows), K.
    init
        One of :data:`CHUNK_INITS`.
    chunk_seed
        Seed of the proposer's batch (:func:`pixel_seed` stream 1).
    init_arrays
        Fit-space starts per pixel (n_pix, n, n_species, 5) for ``init="neighbour"``
        (NaN rows are skipped; a pixel with none starts at random).
    lent
        Fit-space ranges per pixel (n_pix, 5, 2) that the tie step uses for a parameter
        no species of the pixel constrains (:mod:`~spectuner_nb.cube.lend`); None: none.
    """

    index: int
    pixels: np.ndarray
    spectra: list[np.ndarray]
    t_bg: np.ndarray
    rms: np.ndarray
    init: str = "random"
    chunk_seed: int = 0
    init_arrays: np.ndarray | None = None
    lent: np.ndarray | None = None


def pixel_seed(seed: int, flat_index: int, stream: int = 0) -> int:
    """Seed of one pixel's (stream 0) or one chunk's (stream 1) random draws."""
    return int(
        np.random.SeedSequence([int(seed), int(stream), int(flat_index)]).generate_state(1)[0]
    )


@contextlib.contextmanager
def single_threaded():
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


def _observations(task: ChunkTask, settings: ChunkSettings) -> tuple[list, list[str]]:
    """One Observation per pixel (None where refused) and the refusal messages."""
    from ..observation import Observation

    out, why = [], []
    for k in range(task.pixels.size):
        try:
            obs, text = (
                Observation.from_arrays(
                    list(settings.freqs),
                    [s[k] for s in task.spectra],
                    beam=settings.beam,
                    rms=task.rms[k],
                    T_bg=task.t_bg[k],
                    v_lsr=settings.v_lsr,
                    name=f"pixel {int(task.pixels[k])}",
                ),
                "",
            )
        except ObservationError as exc:
            obs, text = None, str(exc)
        out.append(obs)
        why.append(text)
    return out, why


def _proposals(
    task: ChunkTask, settings: ChunkSettings, obs: list, lines: list, proposer
) -> np.ndarray:
    """(n_pix, n_init, n_species, 5) fit-space proposals for the chunk, NaN for bad pixels."""
    ok = [k for k, o in enumerate(obs) if o is not None]
    n_init = settings.n_init
    out = np.full((len(obs), n_init, len(lines), N_PARAMS), np.nan)
    if ok:
        draws = proposer.propose([obs[k] for k in ok], list(lines), n_init, seed=task.chunk_seed)
        out[ok] = np.asarray(draws, float).reshape(len(ok), n_init, len(lines), N_PARAMS)
    return out


def _empty(n: int, n_sp: int) -> dict[str, np.ndarray]:
    return {
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


def fit_chunk(
    task: ChunkTask, settings: ChunkSettings, lines: list, proposer=None
) -> dict[str, np.ndarray]:
    """Fit every pixel of one chunk; returns arrays whose first axis is the chunk's pixels.

    ``lines`` holds one line list per species; ``proposer`` (an object with a ``propose``
    method, :class:`~spectuner_nb.starts.Proposer`) draws the starts of a chunk with
    ``init="policy"``.
    """
    from ..fit import fit_spectrum
    from ..ties import tie_unconstrained

    if task.init == "policy" and proposer is None:
        raise CubeError("a chunk with init='policy' needs a proposer")
    out = _empty(task.pixels.size, len(settings.species))
    with single_threaded():
        obs, refused = _observations(task, settings)
        proposals = (
            _proposals(task, settings, obs, lines, proposer) if task.init == "policy" else None
        )
        for k, o in enumerate(obs):
            t0 = time.perf_counter()
            if o is None:
                out["status"][k], out["reason"][k] = STATUS_BAD_OBS, refused[k][:REASON_CHARS]
                continue
            if proposals is not None:
                init = proposals[k]
                out["x_spread"][k] = np.std(init, axis=0)
            elif task.init_arrays is not None:
                init = task.init_arrays[k]
                init = init[np.all(np.isfinite(init), axis=(1, 2))]
                init = "random" if init.size == 0 else init
            else:
                init = "random"
            try:
                res = fit_spectrum(
                    o,
                    settings.species,
                    loss=settings.loss,
                    optimizer=settings.optimizer,
                    init=init,
                    n_init=settings.n_init,
                    seed=pixel_seed(settings.seed, task.pixels[k]),
                    lines=lines,
                    errors=True,
                    **settings.fit_kwargs,
                )
                if settings.tie:
                    res, _ = tie_unconstrained(
                        o,
                        settings.species,
                        lines,
                        res,
                        {"bounds": res.bounds},
                        lent=None if task.lent is None else task.lent[k],
                    )
            except _PIXEL_ERRORS as exc:  # one bad pixel must not stop the cube
                out["status"][k] = (
                    STATUS_NOTHING_TO_FIT
                    if isinstance(exc, NothingToFitError)
                    else STATUS_FIT_FAILED
                )
                out["reason"][k] = f"{type(exc).__name__}: {exc}"[:REASON_CHARS]
                continue
            out["x"][k], out["x_err"][k] = res.x, res.x_err
            out["loss"][k], out["chi2"][k], out["nfev"][k] = res.loss, res.chi2, res.nfev
            out["converged"][k] = bool(res.meta.get("success", True))
            out["at_bound"][k] = res.at_bound
            out["has_peak"][k] = res.has_peak
            out["seconds"][k] = time.perf_counter() - t0
    return out
