"""C2SP signed notes, checkpoints, cosignatures and offline proofs.

Pure: text in, text out; keys are passed in as strings. Formats, all from c2sp.org:

- ``signed-note``: a text ending in ``\\n``, an empty line, then one line per signature
  ``— <name> base64(key id[4] || signature)``. Keys in the Go ``golang.org/x/mod/sumdb/note``
  encoding: verifier key ``name+hexid+base64(type || public key)``, signer key
  ``PRIVATE+KEY+name+hexid+base64(type || seed)``; key id = ``SHA-256(name || 0x0A || type
  || public key)[:4]``. Type 0x01 is Ed25519 over the note text.
- ``tlog-checkpoint``: the note text is ``origin\\n<decimal size>\\n<base64 root>\\n`` and
  optional extension lines.
- ``tlog-cosignature`` v1 (type 0x04): the signature is ``u64be timestamp || Ed25519 sig``
  over ``"cosignature/v1\\ntime <ts>\\n" || checkpoint text``.
- ``tlog-proof`` v1: ``c2sp.org/tlog-proof@v1``, optional ``extra <base64>``,
  ``index <n>``, one base64 hash per line, an empty line, then the signed checkpoint.
"""

from __future__ import annotations

__all__ = [
    "COSIGNATURE_V1",
    "ED25519",
    "Checkpoint",
    "Note",
    "NoteSignature",
    "TlogProof",
    "cosign_checkpoint",
    "cosignature_vkey",
    "format_checkpoint",
    "format_tlog_proof",
    "generate_key",
    "key_id",
    "open_note",
    "parse_checkpoint",
    "parse_tlog_proof",
    "sign_checkpoint",
    "sign_note",
    "signer_vkey",
    "split_note",
    "verified_cosignatures",
    "verify_cosignature",
    "verify_tlog_proof",
]

import base64
import binascii
import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from evalsvc.audit.merkle import leaf_hash as _leaf_hash
from evalsvc.audit.merkle import verify_inclusion
from evalsvc.errors import AuditLogInconsistent, InvalidInput, VerificationError

# Signature types (C2SP signed-note "Signature types"; tlog-cosignature "Format").
ED25519 = 0x01
COSIGNATURE_V1 = 0x04

_DASH = "\u2014 "  # "— " starts every signature line (C2SP signed-note)
_MAX_SIGNATURES = 100  # golang.org/x/mod/sumdb/note refuses more; so do we
_TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


# --- keys --------------------------------------------------------------------------------


def _valid_name(name: str) -> bool:
    # C2SP signed-note: non-empty, no whitespace, no "+" (the key string separator).
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    """``SHA-256(name || 0x0A || type || public key)[:4]`` (C2SP signed-note key ID)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()[:4]


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise InvalidInput(f"{what} is not valid base64") from exc


@dataclass(frozen=True)
class _Verifier:
    name: str
    id: bytes
    type: int
    key: Ed25519PublicKey


@dataclass(frozen=True)
class _Signer:
    name: str
    private: Ed25519PrivateKey
    public: bytes


def _parse_vkey(vkey: str) -> _Verifier:
    # Split at the first two "+" only: base64 may contain "+" itself.
    name, _, rest = vkey.partition("+")
    hexid, sep, b64 = rest.partition("+")
    if not sep or not _valid_name(name):
        raise InvalidInput(f"malformed verifier key {vkey!r}: expected name+hexid+base64")
    raw = _b64decode(b64, f"verifier key {name!r}")
    if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
        raise InvalidInput(
            f"verifier key {name!r}: expected type 0x01 or 0x04 and a 32-byte Ed25519 key"
        )
    kid = key_id(name, raw[0], raw[1:])
    if len(hexid) != 8 or hexid != kid.hex():
        raise InvalidInput(f"verifier key {name!r}: key id {hexid} does not match the key")
    return _Verifier(name, kid, raw[0], Ed25519PublicKey.from_public_bytes(raw[1:]))


@functools.lru_cache(maxsize=16)
def _parse_skey(skey: str) -> _Signer:
    # Cached: the log signs a checkpoint of every session that grew, each second, with
    # the same key; parsing it (deriving the public key) was 37 of a signature's 83 µs.
    # (A malformed key raises, and lru_cache keeps no exception.)
    prefix = "PRIVATE+KEY+"
    name, _, rest = skey[len(prefix) :].partition("+")
    hexid, sep, b64 = rest.partition("+")
    if not skey.startswith(prefix) or not sep or not _valid_name(name):
        raise InvalidInput("malformed signer key: expected PRIVATE+KEY+name+hexid+base64")
    raw = _b64decode(b64, f"signer key {name!r}")
    if len(raw) != 33 or raw[0] != ED25519:
        raise InvalidInput(f"signer key {name!r}: expected type 0x01 and a 32-byte seed")
    private = Ed25519PrivateKey.from_private_bytes(raw[1:])
    public = private.public_key().public_bytes_raw()
    if len(hexid) != 8 or hexid != key_id(name, ED25519, public).hex():
        raise InvalidInput(f"signer key {name!r}: key id {hexid} does not match the key")
    return _Signer(name, private, public)


def _vkey(name: str, key_type: int, public: bytes) -> str:
    kid = key_id(name, key_type, public).hex()
    return f"{name}+{kid}+{base64.b64encode(bytes([key_type]) + public).decode()}"


def generate_key(name: str, *, seed: bytes | None = None) -> tuple[str, str]:
    """A new Ed25519 key pair as ``(skey, vkey)`` strings in the Go note format.

    ``seed`` (32 bytes) makes the key reproducible in tests; by default it is random.
    """
    if not _valid_name(name):
        raise InvalidInput(f"key name {name!r} must be non-empty, without spaces or '+'")
    private = Ed25519PrivateKey.from_private_bytes(seed) if seed else Ed25519PrivateKey.generate()
    raw_seed = private.private_bytes_raw()
    public = private.public_key().public_bytes_raw()
    kid = key_id(name, ED25519, public).hex()
    skey = f"PRIVATE+KEY+{name}+{kid}+{base64.b64encode(bytes([ED25519]) + raw_seed).decode()}"
    return skey, _vkey(name, ED25519, public)


def signer_vkey(skey: str) -> tuple[str, str]:
    """The key name and the type-0x01 verifier key of a signer key."""
    signer = _parse_skey(skey)
    return signer.name, _vkey(signer.name, ED25519, signer.public)


def cosignature_vkey(key: str) -> str:
    """The type-0x04 (cosignature/v1) verifier key of an skey or a type-0x01 vkey."""
    if key.startswith("PRIVATE+KEY+"):
        s = _parse_skey(key)
        return _vkey(s.name, COSIGNATURE_V1, s.public)
    v = _parse_vkey(key)
    return _vkey(v.name, COSIGNATURE_V1, v.key.public_bytes_raw())


# --- notes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key id, and the raw signature bytes.

    ``timestamp`` is set for verified cosignature/v1 signatures.
    """

    name: str
    key_id: bytes
    signature: bytes
    timestamp: int | None = None

    def line(self) -> str:
        """The encoded line, ``— name base64(id || sig)\\n``."""
        return f"{_DASH}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


@dataclass(frozen=True)
class Note:
    """An opened note: its text, the signatures that verified, and the others."""

    text: str
    signatures: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...] = ()


def _check_text(text: str) -> None:
    # C2SP signed-note: UTF-8, ends in a newline, no control characters but newline.
    if not text.endswith("\n"):
        raise VerificationError("malformed note: the text must end with a newline")
    for ch in text:
        if (ch < " " and ch != "\n") or ch == "\ufffd":
            raise VerificationError(f"malformed note: control character {ch!r} in the text")


def split_note(note: str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and (unverified) signature lines."""
    i = note.rfind("\n\n")
    if i < 0:
        raise VerificationError("malformed note: no empty line before the signatures")
    text, rest = note[: i + 1], note[i + 2 :]
    _check_text(text)
    if not rest.endswith("\n"):
        raise VerificationError("malformed note: the last signature line has no newline")
    sigs: list[NoteSignature] = []
    for line in rest[:-1].split("\n"):
        if not line.startswith(_DASH):
            raise VerificationError(f"malformed note: unexpected line {line[:40]!r}")
        name, sep, b64 = line[len(_DASH) :].partition(" ")
        if not sep or not _valid_name(name) or " " in b64:
            raise VerificationError(f"malformed note: bad signature line {line[:40]!r}")
        try:
            raw = _b64decode(b64, f"signature of {name!r}")
        except InvalidInput as exc:
            raise VerificationError(f"malformed note: {exc.message}") from exc
        if len(raw) < 5:
            raise VerificationError(f"malformed note: signature of {name!r} is too short")
        sigs.append(NoteSignature(name, raw[:4], raw[4:]))
    if len(sigs) > _MAX_SIGNATURES:
        raise VerificationError(f"malformed note: more than {_MAX_SIGNATURES} signatures")
    return text, sigs


def _cosigned_message(text: str, timestamp: int) -> bytes:
    # C2SP tlog-cosignature "Ed25519 signed message".
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def _check(v: _Verifier, text: str, sig: NoteSignature) -> NoteSignature:
    """Verify one signature by a known key; return it with its timestamp if any."""
    key_name = f"{v.name}+{v.id.hex()}"
    if v.type == ED25519:
        try:
            v.key.verify(sig.signature, text.encode())
        except InvalidSignature as exc:
            raise VerificationError(f"invalid signature for key {key_name}") from exc
        return sig
    # Cosignature: u64 big-endian timestamp || 64-byte Ed25519 signature.
    if len(sig.signature) != 8 + 64:
        raise VerificationError(f"invalid cosignature for key {key_name}: wrong length")
    ts = int.from_bytes(sig.signature[:8], "big")
    if ts >= 1 << 63:
        raise VerificationError(f"invalid cosignature for key {key_name}: timestamp >= 2^63")
    try:
        v.key.verify(sig.signature[8:], _cosigned_message(text, ts))
    except InvalidSignature as exc:
        raise VerificationError(f"invalid cosignature for key {key_name}") from exc
    return NoteSignature(sig.name, sig.key_id, sig.signature, ts)


def _open(note: str, vkeys: Sequence[str]) -> Note:
    verifiers: dict[tuple[str, bytes], _Verifier] = {}
    for vkey in vkeys:
        parsed = _parse_vkey(vkey)
        verifiers[(parsed.name, parsed.id)] = parsed
    text, sigs = split_note(note)
    good: list[NoteSignature] = []
    other: list[NoteSignature] = []
    for sig in sigs:
        v = verifiers.get((sig.name, sig.key_id))
        if v is None:
            other.append(sig)
            continue
        checked = _check(v, text, sig)
        if all((g.name, g.key_id) != (checked.name, checked.key_id) for g in good):
            good.append(checked)
    return Note(text, tuple(good), tuple(other))


def open_note(note: str, vkeys: Sequence[str]) -> Note:
    """Parse a signed note and verify its signatures by the keys in ``vkeys``.

    Signatures by unknown keys are kept in ``Note.unverified``. Raises
    ``VerificationError`` when no known key signed the note or when a known key's
    signature does not verify (C2SP signed-note "Verifying").
    """
    opened = _open(note, vkeys)
    if not opened.signatures:
        raise VerificationError("note has no verifiable signatures by a trusted key")
    return opened


def sign_note(text: str, skeys: Sequence[str]) -> str:
    """Sign ``text`` with each Ed25519 signer key and return the encoded note."""
    _check_text(text)
    if not skeys:
        raise InvalidInput("sign_note needs at least one signer key")
    lines = []
    for skey in skeys:
        s = _parse_skey(skey)
        sig = s.private.sign(text.encode())
        lines.append(NoteSignature(s.name, key_id(s.name, ED25519, s.public), sig).line())
    return text + "\n" + "".join(lines)


# --- checkpoints and cosignatures --------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog-checkpoint body: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


def format_checkpoint(cp: Checkpoint) -> str:
    """The checkpoint's note text (C2SP tlog-checkpoint "Note text")."""
    if not cp.origin or "\n" in cp.origin:
        raise InvalidInput("checkpoint origin must be one non-empty line")
    if cp.size < 0 or len(cp.root) != 32:
        raise InvalidInput("checkpoint needs a size >= 0 and a 32-byte root hash")
    if any(not e or "\n" in e for e in cp.extensions):
        raise InvalidInput("checkpoint extension lines must be non-empty single lines")
    lines = [cp.origin, str(cp.size), base64.b64encode(cp.root).decode(), *cp.extensions]
    return "\n".join(lines) + "\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint note text (or a whole signed note) without checking signatures."""
    if "\n\n" in text:
        text, _ = split_note(text)
    if not text.endswith("\n"):
        raise VerificationError("malformed checkpoint: no final newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise VerificationError("malformed checkpoint: expected origin, size and root lines")
    origin, size, root, *ext = lines
    if not origin:
        raise VerificationError("malformed checkpoint: empty origin line")
    if not _DECIMAL.fullmatch(size):
        raise VerificationError(f"malformed checkpoint: size {size!r} is not a decimal")
    try:
        raw = _b64decode(root, "checkpoint root")
    except InvalidInput as exc:
        raise VerificationError(f"malformed checkpoint: {exc.message}") from exc
    if len(raw) != 32:
        raise VerificationError(f"malformed checkpoint: root has {len(raw)} bytes, expected 32")
    if any(not e for e in ext):
        raise VerificationError("malformed checkpoint: empty extension line")
    return Checkpoint(origin, int(size), raw, tuple(ext))


def sign_checkpoint(cp: Checkpoint, skey: str) -> str:
    """The checkpoint as a note signed by the log's key (whose name should be the origin)."""
    return sign_note(format_checkpoint(cp), [skey])


def cosign_checkpoint(checkpoint: str, skey: str, *, timestamp: int) -> str:
    """A C2SP cosignature/v1 line (ending in ``\\n``) by ``skey`` over ``checkpoint``.

    ``checkpoint`` is the note text or the signed note; the witness must already have
    checked it (log signature, consistency) — this only signs.
    """
    text = split_note(checkpoint)[0] if "\n\n" in checkpoint else checkpoint
    parse_checkpoint(text)
    if not 0 <= timestamp < 1 << 63:
        raise InvalidInput("cosignature timestamp must be in [0, 2^63)")
    s = _parse_skey(skey)
    sig = s.private.sign(_cosigned_message(text, timestamp))
    kid = key_id(s.name, COSIGNATURE_V1, s.public)
    return NoteSignature(s.name, kid, timestamp.to_bytes(8, "big") + sig).line()


def verify_cosignature(checkpoint: str, line: str, vkey: str) -> int:
    """Verify one cosignature line over ``checkpoint`` by ``vkey``; return its timestamp."""
    v = _parse_vkey(vkey)
    if v.type != COSIGNATURE_V1:
        v = _parse_vkey(cosignature_vkey(vkey))
    text = split_note(checkpoint)[0] if "\n\n" in checkpoint else checkpoint
    _, sigs = split_note(text + "\n" + (line if line.endswith("\n") else line + "\n"))
    if len(sigs) != 1:
        raise VerificationError(f"expected one cosignature line, got {len(sigs)}")
    (sig,) = sigs
    if (sig.name, sig.key_id) != (v.name, v.id):
        raise VerificationError(f"cosignature is not by key {v.name}+{v.id.hex()}")
    ts = _check(v, text, sig).timestamp
    assert ts is not None
    return ts


# --- tlog-proof --------------------------------------------------------------------------


@dataclass(frozen=True)
class TlogProof:
    """A C2SP tlog-proof: entry index, inclusion proof, signed checkpoint, extra data."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint: str
    extra: bytes | None = None


def format_tlog_proof(proof: TlogProof) -> str:
    """Encode a tlog-proof (C2SP tlog-proof "Format")."""
    lines = [_TLOG_PROOF_HEADER]
    if proof.extra is not None:
        lines.append("extra " + base64.b64encode(proof.extra).decode())
    lines.append(f"index {proof.index}")
    lines += [base64.b64encode(h).decode() for h in proof.proof]
    return "\n".join(lines) + "\n\n" + proof.checkpoint


def parse_tlog_proof(text: str) -> TlogProof:
    """Decode a tlog-proof; the embedded checkpoint is returned verbatim, unverified."""
    head, sep, checkpoint = text.partition("\n\n")
    if not sep:
        raise VerificationError("malformed tlog-proof: no empty line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != _TLOG_PROOF_HEADER:
        raise VerificationError(f"malformed tlog-proof: first line must be {_TLOG_PROOF_HEADER}")
    pos, extra = 1, None
    if len(lines) > 1 and lines[1].startswith("extra "):
        try:
            extra = _b64decode(lines[1][6:], "tlog-proof extra data")
        except InvalidInput as exc:
            raise VerificationError(f"malformed tlog-proof: {exc.message}") from exc
        pos = 2
    if len(lines) <= pos or not lines[pos].startswith("index "):
        raise VerificationError("malformed tlog-proof: missing index line")
    index = lines[pos][6:]
    if not _DECIMAL.fullmatch(index):
        raise VerificationError(f"malformed tlog-proof: index {index!r} is not a decimal")
    hashes = []
    for i, line in enumerate(lines[pos + 1 :]):
        try:
            h = _b64decode(line, f"tlog-proof hash {i}")
        except InvalidInput as exc:
            raise VerificationError(f"malformed tlog-proof: {exc.message}") from exc
        hashes.append(h)
    return TlogProof(int(index), tuple(hashes), checkpoint, extra)


def verify_tlog_proof(
    text: str,
    *,
    data: bytes,
    log_vkey: str,
    witness_vkeys: Sequence[str] = (),
    quorum: int = 0,
) -> TlogProof:
    """Verify an offline proof that ``data`` is logged: log signature, witness quorum,
    inclusion (C2SP tlog-proof "Verifying"). Raises ``VerificationError`` naming the check.
    """
    proof = parse_tlog_proof(text)
    log = _parse_vkey(log_vkey)
    note = open_note(proof.checkpoint, [log_vkey])
    cp = parse_checkpoint(note.text)
    if cp.origin != log.name:
        raise VerificationError(f"checkpoint origin {cp.origin!r} is not the log {log.name!r}")
    if quorum:
        cosigners = {s.name for s in verified_cosignatures(proof.checkpoint, witness_vkeys)}
        if len(cosigners) < quorum:
            raise VerificationError(
                f"checkpoint quorum not met: {len(cosigners)} of {quorum} witnesses cosigned"
            )
    try:
        verify_inclusion(
            index=proof.index,
            size=cp.size,
            leaf_hash=_leaf_hash(data),
            proof=proof.proof,
            root=cp.root,
        )
    except AuditLogInconsistent as exc:
        raise AuditLogInconsistent(f"entry {proof.index}: {exc.message}") from exc
    return proof


def verified_cosignatures(note: str, witness_vkeys: Sequence[str]) -> list[NoteSignature]:
    """Cosignatures by the given witnesses that verify; a bad one by a known key raises."""
    keys = [
        k if _parse_vkey(k).type == COSIGNATURE_V1 else cosignature_vkey(k) for k in witness_vkeys
    ]
    return [s for s in _open(note, keys).signatures if s.timestamp is not None]
