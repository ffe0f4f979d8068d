"""Real ``evalsvc serve`` processes on loopback for multi-process tests.

Every wait here has a deadline, and when it passes the error names what was awaited and
the process's last output. A process started here never outlives its test: a failed
start kills it, :func:`stop_process` ends with SIGKILL when SIGTERM is not enough, and
:func:`reap` (called after every test by tests/conftest.py) kills whatever a test left.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from evalsvc.config import PROJECT_ROOT

# Every child started by spawn(), so that reap() can find the ones a test left running.
_CHILDREN: list[tuple[subprocess.Popen[bytes], str]] = []
_HANDED_OUT: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A loopback port nobody listens on, outside the kernel's ephemeral range.

    Outside it because a server is restarted on the same port after a SIGKILL: while it
    is down, a client retrying to connect could be given that very port as its source
    port and connect to itself (TCP simultaneous open), and the restarted server would
    then fail to bind. Ports in the range are also what every outgoing connection uses.
    """
    low, high = _ephemeral_range()
    if low > 21000:
        candidates = list(range(20000, low))
    else:  # an unusual range: above it, else whatever the kernel gives
        candidates = list(range(high + 1, 65536)) if high < 64000 else []
    random.shuffle(candidates)
    for port in candidates[:200]:
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, chars: int = 2000) -> str:
    """The last ``chars`` characters of a log file ("" when there is none)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return ""


def spawn(
    argv: list[str], *, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in the project root, output appended to ``log``; :func:`reap`
    kills it if the test does not stop it."""
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            argv,
            cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    _CHILDREN.append((proc, " ".join(argv[1:4])))
    return proc


def stop_process(proc: subprocess.Popen[bytes] | None, *, grace: float = 10.0) -> None:
    """SIGTERM, up to ``grace`` seconds to exit, then SIGKILL (``grace=0``: at once)."""
    if proc is None or proc.poll() is not None:
        return
    if grace > 0:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            pass
    proc.kill()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"process {proc.pid} did not exit 10 s after SIGKILL") from None


def reap() -> list[str]:
    """Kill every child of :func:`spawn` still running; what was killed."""
    left = []
    for proc, what in _CHILDREN:
        if proc.poll() is None:
            left.append(f"pid {proc.pid} ({what})")
            stop_process(proc, grace=0)
    _CHILDREN.clear()
    return left


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
        """Start the server and return once ``/healthz`` answers 200; otherwise kill it
        and fail within ``timeout`` seconds, with its last output."""
        env = {
            "EVALSVC_TOKEN_SECRET_FILE": str(self.secret_file),
            "EVALSVC_AUDIT_KEY_FILE": str(self.secret_file.with_name("audit-log.key")),
            "EVALSVC_DATABASE_URL": self.db_url,
            **self.extra_env,
        }
        tls_args: list[str] = []
        health_ctx = None
        if self.tls is not None:
            tls_args = ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
            health_ctx = ssl.create_default_context(cafile=str(self.tls[2]))
        argv = [sys.executable, "-m", "evalsvc", "serve", "--host", "127.0.0.1"]
        self.proc = spawn([*argv, "--port", str(self.port), *tls_args], log=self.log, env=env)
        try:
            self._wait_healthy(self.proc, timeout, health_ctx)
        except BaseException:
            stop_process(self.proc, grace=0)
            raise

    def _wait_healthy(
        self, proc: subprocess.Popen[bytes], timeout: float, ctx: ssl.SSLContext | None
    ) -> None:
        deadline = time.monotonic() + timeout
        last: object = "no attempt"
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"server on port {self.port} exited with {proc.returncode} before "
                    f"answering /healthz; last output:\n{tail(self.log)}"
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(
                    f"server on port {self.port} did not answer /healthz within "
                    f"{timeout:g} s (last attempt: {last}); last output:\n{tail(self.log)}"
                )
            try:
                with urllib.request.urlopen(
                    self.url + "/healthz", timeout=min(1.0, left), context=ctx
                ) as r:
                    if r.status == 200 and proc.poll() is None:
                        return
                    last = f"HTTP {r.status}"
            except OSError as exc:  # refused, 503 while the database is not there, ...
                last = exc
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush — what a crash or an OOM kill does."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            raise RuntimeError(
                f"server on port {self.port} (pid {self.proc.pid}) did not exit 10 s after SIGKILL"
            ) from None

    def stop(self) -> None:
        """SIGTERM (a graceful shutdown), SIGKILL after 10 s."""
        stop_process(self.proc)
