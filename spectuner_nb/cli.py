"""The ``spectuner-nb`` command line.

Each subcommand lives in its own module under :mod:`spectuner_nb.commands`
and defines ``register(subparsers)``, which adds its parser and sets
``func`` (called with the parsed arguments, returns an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys

from . import __version__, commands
from .errors import SpectunerError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand module registered."""
    parser = argparse.ArgumentParser(
        prog="spectuner-nb",
        description="Fit LTE models of interstellar molecules to line spectra and cubes.",
    )
    parser.add_argument("--version", action="version", version=f"spectuner_nb {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse ``argv`` and run the chosen subcommand.

    Exit codes: 0 success, 1 a refused input or failed run (one line on stderr, no
    traceback), 2 bad arguments, 130 interrupted (Ctrl-C), 141 output pipe closed.
    """
    name = "spectuner-nb"
    try:
        parser = build_parser()  # imports every subcommand: Ctrl-C may come here too
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        name = f"spectuner-nb {args.command}"
        return int(args.func(args) or 0)
    except SpectunerError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # stopping already: no second traceback
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
