"""Start and stop a Voilà or JupyterLab server for one notebook, and a headless Debian chromium.

Used by the browser-test fixtures: one server start per test module, stopped
by its process id. Voilà is started the product's way
(:mod:`spectuner_nb.widgets.serve`). No browser is downloaded: Playwright drives
/usr/bin/chromium.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str | None:
    """Path of the Debian chromium binary, or None when it is not installed."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NotebookServer:
    """A server process for ``notebook`` on 127.0.0.1; ``url`` answers once :meth:`start`
    returned. Subclasses give the command and the environment."""

    def __init__(self, notebook: Path, log: Path) -> None:
        self.notebook = Path(notebook)
        self.log = Path(log)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict:
        return dict(os.environ, PYTHONUNBUFFERED="1")

    def start(self, timeout: float = 90.0) -> None:
        """Launch the server and wait until it accepts connections (RuntimeError on failure)."""
        self._log_handle = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.notebook.parent,
            env=self.environment(),
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early; log:\n{self.log.read_text()}")
            try:  # a TCP connection only: a GET of "/" would execute the notebook in Voilà
                with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(
            f"server did not answer within {timeout} s; log:\n{self.log.read_text()}"
        )

    def kernel_processes(self) -> list:
        """The kernel processes (psutil) the server has started and that still run."""
        import psutil

        alive = []
        for proc in psutil.Process(self.process.pid).children(recursive=True):
            try:
                if proc.status() != psutil.STATUS_ZOMBIE and "ipykernel" in " ".join(
                    proc.cmdline()
                ):
                    alive.append(proc)
            except psutil.Error:  # ended (or became a zombie) while being looked at
                continue
        return alive

    def stop(self) -> None:
        """Terminate the server process (by its pid) and wait for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "_log_handle", None) is not None:
            self._log_handle.close()


class VoilaServer(NotebookServer):
    """Voilà as the product serves it (template without CDN, idle kernels culled)."""

    def __init__(self, notebook: Path, log: Path, cull_idle_s: int = 120) -> None:
        super().__init__(notebook, log)
        self.cull_idle_s = cull_idle_s

    def command(self) -> list[str]:
        from spectuner_nb.widgets.serve import voila_command

        return voila_command(self.notebook.name, port=self.port, cull_idle_s=self.cull_idle_s)

    def environment(self) -> dict:
        from spectuner_nb.widgets.serve import voila_environment

        return voila_environment(super().environment())


class LabServer(NotebookServer):
    """JupyterLab without token or password, serving the notebook's folder."""

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]

    def notebook_url(self, workspace: str) -> str:
        """URL opening the notebook in a fresh workspace."""
        return f"{self.url}lab/workspaces/{workspace}/tree/{self.notebook.name}?reset"
