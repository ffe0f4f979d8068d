"""Salts from the OS CSPRNG, read in batches (adapter: the only randomness it holds is
salts not yet handed out)."""

from __future__ import annotations

__all__ = ["SaltSource"]

import secrets


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

    def __call__(self) -> bytes:
        if self._at + self.size > len(self._buf):
            self._buf = secrets.token_bytes(self.size * self.batch)
            self._at = 0
        salt = self._buf[self._at : self._at + self.size]
        self._at += self.size
        return salt
