"""Server secrets on disk (adapter): created once with mode 0600 (in a folder created
0700), then read."""

from __future__ import annotations

__all__ = ["load_or_create_secret"]

import os
import secrets
from pathlib import Path

from evalsvc.errors import ConfigError
from evalsvc.files import narrow, private_dir


def load_or_create_secret(path: Path, *, nbytes: int = 32) -> bytes:
    """The secret in ``path`` (hex); a new random one is written if the file is missing."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        private_dir(path.parent)
        value = secrets.token_bytes(nbytes)
        # O_EXCL: two processes starting at once must not write two different secrets.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_or_create_secret(path, nbytes=nbytes)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(value.hex() + "\n")
        return value
    narrow(path)  # one written by hand or an earlier version may be 0644
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"{path}: the secret must be hex") from None
    if len(value) < 16:
        raise ConfigError(f"{path}: the secret must be at least 16 bytes")
    return value
