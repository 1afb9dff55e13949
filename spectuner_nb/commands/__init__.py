"""Subcommands of the ``spectuner-nb`` command line, one module each (see cli.py)."""

__all__: list[str] = []
