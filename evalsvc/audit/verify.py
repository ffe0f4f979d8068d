"""Offline verification of an audit bundle (see :mod:`evalsvc.audit.bundle`).

Needs only the standard library, ``cryptography`` and the pure audit modules, so a
supervisor can run it far from the server that wrote the log, and trusts nothing in
the bundle but what the trusted keys sign. Checks, each named in a failure:

``policy``          the policy file reads, and names the log key
``format``          files are well formed (entries end in a newline, notes parse, ...)
``log-signature``   every checkpoint is signed by the log key, for the policy's origin
``cosignature``     every cosignature by a policy witness verifies (C2SP tlog-cosignature)
``fork``            no two signed checkpoints have one size and different roots
``consistency``     successive checkpoints are consistent (RFC 9162 §2.1.4.2)
``entries-count``   the latest checkpoint covers exactly the bundled entries
``root``            the entries re-derive every checkpoint's root (RFC 6962 §2.1)
``entry``           an entry differs from its logged leaf hash (edited, moved, deleted)
``quorum``          every milestone checkpoint (or, without any, the latest) is cosigned
                    by at least ``quorum`` witnesses
``tlog-proof``      bundled single-entry proofs verify (C2SP tlog-proof)

Forks and inconsistent checkpoints come with both signed checkpoints as evidence.
"""

from __future__ import annotations

__all__ = ["Failure", "Report", "verify_bundle", "verify_loaded"]

import base64
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evalsvc.audit.bundle import Bundle, Policy, parse_policy, read_bundle, unsafe_files
from evalsvc.audit.leaf import leaf_of_entry
from evalsvc.audit.merkle import leaf_hash, node_hash, verify_consistency
from evalsvc.audit.note import (
    Checkpoint,
    cosignature_vkey,
    open_note,
    parse_checkpoint,
    parse_tlog_proof,
    verified_cosignatures,
    verify_tlog_proof,
)
from evalsvc.errors import EvalsvcError, VerificationError

_Fail = Callable[["Failure"], None]
_MAX_LISTED = 5  # entry failures listed one by one before summarising


@dataclass(frozen=True)
class Failure:
    """One failed check: which check, on what (entry, checkpoint, file), and why."""

    check: str
    subject: str
    message: str
    evidence: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"[{self.check}] {self.subject}: {self.message}"


@dataclass(frozen=True)
class Report:
    """The verifier's result; ``ok`` when no check failed."""

    failures: tuple[Failure, ...]
    entries: int
    checkpoints: int
    latest_size: int | None
    cosigners: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return not self.failures

    def summary(self) -> str:
        """A human-readable account: the summary, notes, failures and evidence."""
        lines = [
            f"{'OK' if self.ok else 'FAILED'}: {self.entries} entries, "
            f"{self.checkpoints} signed checkpoints, latest size {self.latest_size}, "
            f"cosigned by {len(self.cosigners)} witnesses"
            + (f" ({', '.join(self.cosigners)})" if self.cosigners else "")
        ]
        lines += [f"note: {n}" for n in self.notes]
        for f in self.failures:
            lines.append(f"FAIL {f}")
            for i, ev in enumerate(f.evidence, 1):
                lines.append(f"  evidence {i}:")
                lines += ["    " + ln for ln in ev.rstrip("\n").split("\n")]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Signed:
    source: str
    note: str
    cp: Checkpoint


def _roots_at(hashes: Sequence[bytes], sizes: set[int]) -> dict[int, bytes]:
    """Roots of the prefixes of ``hashes`` at ``sizes``, in one compact-range pass."""
    out: dict[int, bytes] = {}
    if 0 in sizes:
        out[0] = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    stack: list[tuple[int, bytes]] = []
    for n, h in enumerate(hashes, 1):
        size, cur = 1, h
        while stack and stack[-1][0] == size:
            left_size, left = stack.pop()
            cur = node_hash(left, cur)
            size += left_size
        stack.append((size, cur))
        if n in sizes:
            root = stack[-1][1]
            for _, left in reversed(stack[:-1]):
                root = node_hash(left, root)
            out[n] = root
    return out


def verify_bundle(
    directory: Path,
    *,
    trusted_policy: str | None = None,
    extra_checkpoints: Sequence[tuple[str, str]] = (),
) -> Report:
    """Verify the bundle in ``directory``.

    ``trusted_policy`` is the text of a policy file the supervisor trusts; without it
    the bundle's own ``policy`` is used (and the report says so). ``extra_checkpoints``
    are ``(name, signed note)`` pairs obtained elsewhere, e.g. from a venue witness:
    they must agree with the bundle (same size → same root; not beyond its entries).
    """
    if directory.is_dir() and (unsafe := unsafe_files(directory)):
        return Report(tuple(Failure("format", name, why) for name, why in unsafe), 0, 0, None,
                      ())
    try:
        bundle = read_bundle(directory)
    except (EvalsvcError, OSError, ValueError) as exc:
        message = exc.message if isinstance(exc, EvalsvcError) else str(exc)
        return Report((Failure("format", str(directory), message),), 0, 0, None, ())
    return verify_loaded(bundle, trusted_policy=trusted_policy, extra_checkpoints=extra_checkpoints)


def verify_loaded(
    bundle: Bundle,
    *,
    trusted_policy: str | None = None,
    extra_checkpoints: Sequence[tuple[str, str]] = (),
) -> Report:
    """Verify an already-read bundle (see :func:`verify_bundle`)."""
    failures: list[Failure] = []
    notes: list[str] = []
    fail = failures.append

    # -- policy ---------------------------------------------------------------------------
    if trusted_policy is not None:
        policy_text = trusted_policy
    elif bundle.policy_text is not None:
        policy_text = bundle.policy_text
        notes.append(
            "keys and quorum come from the bundle's own policy file; pass --trusted-keys "
            "to check against keys you trust independently"
        )
    else:
        fail(Failure("policy", "policy", "bundle has no policy file and none was given"))
        return Report(tuple(failures), len(bundle.entries), 0, None, ())
    try:
        policy = parse_policy(policy_text)
        for key in (policy.log_vkey, *policy.witness_vkeys):
            cosignature_vkey(key)  # parses the key: a malformed one is a policy failure
    except EvalsvcError as exc:
        fail(Failure("policy", "policy", exc.message))
        return Report(tuple(failures), len(bundle.entries), 0, None, ())
    if trusted_policy is not None and bundle.policy_text is not None:
        try:
            if parse_policy(bundle.policy_text) != policy:
                notes.append("the bundle's policy file differs from the trusted keys (ignored)")
        except EvalsvcError:
            notes.append("the bundle's policy file is unreadable (ignored)")

    # -- entries --------------------------------------------------------------------------
    entries = bundle.entries
    if not bundle.entries_complete:
        fail(Failure("format", "entries", "the entries file does not end with a newline"))
    # Format 2 entries commit through their field digests (audit/leaf.py).
    computed = [leaf_hash(leaf_of_entry(e)) for e in entries]
    declared = bundle.meta.get("entries")
    if isinstance(declared, int) and declared != len(entries):
        fail(
            Failure(
                "entries-count",
                "entries",
                f"bundle.json lists {declared} entries but the entries file has {len(entries)}",
            )
        )

    # -- checkpoints: signatures, origin, cosignatures --------------------------------------
    signed: list[_Signed] = []
    cosigners_of: dict[int, set[str]] = {}
    sources = [(f"checkpoint {name}", text) for name, text in bundle.checkpoints.items()]
    sources += [(f"checkpoint {name} (given)", text) for name, text in extra_checkpoints]
    for source, text in sources:
        s = _check_checkpoint(source, text, policy, fail)
        if s is None:
            continue
        signed.append(s)
        try:
            names = {c.name for c in verified_cosignatures(text, policy.witness_vkeys)}
        except EvalsvcError as exc:
            fail(Failure("cosignature", f"{source} (size {s.cp.size})", exc.message))
            names = set()
        cosigners_of.setdefault(s.cp.size, set()).update(names)

    # Single-entry proofs carry checkpoints too: they join the fork check.
    proof_items: list[tuple[str, int, str]] = []
    for name, text in bundle.proofs.items():
        try:
            p = parse_tlog_proof(text)
        except VerificationError as exc:
            fail(Failure("format", f"proof {name}", exc.message))
            continue
        s = _check_checkpoint(f"checkpoint in proof {name}", p.checkpoint, policy, fail)
        if s is not None:
            signed.append(s)
        proof_items.append((name, p.index, text))

    # -- forks ------------------------------------------------------------------------------
    by_size: dict[int, dict[bytes, _Signed]] = {}
    for s in signed:
        by_size.setdefault(s.cp.size, {}).setdefault(s.cp.root, s)
    for size, roots in sorted(by_size.items()):
        if len(roots) > 1:
            a, b = list(roots.values())[:2]
            fail(
                Failure(
                    "fork",
                    f"size {size}",
                    f"two signed checkpoints of size {size} with different roots "
                    f"({a.source} and {b.source}): the log forked",
                    (a.note, b.note),
                )
            )

    sizes = sorted(by_size)
    latest = sizes[-1] if sizes else None
    roots_from_entries = _roots_at(computed, {s for s in sizes if s <= len(entries)})

    # -- consistency between successive checkpoints -------------------------------------------
    for old, new in itertools.pairwise(sizes):
        a = next(iter(by_size[old].values()))
        b = next(iter(by_size[new].values()))
        proof = bundle.consistency.get(f"{old}-{new}")
        if proof is not None:
            try:
                verify_consistency(
                    old_size=old, new_size=new, old_root=a.cp.root, new_root=b.cp.root, proof=proof
                )
                continue
            except VerificationError as exc:
                reason = f"consistency proof {old}-{new} fails: {exc.message}"
        else:
            reason = f"no consistency proof {old}-{new} in the bundle"
        derived_ok = (
            roots_from_entries.get(old) == a.cp.root and roots_from_entries.get(new) == b.cp.root
        )
        if proof is None and derived_ok:
            continue  # both roots re-derive from one list of entries: consistent
        fail(
            Failure(
                "consistency",
                f"checkpoints {old} and {new}",
                reason + "; the two signed checkpoints are not shown to be consistent",
                (a.note, b.note),
            )
        )

    # -- coverage and roots -----------------------------------------------------------------
    if latest is None:
        fail(Failure("log-signature", "checkpoints", "no checkpoint signed by the log key"))
    elif latest > len(entries):
        fail(
            Failure(
                "entries-count",
                "entries",
                f"a signed checkpoint covers {latest} entries but the bundle has "
                f"{len(entries)}: entries were removed (truncated bundle)",
            )
        )
    elif latest < len(entries):
        fail(
            Failure(
                "entries-count",
                f"entries {latest}..{len(entries) - 1}",
                f"not covered by any signed checkpoint (latest covers {latest}): "
                "entries were added, or a checkpoint was rolled back",
            )
        )
    bad_root = False
    good_below = 0
    for size in sizes:
        if size > len(entries):
            continue
        want = {s.cp.root for s in by_size[size].values()}
        if roots_from_entries[size] in want:
            good_below = size
            continue
        bad_root = True
        fail(
            Failure(
                "root",
                f"checkpoint of size {size}",
                f"the entries [{good_below}, {size}) do not re-derive the signed root "
                f"{base64.b64encode(next(iter(want))).decode()}",
            )
        )
    if bad_root or (latest is not None and latest != len(entries)):
        _locate_entries(bundle, computed, by_size, fail)

    # -- quorum ------------------------------------------------------------------------------
    # Milestone checkpoints (an "evalsvc-milestone" extension line) are the ones the
    # venues must cosign; without any, the latest checkpoint is held to the quorum.
    milestones = [
        size
        for size in sizes
        if any(
            e.startswith("evalsvc-milestone ")
            for sig in by_size[size].values()
            for e in sig.cp.extensions
        )
    ]
    cosigners: tuple[str, ...] = ()
    if latest is not None:
        cosigners = tuple(sorted(cosigners_of.get(latest, set())))
    for size in milestones or ([latest] if latest is not None else []):
        have = len(cosigners_of.get(size, set()))
        if have < policy.quorum:
            kind = "milestone checkpoint" if milestones else "checkpoint"
            fail(
                Failure(
                    "quorum",
                    f"{kind} of size {size}",
                    f"cosigned by {have} of the {policy.quorum} witnesses required",
                )
            )

    # -- single-entry proofs -----------------------------------------------------------------
    for name, index, text in proof_items:
        if index >= len(entries):
            fail(Failure("tlog-proof", f"proof {name}", f"entry {index} is not in the bundle"))
            continue
        try:
            verify_tlog_proof(text, data=leaf_of_entry(entries[index]), log_vkey=policy.log_vkey)
        except EvalsvcError as exc:
            fail(Failure("tlog-proof", f"proof {name} (entry {index})", exc.message))

    distinct = len({(s.cp.size, s.cp.root) for s in signed})
    return Report(tuple(failures), len(entries), distinct, latest, cosigners, tuple(notes))


def _check_checkpoint(source: str, text: str, policy: Policy, fail: _Fail) -> _Signed | None:
    try:
        note = open_note(text, [policy.log_vkey])
    except EvalsvcError as exc:
        fail(Failure("log-signature", source, exc.message))
        return None
    try:
        cp = parse_checkpoint(note.text)
    except VerificationError as exc:
        fail(Failure("format", source, exc.message))
        return None
    if cp.origin != policy.origin:
        fail(Failure("log-signature", source, f"origin {cp.origin!r} is not {policy.origin!r}"))
        return None
    return _Signed(source, text, cp)


def _locate_entries(
    bundle: Bundle,
    computed: list[bytes],
    by_size: dict[int, dict[bytes, _Signed]],
    fail: _Fail,
) -> None:
    """Name the entries that differ, using ``leaf-hashes`` once it matches the signatures."""
    listed = bundle.leaf_hashes
    if listed is None:
        return
    sizes = [s for s in sorted(by_size) if s <= len(listed)]
    roots = _roots_at(listed, set(sizes))
    if not sizes or any(roots[s] not in by_size[s] for s in sizes):
        # leaf-hashes was altered too; the root failures above already say where.
        return
    wrong = [i for i in range(min(len(listed), len(computed))) if listed[i] != computed[i]]
    # Entries missing at the end (or extra ones) differ from the logged list too.
    wrong += range(min(len(listed), len(computed)), max(len(listed), len(computed)))
    for i in wrong[:_MAX_LISTED]:
        fail(
            Failure(
                "entry",
                f"entry {i} (line {i + 1})",
                "its content does not match the logged leaf hash (edited, reordered, "
                "deleted or inserted)",
            )
        )
    if len(wrong) > _MAX_LISTED:
        fail(
            Failure(
                "entry",
                f"entries {wrong[_MAX_LISTED]}..{wrong[-1]}",
                f"{len(wrong) - _MAX_LISTED} more entries differ from their logged leaf hashes",
            )
        )
