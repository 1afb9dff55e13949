"""Start and stop a Voilà server for one notebook, and a headless Debian chromium.

Used by the browser-test fixtures: one server start per test session, stopped
by its process id. No browser is downloaded: Playwright drives /usr/bin/chromium.
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
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
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


class VoilaServer:
    """Voilà serving ``notebook`` on 127.0.0.1; ``url`` once :meth:`start` returned."""

    def __init__(self, notebook: Path, log: Path) -> None:
        self.notebook = Path(notebook)
        self.log = Path(log)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        """Launch voila and wait until it answers HTTP (raises RuntimeError on failure)."""
        cmd = [
            sys.executable, "-m", "voila", self.notebook.name, "--no-browser",
            f"--port={self.port}", "--Voila.ip=127.0.0.1", "--ServerApp.port_retries=0",
        ]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self._log_handle = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(cmd, cwd=self.notebook.parent, env=env,
                                        stdout=self._log_handle, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"voila exited early; log:\n{self.log.read_text()}")
            try:  # a TCP connection only: a GET of "/" would execute the notebook
                with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"voila did not answer within {timeout} s; log:\n{self.log.read_text()}")

    def stop(self) -> None:
        """Terminate the server process (by its pid) and wait for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "_log_handle", None) is not None:
            self._log_handle.close()
