"""Salts from the OS CSPRNG, read in batches (adapter: the only randomness it holds is
salts not yet handed out)."""

from __future__ import annotations

__all__ = ["SaltSource"]

import secrets
import threading


class SaltSource:
    """Fresh ``size``-byte salts (sheet commitments: 32; audit leaf fields: 16) from the
    OS CSPRNG, read ``batch`` salts at a time.

    ``secrets.token_bytes`` per sheet was one getrandom(2) per submission — 25 µs on
    this machine's VM, 8 % of a submission's event-loop CPU in bench/api.py. Every salt
    is still fresh CSPRNG output, handed out once and never reused; the only change is
    that the next few are already in this process's memory, where the salts of
    submitted sheets live anyway."""

    def __init__(self, size: int = 32, batch: int = 256) -> None:
        self.size = size
        self.batch = batch
        self._buf = b""
        self._at = 0
        # Several writer threads (PostgreSQL) draw from one source: a salt handed to two
        # fields would let a role shown one brute-force the other's small hidden value.
        self._lock = threading.Lock()

    def __call__(self) -> bytes:
        return self.take(1)[0]

    def take(self, n: int) -> list[bytes]:
        """The next ``n`` salts (an event's fields), each handed out once like a call's."""
        size = self.size
        with self._lock:
            at = self._at
            if at + size * n > len(self._buf):
                self._buf = secrets.token_bytes(size * max(self.batch, n))
                at = 0
            self._at = at + size * n
            buf = self._buf
        return [buf[i : i + size] for i in range(at, at + size * n, size)]
