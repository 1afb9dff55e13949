"""Validation of plain settings shared by the fitting entry points (counts, seeds).

Every check raises the caller's typed error (a :class:`~spectuner_nb.errors.SpectunerError`
subclass) naming the setting and the value at fault, before any work is done.
"""

from __future__ import annotations

import numbers

from .errors import ConfigurationError, SpectunerError

__all__ = ["SEED_MAX", "N_INIT_MAX", "as_count", "as_seed"]

SEED_MAX: int = 2**63 - 1
"""Largest accepted random seed (NumPy seeds are non-negative integers)."""
N_INIT_MAX: int = 10_000
"""Largest accepted number of initial samples per fit: they are evaluated in one batched
model call whose work arrays grow as n_init × channels."""


def as_count(
    value,
    name: str,
    *,
    minimum: int = 1,
    maximum: int | None = None,
    error: type[SpectunerError] = ConfigurationError,
) -> int:
    """``value`` as an ``int`` within [``minimum``, ``maximum``].

    Integers and integral floats (3.0) are accepted; 2.7, True, "3", NaN are not.
    """
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok and isinstance(value, numbers.Real) and not isinstance(value, bool):
        ok = float(value).is_integer()
    if not ok:
        raise error(f"{name} must be a whole number, got {value!r}")
    out = int(value)
    if out < minimum or (maximum is not None and out > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise error(f"{name} must be at least {minimum}{upper}, got {out}")
    return out


def as_seed(
    value, name: str = "seed", *, error: type[SpectunerError] = ConfigurationError
) -> int | None:
    """A random seed: None, or a whole number in [0, :data:`SEED_MAX`]."""
    if value is None:
        return None
    return as_count(value, name, minimum=0, maximum=SEED_MAX, error=error)
