"""Subcommands of the ``spectuner-nb`` command line, one module each (see cli.py).

Shared here: argparse types that refuse a bad number at parse time, with the
setting's limits in the message.
"""

from __future__ import annotations

import argparse

__all__ = ["count"]


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
