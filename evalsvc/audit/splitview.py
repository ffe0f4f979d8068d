"""Split-view evidence a third party can check (docs/audit.md "Split views"). Pure.

A venue's mirror (:mod:`evalsvc.venues.verify`) detects a split view in several ways;
only one of them is *transferable* — provable to someone who trusts neither the venue nor
the primary: two checkpoints of one log, of the same size, both signed by the log's key,
with different roots (``fork``). The log key signed two histories; no one but its holder
could have made them. The other kinds (entries that do not re-derive a cosigned root, a
streamed event its entry contradicts) rest on bytes the log never signed: the venue keeps
them, but they prove nothing to anyone else.

:func:`check_fork` validates such evidence against the log's origin and key — what the
primary's route does before it records the ``alert.raised`` event of rule ``split_view``
(:func:`alert_payload`), and what ``audit verify`` does with the evidence a venue's own
bundle carries (:func:`bundle_check`). Messages are Chinese, then English.
"""

from __future__ import annotations

__all__ = [
    "ALERT_EVENT",
    "EVIDENCE_FILE",
    "SPLIT_VIEW",
    "Fork",
    "alert_payload",
    "alert_summary",
    "bundle_check",
    "check_fork",
    "same_fork",
]

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evalsvc.audit.note import open_note, parse_checkpoint
from evalsvc.errors import EvalsvcError, InvalidInput

ALERT_EVENT = "alert.raised"
SPLIT_VIEW = "split_view"
EVIDENCE_FILE = "split_view.json"  # in a venue's bundle (evalsvc venue export)
_NOTE_MAX = 8192  # a checkpoint with a few dozen cosignatures is well under this


@dataclass(frozen=True)
class Fork:
    """Two log-signed checkpoints of one size with different roots."""

    origin: str
    size: int
    trusted: str  # the note the venue trusted (cosigned, or by its witnesses' quorum)
    served: str  # the note the primary served it
    trusted_root: bytes
    served_root: bytes


def _note(evidence: Mapping[str, Any], name: str, *, origin: str, log_vkey: str) -> Any:
    text = evidence.get(name)
    if not isinstance(text, str) or not text or len(text) > _NOTE_MAX:
        raise InvalidInput(f"evidence/{name}：须为日志签名的检查点文本 / must be a signed "
                           "checkpoint note (text)", field=f"evidence/{name}")
    try:
        open_note(text, [log_vkey])
        cp = parse_checkpoint(text)
    except EvalsvcError as exc:
        raise InvalidInput(f"evidence/{name}：检查点的日志签名不成立 / the checkpoint is not "
                           f"signed by this log's key: {exc.message}",
                           field=f"evidence/{name}") from exc
    if cp.origin != origin:
        raise InvalidInput(f"evidence/{name}：检查点属于另一日志 / the checkpoint is of log "
                           f"{cp.origin[:80]!r}, not {origin!r}", field=f"evidence/{name}")
    return cp


def check_fork(evidence: Any, *, origin: str, log_vkey: str) -> Fork:
    """The fork ``evidence`` (``{"kind": "fork", "trusted": note, "served": note}``)
    proves, checked against the log ``origin`` and its key; ``InvalidInput`` naming the
    field when it proves nothing (a bad signature, another log, consistent checkpoints)."""
    if not isinstance(evidence, Mapping):
        raise InvalidInput("evidence：分叉证据须为对象 {kind, trusted, served} / expected "
                           "an object", field="evidence")
    if evidence.get("kind") != "fork":
        raise InvalidInput("evidence/kind：只接受 fork（两个日志签名的检查点）；其他分叉证据"
                           "未经日志签名，留在副场本地 / only fork evidence (two log-signed "
                           "checkpoints) can be checked by a third party",
                           field="evidence/kind")
    trusted = _note(evidence, "trusted", origin=origin, log_vkey=log_vkey)
    served = _note(evidence, "served", origin=origin, log_vkey=log_vkey)
    if trusted.size != served.size:
        raise InvalidInput(f"evidence/served：两个检查点大小不同（{trusted.size} 与 "
                           f"{served.size}），不构成分叉证据 / checkpoints of different sizes "
                           "prove no fork by themselves", field="evidence/served")
    if trusted.root == served.root:
        raise InvalidInput("evidence/served：两个检查点一致，不构成分叉证据 / the two "
                           "checkpoints agree: no fork", field="evidence/served")
    return Fork(origin, trusted.size, evidence["trusted"], evidence["served"],
                trusted.root, served.root)


def alert_payload(fork: Fork, *, venue_id: str, venue_name: str) -> dict[str, Any]:
    """The ``alert.raised`` payload of a checked fork, reported by ``venue_id``'s agent
    (the shape of a pattern alert, docs/alerts.md, with the venue and the checkpoints)."""
    return {
        "rule": SPLIT_VIEW,
        "title": "审计日志分叉视图",
        "source": "docs/audit.md 分叉视图（Split views）",
        "venue_id": venue_id,
        "venue_name": venue_name,
        "subject": {"venues": [venue_id]},
        "evidence": {
            "kind": "fork",
            "origin": fork.origin,
            "size": fork.size,
            "roots": [fork.trusted_root.hex(), fork.served_root.hex()],
            "trusted": fork.trusted,
            "served": fork.served,
        },
    }


def same_fork(payload: Mapping[str, Any], fork: Fork) -> bool:
    """Whether the ``alert.raised`` ``payload`` records ``fork`` already: the same size
    and the same two roots (in either order: another venue may have trusted the other
    history), whoever reported it."""
    evidence = payload.get("evidence")
    if payload.get("rule") != SPLIT_VIEW or not isinstance(evidence, Mapping):
        return False
    roots = evidence.get("roots")
    return (evidence.get("size") == fork.size and isinstance(roots, list)
            and sorted(map(str, roots)) == sorted([fork.trusted_root.hex(),
                                                   fork.served_root.hex()]))


def alert_summary(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded split-view alert in the shape of a pattern alert (``{rule, point,
    title, source, subject, evidence}``, docs/alerts.md), for ``GET …/alerts``: the
    evidence summed up — the venue, the log, the size and the two roots; the signed
    checkpoints themselves stay in the event (and the bundle)."""
    evidence = payload.get("evidence")
    ev = evidence if isinstance(evidence, Mapping) else {}
    return {
        "rule": SPLIT_VIEW,
        "point": SPLIT_VIEW,
        "title": payload.get("title") or "审计日志分叉视图",
        "source": payload.get("source") or "docs/audit.md 分叉视图（Split views）",
        "subject": payload.get("subject") or {},
        "evidence": {
            "kind": ev.get("kind"),
            "venue_id": payload.get("venue_id"),
            "venue_name": payload.get("venue_name"),
            "origin": ev.get("origin"),
            "size": ev.get("size"),
            "roots": ev.get("roots"),
        },
    }


def bundle_check(doc: Any, *, origin: str | None, log_vkey: str | None) -> tuple[bool, str]:
    """The ``split_view`` check of a venue's bundle holding its evidence file: never
    ok (the venue saw a split view); the detail shows the two checkpoints when the log
    key signed both, and says what the evidence rests on otherwise."""
    kind = doc.get("kind") if isinstance(doc, Mapping) else None
    evidence = doc.get("evidence") if isinstance(doc, Mapping) else None
    detected = f"副场 {doc.get('venue')} " if isinstance(doc, Mapping) else ""
    if kind == "fork" and origin is not None and log_vkey is not None:
        try:
            f = check_fork({"kind": "fork", **dict(evidence or {})}, origin=origin,
                           log_vkey=log_vkey)
        except InvalidInput as exc:
            return False, (f"{detected}记录的分叉证据不成立 / the split-view evidence does "
                           f"not verify: {exc.message}")
        return False, (f"分叉视图：日志密钥签署了两个大小均为 {f.size} 而根哈希不同的检查点 / "
                       f"split view: the log key signed two checkpoints of size {f.size}: "
                       f"trusted root {f.trusted_root.hex()} (cosigned), served root "
                       f"{f.served_root.hex()} (shown to {doc.get('venue')})")
    detail = doc.get("detail") if isinstance(doc, Mapping) else None
    return False, (f"{detected}发现分叉视图（{kind}），证据未经日志签名，仅为该副场所见 / "
                   f"split view ({kind}) seen by this venue; its evidence is not signed by "
                   f"the log: {str(detail)[:200]}")
