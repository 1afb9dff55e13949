"""CASA-style parameter checks shared by the tasks.

Each check either returns the value in the form the engine wants or raises
:class:`~spectuner_nb.errors.TaskParameterError` with one message of the form
``"<task>: <param>='<value>': <what is wrong>"``. Tasks run every check before
they write anything.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from spectuner_nb.errors import SpeciesNotFoundError, TaskParameterError

__all__ = ["CASA_NAMES", "Checker"]

CASA_NAMES: dict[str, str] = {"n_init": "ninit", "init": "usepolicy", "v_lsr": "vlsr"}
"""Engine setting → the CASA tasks' parameter name (the CASA spellings live only here)."""


class Checker:
    """Parameter checks of one task; messages start with the task name."""

    def __init__(self, task: str) -> None:
        self.task = task

    def fail(self, param: str, value, problem: str) -> TaskParameterError:
        """The error for a bad ``param`` (to raise)."""
        if isinstance(value, Path):
            value = str(value)
        return TaskParameterError(f"{self.task}: {param}={value!r}: {problem}")

    # ------------------------------------------------------------------ fit settings
    def fit_settings(self, *, ninit, usepolicy, seed, loss=None, optimizer=None):
        """The engine's :class:`~spectuner_nb.fit_settings.FitSettings` from the CASA
        parameters (``ninit`` → ``n_init``; ``usepolicy`` True → ``init="auto"``, False →
        ``"random"``), checked by the engine (:meth:`FitSettings.validate`) and reported
        in the CASA spelling; defaults are the engine's (:data:`DEFAULTS`)."""
        from spectuner_nb.fit_settings import DEFAULTS, LOSSES
        from spectuner_nb.optimize import OPTIMIZERS

        values = {
            "ninit": ninit,
            "usepolicy": usepolicy,
            "seed": seed,
            "loss": loss,
            "optimizer": optimizer,
        }
        loss = DEFAULTS.loss if loss is None else self.choice("loss", loss, LOSSES)
        optimizer = (
            DEFAULTS.optimizer
            if optimizer is None
            else self.choice("optimizer", optimizer, OPTIMIZERS)
        )
        use = self.flag("usepolicy", usepolicy)
        settings = DEFAULTS.replace(
            loss=loss,
            optimizer=optimizer,
            n_init=ninit,
            seed=seed,
            init="auto" if use else "random",
        )
        try:
            return settings.validate(error=TaskParameterError)
        except TaskParameterError as exc:
            setting = getattr(exc, "setting", "")
            param = CASA_NAMES.get(setting, setting)
            problem = str(exc).removeprefix(f"{setting} ")
            raise self.fail(param, values.get(param), problem) from None

    # ------------------------------------------------------------------ generic
    def strings(self, param: str, value) -> list[str]:
        """A string or a list of strings → list of non-empty stripped strings."""
        if value is None or value == "":
            return []
        items = [value] if isinstance(value, str) else list(value)
        if not all(isinstance(v, str) for v in items):
            raise self.fail(param, value, "expected a string or a list of strings")
        return [v.strip() for v in items if v.strip()]

    def choice(self, param: str, value, options: Sequence[str]) -> str:
        """Lower-cased ``value`` if it is one of ``options``."""
        text = str(value).strip().lower()
        if text not in options:
            raise self.fail(param, value, "must be one of " + ", ".join(repr(o) for o in options))
        return text

    def positive_int(self, param: str, value) -> int:
        """A positive integer (bools refused)."""
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise self.fail(param, value, "must be a positive integer")
        return int(value)

    def seed(self, param: str, value) -> int:
        """A non-negative integer (bools refused)."""
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise self.fail(param, value, "must be a non-negative integer")
        return int(value)

    def flag(self, param: str, value) -> bool:
        """True or False (nothing else)."""
        if not isinstance(value, bool):
            raise self.fail(param, value, "must be True or False")
        return value

    def positive_float(self, param: str, value) -> float:
        """A positive finite number (bools refused)."""
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise self.fail(param, value, "must be a positive number")
        if not (np.isfinite(value) and value > 0):
            raise self.fail(param, value, "must be a positive number")
        return float(value)

    def workers(self, param: str, value) -> int:
        """``parallel``: False/True (all cores) or a number of worker processes ≥ 1."""
        if isinstance(value, bool):
            import os

            return (os.cpu_count() or 1) if value else 1
        return self.positive_int(param, value)

    def quantity(self, param: str, value, unit: str, *, default_unit: str | None = None) -> float:
        """A number (in ``default_unit`` or ``unit``) or a CASA quantity string → float in ``unit``.

        ``"-47.5km/s"``, ``"0.5arcsec"``, ``"218.3GHz"`` and plain numbers are accepted.
        """
        import astropy.units as u

        target = u.Unit(unit)
        try:
            if isinstance(value, str):
                q = u.Quantity(value.strip().replace(" ", ""))
                if q.unit == u.dimensionless_unscaled:
                    q = q.value * u.Unit(default_unit or unit)
            elif isinstance(value, u.Quantity):
                q = value
            else:
                q = float(value) * u.Unit(default_unit or unit)
            result = float(q.to_value(target, equivalencies=u.spectral()))
        except (TypeError, ValueError, u.UnitsError) as exc:
            raise self.fail(param, value, f"expected a number or a quantity in {unit}") from exc
        if not np.isfinite(result):
            raise self.fail(param, value, "must be finite")
        return result

    def beam(self, param: str, value) -> tuple[float, float]:
        """A beam [bmaj, bmin] (arcsec numbers or angle strings; one value = circular) → arcsec."""
        items = [value] if isinstance(value, str | int | float) else list(value or [])
        if len(items) not in (1, 2):
            raise self.fail(param, value, "give [bmaj, bmin], e.g. ['1.0arcsec', '0.8arcsec']")
        sizes = [self.quantity(param, v, "arcsec") for v in items]
        if min(sizes) <= 0:
            raise self.fail(param, value, "beam sizes must be positive")
        return (max(sizes), min(sizes))

    # ------------------------------------------------------------------ files
    def existing(self, param: str, value, *, kind: str = "file or directory") -> Path:
        """An existing path."""
        if not isinstance(value, str | Path) or str(value) == "":
            raise self.fail(param, value, f"give the name of an existing {kind}")
        path = Path(value).expanduser()
        if not path.exists():
            raise self.fail(param, value, f"{kind} does not exist")
        return path

    def one_source(self, vis, imagename, images: str = "image cubes") -> None:
        """Exactly one of ``vis`` (a MeasurementSet) and ``imagename`` (``images``) is given."""
        if bool(vis) == bool(imagename):
            raise self.fail(
                "vis",
                vis,
                f"give either vis (a MeasurementSet) or imagename "
                f"({images}), not both and not neither",
            )

    def measurement_set(self, param: str, value) -> Path:
        """An existing MeasurementSet directory (a table with a SPECTRAL_WINDOW subtable)."""
        path = self.existing(param, value, kind="MeasurementSet")
        if not (path / "table.dat").is_file() or not (path / "SPECTRAL_WINDOW").is_dir():
            raise self.fail(param, value, "is not a MeasurementSet")
        return path

    def images(self, param: str, value) -> list[Path]:
        """One or more existing images (CASA image directories or FITS files)."""
        names = self.strings(param, value)
        if not names:
            raise self.fail(param, value, "give at least one image (CASA image or FITS)")
        return [self.existing(param, name, kind="image") for name in names]

    def output(self, param: str, value, overwrite: bool) -> Path:
        """An output path that may be written: absent, or present with ``overwrite=True``."""
        if not isinstance(value, str | Path) or str(value) == "":
            raise self.fail(param, value, "give an output name")
        path = Path(value).expanduser()
        if path.exists() and not overwrite:
            raise self.fail(param, value, "already exists; set overwrite=True to replace it")
        if not path.absolute().parent.is_dir():
            raise self.fail(param, value, "the parent directory does not exist")
        return path

    # ------------------------------------------------------------------ selections
    def spw(self, param: str, value, available: Sequence[int]) -> list[int]:
        """CASA spw selection ('' = all, '0', '0,2', '1~3', int or list) → sorted spw ids.

        Channel selections (``'0:10~20'``) are refused: whole windows are fitted.
        """
        available = sorted(int(a) for a in available)
        if value is None or (isinstance(value, str) and value.strip() in ("", "*")):
            return available
        if isinstance(value, int | np.integer) and not isinstance(value, bool):
            parts = [str(int(value))]
        elif isinstance(value, str):
            parts = [p.strip() for p in value.split(",")]
        else:
            parts = [str(v).strip() for v in value]
        chosen: set[int] = set()
        for part in parts:
            if ":" in part:
                raise self.fail(
                    param,
                    value,
                    "channel selections are not supported; select whole spectral windows",
                )
            match = re.fullmatch(r"(\d+)(?:~(\d+))?", part)
            if not match:
                raise self.fail(param, value, "expected spw ids such as '0', '0,2' or '0~3'")
            lo = int(match.group(1))
            hi = int(match.group(2) or lo)
            chosen.update(range(lo, hi + 1))
        missing = sorted(chosen - set(available))
        if missing:
            raise self.fail(
                param,
                value,
                f"no spectral window {missing} here; available: " + ", ".join(map(str, available)),
            )
        return sorted(chosen)

    def field(self, param: str, value, names: Sequence[str]) -> int:
        """CASA field selection (name or id; '' = the only field, or field 0) → field id."""
        if value is None or str(value).strip() == "":
            return 0
        text = str(value).strip()
        if text in names:
            return list(names).index(text)
        if text.isdigit() and int(text) < len(names):
            return int(text)
        raise self.fail(
            param,
            value,
            "unknown field; available: " + ", ".join(f"{i} ({n})" for i, n in enumerate(names)),
        )

    def box(self, param: str, value, shape: tuple[int, int]) -> tuple[slice, slice] | None:
        """CASA box 'blcx,blcy,trcx,trcy' (pixels, inclusive) → (y slice, x slice); '' = None."""
        if value is None or str(value).strip() == "":
            return None
        try:
            blcx, blcy, trcx, trcy = (int(v) for v in str(value).split(","))
        except ValueError as exc:
            raise self.fail(param, value, "expected 'blcx,blcy,trcx,trcy' in pixels") from exc
        ny, nx = shape
        if not (0 <= blcx <= trcx < nx and 0 <= blcy <= trcy < ny):
            raise self.fail(param, value, f"outside the image of {nx} x {ny} pixels")
        return slice(blcy, trcy + 1), slice(blcx, trcx + 1)

    def species(self, param: str, value) -> list[str]:
        """Names of the transition-cache entries of the species (e.g. 'CH3OH' → 'CH3OH;vt=0-2;')."""
        from spectuner_nb.catalog import default_cache
        from spectuner_nb.catalog.names import resolve

        names = self.strings(param, value)
        if not names:
            raise self.fail(param, value, "give at least one species, e.g. ['CH3OH']")
        cache = default_cache()
        out = []
        for name in names:
            try:
                resolve(name)
                out.append(cache.entry(name).name)
            except SpeciesNotFoundError as exc:
                raise self.fail(param, name, f"unknown species: {exc}") from exc
        return out
