"""Serve a notebook of widgets as a web app with Voilà, offline and without leaking kernels.

``python -m spectuner_nb.widgets.serve NOTEBOOK.ipynb [--port 8866]`` runs Voilà with:

* the ``spectuner`` template (Voilà's "lab" template without its FontAwesome
  CDN stylesheets, so a page asks nothing from the internet);
* idle-kernel culling: Voilà starts one kernel (330–500 MB with the engine
  loaded) per page view and shuts it down when the page sends its
  ``beforeunload`` beacon; a page that never sends it (a crashed tab, a
  killed browser, a lost network) leaves a kernel, which is culled once it
  has had no connection for ``cull_idle_s`` seconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["TEMPLATE", "TEMPLATE_ROOT", "main", "voila_command", "voila_environment"]


TEMPLATE = "spectuner"
TEMPLATE_ROOT = Path(__file__).resolve().parent / "jupyter"
"""A Jupyter data directory holding ``voila/templates/spectuner``."""


def voila_command(
    notebook: str | os.PathLike, *, port: int = 8866, cull_idle_s: int = 120, ip: str = "127.0.0.1"
) -> list[str]:
    """The command line serving ``notebook`` (run it with :func:`voila_environment`)."""
    cull_idle_s = int(cull_idle_s)
    if cull_idle_s <= 0:
        from .cubes import WidgetInputError

        raise WidgetInputError(f"cull_idle_s must be positive, got {cull_idle_s}")
    return [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        "--no-browser",
        f"--port={int(port)}",
        f"--Voila.ip={ip}",
        "--ServerApp.port_retries=0",
        f"--template={TEMPLATE}",
        f"--MappingKernelManager.cull_idle_timeout={cull_idle_s}",
        f"--MappingKernelManager.cull_interval={max(1, min(60, cull_idle_s // 2))}",
        "--MappingKernelManager.cull_connected=False",
    ]


def voila_environment(base: dict | None = None) -> dict:
    """Environment for :func:`voila_command`: JUPYTER_PATH extended by the template root."""
    env = dict(os.environ if base is None else base)
    env["JUPYTER_PATH"] = os.pathsep.join(
        [str(TEMPLATE_ROOT)] + [p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    )
    return env


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns Voilà's exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m spectuner_nb.widgets.serve", description=__doc__.split("\n")[0]
    )
    parser.add_argument("notebook")
    parser.add_argument("--port", type=int, default=8866)
    parser.add_argument(
        "--cull-idle",
        type=int,
        default=120,
        dest="cull_idle_s",
        help="seconds a kernel without connection lives (default 120)",
    )
    args = parser.parse_args(argv)
    notebook = Path(args.notebook).resolve()
    command = voila_command(notebook.name, port=args.port, cull_idle_s=args.cull_idle_s)
    return subprocess.call(command, cwd=notebook.parent, env=voila_environment())


if __name__ == "__main__":
    sys.exit(main())
