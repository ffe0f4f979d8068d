"""Private files on disk (adapter): databases, secrets, keys and exported bundles are
created 0600 in folders created 0700, whatever the process umask.

A file that already exists with a broader mode (written by an earlier version, or
copied in) is narrowed to 0600 when evalsvc opens it; an existing folder is left as it
is (it may be shared, e.g. the working directory) — only the files in it are narrowed.
"""

from __future__ import annotations

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "narrow",
    "private_dir",
    "private_file",
    "private_opener",
    "write_private",
]

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> None:
    """Create ``path`` and missing parents with mode 0700 (existing folders are kept)."""
    missing: list[Path] = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(d, DIR_MODE)  # mkdir's mode is masked by the umask


def narrow(path: Path) -> None:
    """Take group and other permissions away from an existing file."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        try:
            os.chmod(path, mode & 0o700)
        except OSError as exc:  # not ours: say so, the service still runs
            log.warning("cannot make %s private (mode %o): %s", path, mode, exc)


def private_file(path: Path) -> None:
    """Make sure ``path`` exists as a 0600 file (created empty if missing) in a folder
    created 0700."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    os.close(fd)
    narrow(path)


def private_opener(path: str, flags: int) -> int:
    """``open(..., opener=private_opener)``: new files get mode 0600."""
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # also when the file existed with another mode
    return fd


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically; the file is 0600 from its creation."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb", opener=private_opener) as fh:
        fh.write(data)
    os.replace(tmp, path)
