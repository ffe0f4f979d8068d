"""The offline audit bundle: a self-contained directory a supervisor can verify.

Pure format code (stdlib only, plus the pure audit modules); the database export is
:mod:`evalsvc.audit.export`. Layout (all text is UTF-8, lines end in ``\\n``)::

    DIR/
      bundle.json        informational, unsigned: format, session id, origin, counts
      policy             trusted keys and quorum (see :class:`Policy`)
      entries            entry ``i`` on line ``i + 1`` as logged (canonical JSON, which never
                         contains a newline byte); a format-2 entry stands for the leaf
                         recomputed from it (:func:`evalsvc.audit.leaf.leaf_of_entry`)
      leaf-hashes        base64 RFC 6962 leaf hash of each entry, same order; lets the
                         verifier name the exact entry that was edited or moved
      checkpoints/<size>.note
                         each checkpoint: the log-signed C2SP note followed by the
                         witnesses' cosignature/v1 lines
      consistency/<old>-<new>
                         RFC 6962 consistency proof between successive checkpoints,
                         one base64 hash per line
      proofs/<index>.tlog-proof
                         optional C2SP tlog-proof of single entries

The ``policy`` file (modelled on Sigsum's policy files)::

    origin evalsvc.example/s-0001
    log <vkey of the log, type 0x01>
    witness <vkey of a venue witness, type 0x04 or 0x01>
    quorum <number of witnesses that must cosign the latest checkpoint>
"""

from __future__ import annotations

__all__ = [
    "BUNDLE_FORMAT",
    "MAX_BUNDLE_FILE",
    "Bundle",
    "Policy",
    "bundle_json",
    "bundle_text",
    "format_policy",
    "parse_policy",
    "read_bundle",
    "unsafe_files",
    "write_bundle",
]

import base64
import json
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evalsvc.errors import InvalidInput
from evalsvc.files import private_dir, private_opener, write_private

BUNDLE_FORMAT = "evalsvc-audit-bundle/v1"
# A bundle's largest file (its entries: 100k entries take some 100 MB, docs/audit.md);
# a verifier handed more is handed something else.
MAX_BUNDLE_FILE = 1 << 30


def unsafe_files(directory: Path) -> list[tuple[str, str]]:
    """(name, why) of what in a bundle directory the verifier must not open: a symbolic
    link (to ``/dev/zero``, or to a file of the supervisor's own outside the bundle), a
    FIFO or device (a read that never ends), a file over :data:`MAX_BUNDLE_FILE`. A
    bundle is plain files in plain folders, two levels deep, as ``write_bundle`` writes
    it; a verifier checks this before it reads anything."""
    out: list[tuple[str, str]] = []
    todo = [(directory, "", 0)]
    while todo:
        folder, prefix, depth = todo.pop()
        with os.scandir(folder) as it:
            found = sorted(it, key=lambda e: e.name)
        for e in found:
            name = prefix + e.name
            st = e.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                out.append((name, "是符号链接，包内只应有普通文件 / is a symbolic link:"
                                  " a bundle holds plain files only"))
            elif stat.S_ISDIR(st.st_mode):
                if depth >= 2:
                    out.append((name, "文件夹层级过深 / a folder nested deeper than a bundle's"))
                else:
                    todo.append((Path(e.path), name + "/", depth + 1))
            elif not stat.S_ISREG(st.st_mode):
                out.append((name, "不是普通文件（管道或设备） / is not a regular file (a FIFO or"
                                  " a device)"))
            elif st.st_size > MAX_BUNDLE_FILE:
                out.append((name, f"文件过大（{st.st_size} 字节，上限 {MAX_BUNDLE_FILE}） / is"
                                  f" {st.st_size} bytes, over the limit of {MAX_BUNDLE_FILE}"))
    return sorted(out)


def bundle_text(path: Path) -> str:
    """A bundle's text file, UTF-8; :class:`InvalidInput` naming it otherwise."""
    try:
        return path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path.name}：不是 UTF-8 文本 / is not UTF-8 text: {exc}",
                           field=path.name) from exc


def bundle_json(path: Path) -> object:
    """A bundle's JSON file; :class:`InvalidInput` naming it when it is not UTF-8 JSON
    or nests beyond what the parser takes."""
    text = bundle_text(path)
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise InvalidInput(f"{path.name}：JSON 嵌套过深 / nests too deeply", field=path.name
                           ) from exc
    except ValueError as exc:
        raise InvalidInput(f"{path.name}：不是 JSON / is not JSON: {exc}", field=path.name
                           ) from exc


@dataclass(frozen=True)
class Policy:
    """Whom a verifier trusts: the log's key, the witnesses' keys, and the quorum."""

    origin: str
    log_vkey: str
    witness_vkeys: tuple[str, ...] = ()
    quorum: int = 0


def format_policy(policy: Policy) -> str:
    """Encode a policy file."""
    lines = [f"origin {policy.origin}", f"log {policy.log_vkey}"]
    lines += [f"witness {w}" for w in policy.witness_vkeys]
    lines.append(f"quorum {policy.quorum}")
    return "\n".join(lines) + "\n"


def parse_policy(text: str) -> Policy:
    """Decode a policy file; ``#`` starts a comment line."""
    origin = log = None
    witnesses: list[str] = []
    quorum = 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, value = line.partition(" ")
        value = value.strip()
        if word == "origin" and value:
            origin = value
        elif word == "log" and value:
            log = value
        elif word == "witness" and value:
            witnesses.append(value)
        elif word == "quorum" and value.isdigit():
            quorum = int(value)
        else:
            raise InvalidInput(f"policy line {n}: cannot read {raw!r}", field=f"policy/{n}")
    if origin is None or log is None:
        raise InvalidInput("policy needs an 'origin' and a 'log' line", field="policy")
    if quorum > len(witnesses):
        raise InvalidInput(
            f"policy quorum {quorum} exceeds the {len(witnesses)} witnesses listed",
            field="policy/quorum",
        )
    return Policy(origin, log, tuple(witnesses), quorum)


@dataclass(frozen=True)
class Bundle:
    """A bundle as read from disk; nothing in it is trusted yet."""

    meta: Mapping[str, object]
    policy_text: str | None
    entries: list[bytes]
    entries_complete: bool  # False when the file does not end in a newline
    leaf_hashes: list[bytes] | None
    checkpoints: dict[str, str]  # file name -> note text
    consistency: dict[str, list[bytes]]  # "old-new" -> proof
    proofs: dict[str, str] = field(default_factory=dict)  # file name -> tlog-proof text


def _write(path: Path, data: bytes) -> None:
    write_private(path, data)


def write_bundle(
    out_dir: Path,
    *,
    session_id: str,
    policy: Policy | None,
    entries: Iterable[tuple[bytes | None, bytes]],
    checkpoints: Sequence[tuple[int, str]],
    consistency: Mapping[tuple[int, int], Sequence[bytes]],
    proofs: Mapping[int, str] | None = None,
) -> dict[str, object]:
    """Write a bundle directory.

    ``entries`` are ``(data, leaf hash as logged)`` pairs — the logged hash, not one
    recomputed from ``data``, so that a verifier can tell which entry was altered;
    ``data`` is ``None`` for a leaf whose row is missing from the store.
    ``checkpoints`` are ``(size, cosigned note)`` pairs; ``policy`` may be ``None`` when
    the verifier will bring its own trusted keys.
    """
    # A bundle holds every audit entry of a session: readable by its owner only.
    private_dir(out_dir)
    for sub in ("checkpoints", "consistency", "proofs"):
        private_dir(out_dir / sub)
    count = 0
    with (
        open(out_dir / "entries", "wb", opener=private_opener) as ent,
        open(out_dir / "leaf-hashes", "wb", opener=private_opener) as lh,
    ):
        for data, logged in entries:
            lh.write(base64.b64encode(logged) + b"\n")
            if data is None:  # the store lost the entry; the verifier will say so
                continue
            if b"\n" in data:
                raise InvalidInput(f"entry {count} contains a newline byte; cannot bundle it")
            ent.write(data + b"\n")
            count += 1
    for size, note in checkpoints:
        _write(out_dir / "checkpoints" / f"{size}.note", note.encode())
    for (old, new), proof in consistency.items():
        body = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
        _write(out_dir / "consistency" / f"{old}-{new}", body.encode())
    for index, text in (proofs or {}).items():
        _write(out_dir / "proofs" / f"{index}.tlog-proof", text.encode())
    if policy is not None:
        _write(out_dir / "policy", format_policy(policy).encode())
    meta: dict[str, object] = {
        "format": BUNDLE_FORMAT,
        "session_id": session_id,
        "entries": count,
        "checkpoints": [size for size, _ in checkpoints],
    }
    _write(out_dir / "bundle.json", (json.dumps(meta, indent=1) + "\n").encode())
    return meta


def _b64_lines(data: bytes, what: str) -> list[bytes]:
    out = []
    for n, line in enumerate(data.decode("ascii", "replace").splitlines(), 1):
        try:
            out.append(base64.b64decode(line, validate=True))
        except ValueError as exc:
            raise InvalidInput(f"{what} line {n} is not base64", field=what) from exc
    return out


def read_bundle(directory: Path) -> Bundle:
    """Read every file of a bundle directory (no verification)."""
    if not directory.is_dir():
        raise InvalidInput(f"{directory} is not a bundle directory")
    meta_path = directory / "bundle.json"
    meta = bundle_json(meta_path) if meta_path.exists() else {}
    if not isinstance(meta, dict):
        raise InvalidInput("bundle.json：应为 JSON 对象 / is not a JSON object",
                           field="bundle.json")
    policy_path = directory / "policy"
    policy_text = bundle_text(policy_path) if policy_path.exists() else None
    raw = (directory / "entries").read_bytes() if (directory / "entries").exists() else b""
    complete = raw == b"" or raw.endswith(b"\n")
    entries = raw.split(b"\n")
    entries = entries[:-1] if complete else entries
    lh_path = directory / "leaf-hashes"
    hashes = _b64_lines(lh_path.read_bytes(), "leaf-hashes") if lh_path.exists() else None
    cps = {
        p.name: bundle_text(p)
        for p in sorted((directory / "checkpoints").glob("*.note"))
        if p.is_file()
    }
    cons = {
        p.name: _b64_lines(p.read_bytes(), f"consistency/{p.name}")
        for p in sorted((directory / "consistency").glob("*-*"))
        if p.is_file()
    }
    proofs = {
        p.name: bundle_text(p)
        for p in sorted((directory / "proofs").glob("*.tlog-proof"))
        if p.is_file()
    }
    return Bundle(meta, policy_text, entries, complete, hashes, cps, cons, proofs)
