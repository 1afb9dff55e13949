"""Subcommands of the ``spectuner-nb`` command line, one module each (see cli.py).

Shared here: argparse types that refuse a bad number at parse time, with the
setting's limits in the message; the fit options of ``fit-spectrum``, ``fit-cube`` and
``identify`` (:func:`add_fit_arguments`, defaults from
:data:`~spectuner_nb.fit_settings.DEFAULTS`); the systemic-velocity option
(:func:`add_v_lsr_argument`); opening a ``--cache`` that must already exist; connecting
to a ``--scheduler`` with a short timeout.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence

__all__ = [
    "SCHEDULER_TIMEOUT_S",
    "add_fit_arguments",
    "add_v_lsr_argument",
    "fit_options",
    "connect_scheduler",
    "count",
    "open_cache",
]

SCHEDULER_TIMEOUT_S: float = 10.0
"""How long to wait for a ``--scheduler`` to answer, s."""


def count(minimum: int = 1, maximum: int | None = None):
    """An argparse ``type``: a whole number within [``minimum``, ``maximum``]."""

    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise argparse.ArgumentTypeError(f"{value} must be at least {minimum}{upper}")
        return value

    return whole_number


def add_fit_arguments(
    parser: argparse.ArgumentParser,
    *,
    inits: Sequence[str] | None = None,
    optimizer: bool = True,
    defaults=None,
) -> None:
    """Add ``--loss``, ``--init``, ``--n-init``, ``--seed`` (and ``--optimizer``) with the
    choices and the defaults of :mod:`~spectuner_nb.fit_settings`.

    ``inits`` are the named start strategies offered (default
    :data:`~spectuner_nb.fit_settings.INITS`); ``defaults`` a
    :class:`~spectuner_nb.fit_settings.FitSettings` (default ``DEFAULTS``).
    """
    from ..checks import N_INIT_MAX
    from ..fit_settings import DEFAULTS, INITS, LOSSES
    from ..optimize import OPTIMIZERS

    d = DEFAULTS if defaults is None else defaults
    inits = tuple(INITS if inits is None else inits)
    parser.add_argument(
        "--loss",
        choices=LOSSES,
        default=d.loss,
        help=f"pm: peak matching, chi2: noise-weighted (default {d.loss})",
    )
    parser.add_argument(
        "--init",
        choices=inits,
        default=d.init,
        help="initial points: auto (the policy when its checkpoint loads, "
        "else random), policy, random"
        + (", neighbour" if "neighbour" in inits else "")
        + f" (default {d.init})",
    )
    if optimizer:
        parser.add_argument(
            "--optimizer",
            choices=OPTIMIZERS,
            default=d.optimizer,
            help=f"local optimiser (default {d.optimizer})",
        )
    parser.add_argument(
        "--n-init",
        type=count(1, N_INIT_MAX),
        default=d.n_init,
        help=f"initial samples per fit (default {d.n_init})",
    )
    parser.add_argument(
        "--seed", type=count(0), default=d.seed, help=f"seed of the random draws (default {d.seed})"
    )


def fit_options(args: argparse.Namespace) -> dict:
    """The options :func:`add_fit_arguments` added, as keywords of the engine's fitting
    functions (``loss``, ``init``, ``n_init``, ``seed`` and ``optimizer`` when offered)."""
    names = ("loss", "init", "n_init", "seed", "optimizer")
    return {name: getattr(args, name) for name in names if hasattr(args, name)}


class _DeprecatedAlias(argparse.Action):
    """Stores the value as the option it stands for, with a FutureWarning."""

    def __init__(self, option_strings, dest, *, new: str, **kwargs) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        warnings.warn(
            f"{option_string} is deprecated and will be removed in the next "
            f"release; use {self.new}",
            FutureWarning,
            stacklevel=2,
        )
        setattr(namespace, self.dest, values)


def add_dask_arguments(parser: argparse.ArgumentParser, *, cube_fit: str = "") -> None:
    """Add ``--workers``, ``--scheduler`` and ``--no-dask``.

    ``cube_fit`` prefixes the help of the two options that only concern a cube fit
    (e.g. "--map: " when the cube fit is a later step of the command).
    """
    parser.add_argument(
        "--workers",
        type=count(1),
        default=None,
        help=f"{cube_fit}local Dask worker processes (default: all cores)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        help="address of a running Dask scheduler to use (default: a local cluster "
        "for cube fits, this process for a spectrum's fits)",
    )
    parser.add_argument(
        "--no-dask", action="store_true", help=f"{cube_fit}fit in this process, without Dask"
    )


def add_v_lsr_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--v-lsr`` (km/s, default 0) and its deprecated spelling ``--vlsr``."""
    parser.add_argument(
        "--v-lsr", type=float, default=0.0, help="systemic velocity, km/s (default 0)"
    )
    parser.add_argument(
        "--vlsr",
        dest="v_lsr",
        type=float,
        action=_DeprecatedAlias,
        new="--v-lsr",
        help=argparse.SUPPRESS,
    )


def open_cache(path: str | None, *, write: bool = False):
    """The transition cache named by ``--cache`` (None: the user cache, None returned).

    Reading commands open it read-only (a shared, write-protected cache works); a path
    that does not exist is refused (:class:`~spectuner_nb.errors.CacheAccessError`)
    instead of creating an empty database, unless ``write`` (``catalog import``/``fetch``).
    """
    if not path:
        return None
    from ..catalog.cache import TransitionCache

    return TransitionCache(path) if write else TransitionCache(path, readonly=True)


def connect_scheduler(address: str):
    """A Dask client of the scheduler at ``address``; :class:`~spectuner_nb.errors.CubeError`
    if it does not answer within :data:`SCHEDULER_TIMEOUT_S`."""
    from dask.distributed import Client

    from ..errors import CubeError

    try:
        return Client(address, timeout=f"{SCHEDULER_TIMEOUT_S}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise CubeError(
            f"cannot reach the Dask scheduler at {address!r} within "
            f"{SCHEDULER_TIMEOUT_S:g} s: {exc}"
        ) from exc
