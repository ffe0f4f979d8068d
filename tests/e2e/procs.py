"""Real ``evalsvc serve`` processes on loopback for multi-process tests."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from evalsvc.config import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One ``python -m evalsvc serve`` process; start, SIGKILL, restart."""

    # (certificate chain, key, CA file that checks it): set before start() to serve HTTPS
    # (--tls-cert/--tls-key) at https://localhost:PORT.
    tls: tuple[Path, Path, Path] | None = None

    def __init__(
        self,
        *,
        db_url: str,
        secret_file: Path,
        log: Path,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.db_url = db_url
        self.extra_env = dict(env or {})  # e.g. EVALSVC_CONFIG with test settings
        self.secret_file = secret_file
        self.port = port or free_port()
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.tls is not None:
            return f"https://localhost:{self.port}"
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        env = {
            **os.environ,
            "EVALSVC_TOKEN_SECRET_FILE": str(self.secret_file),
            "EVALSVC_AUDIT_KEY_FILE": str(self.secret_file.with_name("audit-log.key")),
            "EVALSVC_DATABASE_URL": self.db_url,
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        tls_args: list[str] = []
        health_ctx = None
        if self.tls is not None:
            tls_args = ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
            health_ctx = ssl.create_default_context(cafile=str(self.tls[2]))
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "evalsvc",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    *tls_args,
                ],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(
                    self.url + "/healthz", timeout=1, context=health_ctx
                ) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not become healthy: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush — what a crash or an OOM kill does."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
