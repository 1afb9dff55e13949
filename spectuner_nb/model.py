"""The LTE model of line spectra (docs/method.md §2, paper Eqs. 1–9, XCLASS conventions).

Two ways in:

* :func:`lte_spectra` — the stable functional API: windows, line lists and
  physical parameters in, one spectrum (K) per window out.
* :class:`LTEModel` — the same model prepared once (line data, channel edges,
  beam, background) and evaluated many times: ``model(params)`` for physical
  parameters, ``model.from_fit(x)`` for the optimiser's fit space,
  ``model.jacobian_fit(x)`` for the exact χ² gradient, ``model.opacity(params)``
  for channel-averaged optical depths.

Physical parameters per species, last axis of ``params`` (``parameters.PHYSICAL_NAMES``):
θ (source size, arcsec), T_ex (K), N_tot (cm⁻²), Δv (FWHM, km/s), v_off (km/s).
Fit parameters (``parameters.FIT_NAMES``): log10 η, T_ex, log10 N_tot,
log10 Δv, v_off, converted with :mod:`spectuner_nb.parameters` at the
reference beam :attr:`LTEModel.theta_b_sq_ref`.

Each channel holds the average of the intensity between the mid-points to its
neighbours (outer channels: half a spacing beyond the centre), computed on a
Gauss-Legendre sub-grid fine enough that refining it changes the result by
< 1e-4 of the peak. The compiled kernels (:mod:`spectuner_nb._lte_kernels`)
run in parallel over parameter sets and windows and are cached on disk under
``spectuner_nb.settings.cache_dir()/numba`` (or ``$NUMBA_CACHE_DIR``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numba import parallel_chunksize

from . import _lte_kernels as _k
from .beam import as_beam_spec
from .catalog.linelist import LineList
from .constants import C_KM_S, T_CMB_K
from .errors import ModelInputError, ObservationError
from .parameters import N_PARAMS, BeamSpec, beam_size_sq, fit_to_physical, reference_beam_sq

__all__ = ["LTEModel", "lte_spectra", "channel_edges"]


_PARAM_PROBLEMS = {
    1: "params hold NaN or infinite values",
    2: "source size θ and column density N_tot must be ≥ 0",
    3: "T_ex and the line width Δv must be > 0",
    4: "|v_off| must be below the speed of light",
    5: "filling factor η = 10^(log10 η) must lie in (0, 1)",
}
"""Messages for the codes of :func:`_lte_kernels.params_problem` and
:func:`_lte_kernels.fit_to_physical`."""

PARALLEL_MIN_BATCH: int = 8
"""Batches at least this large run on all cores; smaller ones on the calling thread
(starting threads costs more than it saves for one spectrum, a lot more on a busy machine)."""
PARALLEL_CHUNK: int = 4
"""(parameter set, window) tasks a thread takes at a time in a parallel batch: work is
handed out as threads become free, so a core busy with other jobs does not hold the rest."""


def _to_mhz(values) -> np.ndarray:
    """Plain float array in MHz from an array or an astropy Quantity (frequency)."""
    if hasattr(values, "unit"):
        import astropy.units as u

        return np.asarray(values.to_value(u.MHz, equivalencies=u.spectral()), dtype=float)
    return np.asarray(values, dtype=float)


def channel_edges(freq_mhz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edges (MHz) of channels centred at ascending ``freq_mhz``.

    Edges are the mid-points to the neighbouring channels; the outer edges lie
    half a spacing beyond the first and last centres (paper Eq. 9).
    """
    f = np.asarray(freq_mhz, dtype=float)
    mid = 0.5 * (f[1:] + f[:-1])
    lo = np.concatenate([[f[0] - (mid[0] - f[0])], mid])
    hi = np.concatenate([mid, [f[-1] + (f[-1] - mid[-1])]])
    return lo, hi


def _check_window(i: int, freq) -> np.ndarray:
    f = _to_mhz(freq)
    if f.ndim != 1 or f.size < 2:
        raise ModelInputError(f"window {i}: need a 1-D array of ≥ 2 channel frequencies (MHz)")
    if not np.all(np.isfinite(f)) or np.any(f <= 0):
        raise ModelInputError(f"window {i}: frequencies must be finite and positive")
    if np.any(np.diff(f) <= 0):
        raise ModelInputError(f"window {i}: frequencies must be strictly ascending")
    return f


def _as_linelist(i: int, entry) -> LineList:
    if isinstance(entry, LineList):
        return entry
    if isinstance(entry, Mapping):
        missing = {"freq", "A_ul", "E_low", "g_u", "Q_T"} - set(entry)
        if missing:
            raise ModelInputError(f"species {i}: line mapping lacks {sorted(missing)}")
        try:
            lines = LineList.from_mapping(str(entry.get("species", f"species{i}")), entry)
        except (ValueError, TypeError) as exc:
            raise ModelInputError(f"species {i}: invalid line mapping ({exc})") from exc
        for name in ("freq", "A_ul", "E_low", "g_u"):
            v = np.asarray(getattr(lines, name))
            if not np.all(np.isfinite(v)):
                raise ModelInputError(f"species {i}: {name} holds non-finite values")
        return lines
    raise ModelInputError(
        f"species {i}: expected a LineList or a mapping with freq/A_ul/E_low/g_u/Q_T, "
        f"got {type(entry).__name__}"
    )


def _background(t_bg, sizes: list[int]) -> np.ndarray:
    """Per-channel background temperatures (K), concatenated over windows."""
    total = sum(sizes)
    if hasattr(t_bg, "unit"):
        import astropy.units as u

        t_bg = t_bg.to_value(u.K)
    if isinstance(t_bg, (int, float, np.number)) or (
        isinstance(t_bg, np.ndarray) and t_bg.ndim == 0
    ):
        out = np.full(total, float(t_bg))
    else:
        if (
            isinstance(t_bg, np.ndarray)
            and t_bg.ndim == 1
            and t_bg.size == total
            and (len(sizes) == 1 or t_bg.size != len(sizes))
        ):
            t_bg = np.split(t_bg, np.cumsum(sizes)[:-1])
        if len(t_bg) != len(sizes):
            raise ModelInputError(
                f"T_bg must be a scalar or one value/array per window ({len(sizes)}), "
                f"got {len(t_bg)} entries"
            )
        parts = []
        for i, (tb, n) in enumerate(zip(t_bg, sizes, strict=True)):
            tb = np.asarray(tb, dtype=float)
            if tb.ndim == 0:
                tb = np.full(n, float(tb))
            if tb.shape != (n,):
                raise ModelInputError(f"T_bg of window {i}: expected {n} values, got {tb.shape}")
            parts.append(tb)
        out = np.concatenate(parts)
    if not np.all(np.isfinite(out)):
        raise ModelInputError("T_bg holds non-finite values")
    return out


class LTEModel:
    """The LTE model for fixed windows, species and beam, evaluated many times.

    Parameters
    ----------
    windows
        Channel-centre frequencies per window (1-D, ascending; MHz or Quantity).
    species_lines
        One entry per species: a :class:`~spectuner_nb.catalog.LineList` or a
        mapping with ``freq`` (MHz), ``A_ul`` (s⁻¹), ``E_low`` (K), ``g_u`` and
        ``Q_T`` = (temperatures K, Q values). Lines outside the windows are
        fine (they add their wings where they reach).
    beam
        Single-dish diameter in m (float or length Quantity), or (B_maj, B_min)
        in arcsec (floats, angle Quantities or a ``radio_beam.Beam``).
    T_bg
        Background (continuum) brightness temperature in K: a scalar, one
        value per window, or one array per window (per channel).
    cmb
        Subtract S(ν, T_cmb) (XCLASS convention, default on).
    T_cmb
        CMB temperature in K.
    """

    def __init__(
        self,
        windows: Sequence,
        species_lines: Sequence,
        *,
        beam,
        T_bg=0.0,
        cmb: bool = True,
        T_cmb: float = T_CMB_K,
    ) -> None:
        if isinstance(windows, np.ndarray) and windows.ndim == 1:
            windows = [windows]
        if len(windows) == 0:
            raise ModelInputError("need at least one window")
        freqs = [_check_window(i, w) for i, w in enumerate(windows)]
        self.freqs: list[np.ndarray] = freqs
        sizes = [f.size for f in freqs]
        self._sizes = sizes
        self._win_off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._win_bounds = [
            (int(self._win_off[w]), int(self._win_off[w + 1])) for w in range(len(sizes))
        ]
        edges = [channel_edges(f) for f in freqs]
        self._edges_lo = np.concatenate([e[0] for e in edges])
        self._edges_hi = np.concatenate([e[1] for e in edges])
        self._win_wmax = np.array([float(np.max(hi - lo)) for lo, hi in edges])
        self._t_bg = _background(T_bg, sizes)

        if isinstance(species_lines, (LineList, Mapping)):
            species_lines = [species_lines]
        if len(species_lines) == 0:
            raise ModelInputError("need at least one species")
        self.lines: list[LineList] = [_as_linelist(i, s) for i, s in enumerate(species_lines)]
        counts = [len(ll) for ll in self.lines]
        self._lines_off = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._freq = np.concatenate([np.asarray(ll.freq, float) for ll in self.lines])
        self._a_g = np.concatenate(
            [np.asarray(ll.A_ul, float) * np.asarray(ll.g_u, float) for ll in self.lines]
        )
        self._e_low = np.concatenate([np.asarray(ll.E_low, float) for ll in self.lines])
        # log10 partition-function nodes of every species, for _k.partition_values.
        self._log_t = np.concatenate([np.log10(ll.partition.temperature) for ll in self.lines])
        self._log_q = np.concatenate([np.log10(ll.partition.q) for ll in self.lines])
        self._q_off = np.concatenate(
            [[0], np.cumsum([ll.partition.temperature.size for ll in self.lines])]
        ).astype(np.int64)

        try:
            self.beam: BeamSpec = as_beam_spec(beam)
        except ObservationError as exc:  # the model's inputs raise the model's error
            raise ModelInputError(str(exc)) from exc
        f_all = np.concatenate(freqs)
        # Kernel beam: θ_b² = value / ν² (dish, mode 1) or value (interferometer, mode 0).
        self._tb_mode = 1 if np.ndim(self.beam) == 0 else 0
        self._tb_val = float(beam_size_sq(self.beam, np.array([1.0]))[0])
        self.theta_b_sq_ref: float = reference_beam_sq(self.beam, float(np.mean(f_all)))
        """Reference θ_b² (arcsec²) for θ ↔ η in fit space (mean frequency for a dish)."""
        self.cmb = bool(cmb)
        self.T_cmb = float(T_cmb)
        if not np.isfinite(self.T_cmb) or self.T_cmb <= 0:
            raise ModelInputError(f"T_cmb must be positive, got {T_cmb!r}")

    @property
    def n_species(self) -> int:
        """Number of species (rows of a parameter set)."""
        return len(self.lines)

    @property
    def n_channels(self) -> int:
        """Total number of channels over all windows."""
        return int(self._win_off[-1])

    def _params(self, params) -> tuple[np.ndarray, bool]:
        p = np.asarray(params, dtype=float)
        single = p.ndim == 2
        if p.ndim not in (2, 3) or p.shape[-2:] != (self.n_species, N_PARAMS):
            raise ModelInputError(
                f"params must have shape ({self.n_species}, {N_PARAMS}) or "
                f"(n_batch, {self.n_species}, {N_PARAMS}), got {p.shape}"
            )
        p = np.ascontiguousarray(p.reshape(-1, self.n_species, N_PARAMS))
        problem = _k.params_problem(p, C_KM_S)
        if problem:
            raise ModelInputError(_PARAM_PROBLEMS[problem])
        return p, single

    def _partition(self, t_ex: np.ndarray, slope: bool) -> tuple[np.ndarray, np.ndarray]:
        """Q(T_ex) and d ln Q / d ln T (zeros unless ``slope``), shape (n_batch, n_species)."""
        return _k.partition_values(
            np.ascontiguousarray(t_ex), self._log_t, self._log_q, self._q_off, slope
        )

    def _split(self, out: np.ndarray, single: bool) -> list[np.ndarray]:
        """Views of ``out`` (…, n_chan_total) per window; the batch axis dropped if ``single``."""
        if single:
            out = out[0]
        return [out[..., a:b] for a, b in self._win_bounds]

    def _evaluate(self, params, want_tau: bool) -> tuple[np.ndarray, np.ndarray, bool]:
        """Run the kernel: (intensities (n_batch, n_chan), opacities, single-input flag)."""
        p, single = self._params(params)
        q, dlnq = self._partition(p[..., 1], slope=False)
        n = p.shape[0]
        out = np.empty((n, self.n_channels))
        tau = np.empty((n if want_tau else 1, self.n_species, self.n_channels if want_tau else 1))
        args = (
            p,
            self._lines_off,
            self._freq,
            self._a_g,
            self._e_low,
            q,
            dlnq,
            self._edges_lo,
            self._edges_hi,
            self._t_bg,
            self._win_off,
            self._win_wmax,
            self._tb_mode,
            self._tb_val,
            self.cmb,
            self.T_cmb,
            out,
            tau,
            want_tau,
        )
        if n >= PARALLEL_MIN_BATCH:
            with parallel_chunksize(PARALLEL_CHUNK):
                _k.batch_parallel(*args)
        else:
            _k.batch_serial(*args)
        return out, tau, single

    def __call__(self, params) -> list[np.ndarray]:
        """Spectra (K) per window for physical ``params`` (n_species, 5) or (n_batch, n_species, 5).

        Returns one array per window, (n_chan,) or (n_batch, n_chan).
        """
        out, _, single = self._evaluate(params, want_tau=False)
        return self._split(out, single)

    def to_physical(self, x) -> np.ndarray:
        """Fit-space parameters (..., n_species, 5) → physical, at :attr:`theta_b_sq_ref`."""
        x = np.asarray(x, dtype=float)
        if not np.all(np.isfinite(x)):
            raise ModelInputError("fit-space parameters hold NaN or infinite values")
        return fit_to_physical(x, self.theta_b_sq_ref)

    def _physical_batch(self, x) -> tuple[np.ndarray, bool]:
        """Fit-space ``x`` (n_species, 5) or (n_batch, n_species, 5) → physical
        (n_batch, n_species, 5) (compiled :meth:`to_physical`), and the single-input flag."""
        x = np.asarray(x, dtype=float)
        if x.ndim not in (2, 3) or x.shape[-2:] != (self.n_species, N_PARAMS):
            raise ModelInputError(
                f"fit-space parameters must have shape ({self.n_species}, {N_PARAMS}) or "
                f"(n_batch, {self.n_species}, {N_PARAMS}), got {x.shape}"
            )
        p, problem = _k.fit_to_physical(
            np.ascontiguousarray(x.reshape(-1, self.n_species, N_PARAMS)), self.theta_b_sq_ref
        )
        if problem == 1:
            raise ModelInputError("fit-space parameters hold NaN or infinite values")
        if problem:
            raise ModelInputError(_PARAM_PROBLEMS[problem])
        return p, x.ndim == 2

    def from_fit(self, x) -> list[np.ndarray]:
        """Spectra for fit-space ``x`` (n_species, 5) or (n_batch, n_species, 5):
        log10 η, T_ex, log10 N, log10 Δv, v_off."""
        p, single = self._physical_batch(x)
        return self(p[0] if single else p)

    def stacked_from_fit(self, x) -> np.ndarray:
        """As :meth:`from_fit` for a batch (n_batch, n_species, 5), with the windows
        concatenated: (n_batch, n_chan_total) in K (what the optimisers' losses take)."""
        x = np.asarray(x, dtype=float)
        if x.ndim != 3:
            raise ModelInputError(
                f"expected a batch (n_batch, {self.n_species}, {N_PARAMS}), got {x.shape}"
            )
        return self._evaluate(self._physical_batch(x)[0], want_tau=False)[0]

    def opacity(self, params) -> list[np.ndarray]:
        """Channel-averaged optical depth per species and window.

        Returns one array per window, (n_species, n_chan) or (n_batch, n_species, n_chan).
        """
        _, tau, single = self._evaluate(params, want_tau=True)
        return self._split(tau, single)

    def spectrum_and_jacobian(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Spectrum and exact derivatives of one fit-space set ``x`` (n_species, 5), fast path.

        Returns ``(spectrum, jacobian)`` over the concatenated windows: (n_chan_total,) in K
        and (n_chan_total, n_species*5) = ∂T/∂x, columns ordered like ``x.ravel()``
        (species-major: [log10 η, T_ex, log10 N, log10 Δv, v_off] per species). Both come
        from one forward-mode pass of the kernel on its Gauss-Legendre sub-grid, so the
        spectrum agrees with :meth:`from_fit` to < 1e-5 of the peak (not bit for bit); the
        optimisers use this to get χ² and its gradient from a single kernel call.
        """
        x = np.asarray(x, dtype=float)
        if x.shape != (self.n_species, N_PARAMS):
            raise ModelInputError(
                f"the Jacobian takes one parameter set of shape ({self.n_species}, {N_PARAMS}), "
                f"got {x.shape}"
            )
        if not (np.all(np.isfinite(x)) and np.all(x[:, 0] < 0.0) and np.all(x[:, 1] > 0.0)):
            raise ModelInputError(
                "fit-space parameters must be finite, with log10 η < 0 and T_ex > 0"
            )
        p = self._physical_batch(x)[0][0]
        q, dlnq = self._partition(p[None, :, 1], slope=True)
        out = np.empty(self.n_channels)
        jac = np.empty((self.n_channels, self.n_species * N_PARAMS))
        _k.spectra_jacobian(
            p,
            self._lines_off,
            self._freq,
            self._a_g,
            self._e_low,
            q[0],
            dlnq[0],
            self._edges_lo,
            self._edges_hi,
            self._t_bg,
            self._win_off,
            self._tb_mode,
            self._tb_val,
            self.theta_b_sq_ref,
            self.cmb,
            self.T_cmb,
            out,
            jac,
        )
        return out, jac

    def jacobian_fit(self, x) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Spectra and their exact derivatives for one fit-space parameter set ``x`` (n_species, 5).

        Returns ``(spectra, jacobians)``: per window an (n_chan,) spectrum in K and an
        (n_chan, n_species*5) matrix ∂T/∂x (see :meth:`spectrum_and_jacobian`).
        Computed in forward mode inside the kernel, not by finite differences. The
        spectra are exactly those of :meth:`from_fit`; the derivatives come from a
        Gauss-Legendre sub-grid (they describe the same model to < 1e-5 of the peak).
        """
        _, jac = self.spectrum_and_jacobian(x)
        return self.from_fit(x), np.split(jac, self._win_off[1:-1], axis=0)


def lte_spectra(
    windows: Sequence,
    species_lines: Sequence,
    params,
    *,
    beam,
    T_bg=0.0,
    cmb: bool = True,
    T_cmb: float = T_CMB_K,
) -> list[np.ndarray]:
    """LTE spectra (K) of ``species_lines`` with physical ``params`` in each window.

    Parameters
    ----------
    windows
        List of 1-D arrays of channel-centre frequencies in MHz, ascending.
    species_lines
        One entry per species: a LineList or a mapping with ``freq`` (MHz),
        ``A_ul`` (s⁻¹), ``E_low`` (K), ``g_u`` and ``Q_T`` = (T in K, Q).
    params
        (n_species, 5) or (n_batch, n_species, 5): θ (arcsec), T_ex (K),
        N_tot (cm⁻²), Δv (FWHM, km/s), v_off (km/s).
    beam
        Dish diameter in m (float) or (B_maj, B_min) in arcsec.
    T_bg
        Background temperature in K: scalar, or one value (or array) per window.
    cmb, T_cmb
        Subtract S(ν, T_cmb) (default on), with T_cmb in K.

    Returns
    -------
    One array per window, shape (n_chan,) or (n_batch, n_chan), in K.
    """
    model = LTEModel(windows, species_lines, beam=beam, T_bg=T_bg, cmb=cmb, T_cmb=T_cmb)
    return model(params)
