"""Certificate login, signed sheets and trust reloads: the I/O around the pure pki core.

:class:`PkiService` holds the current :class:`~evalsvc.pki.trust.TrustConfig` and
:class:`~evalsvc.pki.crlcache.CrlCache` (both replaced as a whole on reload, so a
validation in flight never sees half a reload), stores login challenges single-use in
the database, and writes every login and every trust reload into the audit log of the
sessions concerned (an event + its audit leaf, in one transaction, through
:func:`evalsvc.sessions.store.record`).

Mapping a certificate to a person (docs/pki.md "Certificate login over HTTP"):

- an **expert** holds a seat of the session whose ``expert_id`` is the certificate's
  canonical identity key (``person:<resident ID number>``), or the id of the pool record
  (``expert`` table) with that resident ID number;
- an **operator**'s identity key is mapped to a venue by ``[pki] operator_venues``; the
  venue must take part in the session.
"""

from __future__ import annotations

__all__ = [
    "LoginResult",
    "PkiService",
    "key_sha256",
    "parse_operator_venues",
    "subject_cn",
]

import asyncio
import base64
import binascii
import datetime as _dt
import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.engine import Connection

from evalsvc.auth import Principal, issue_token
from evalsvc.canonical import canonical_bytes
from evalsvc.config import PkiSettings
from evalsvc.db import Database
from evalsvc.errors import (
    ConfigError,
    Conflict,
    EvalsvcError,
    Forbidden,
    InvalidInput,
    NotFound,
    SignatureInvalid,
    Unauthenticated,
    Unavailable,
)
from evalsvc.pki.challenge import (
    Challenge,
    make_challenge,
    parse_presented_chain,
    verify_challenge_response,
    verify_document_signature,
)
from evalsvc.pki.crlcache import CrlCache, RefreshReport
from evalsvc.pki.revocation import RevocationMode
from evalsvc.pki.sm2 import spki_of_certificate
from evalsvc.pki.tables import LoginChallengeRow, SignerCertificateRow
from evalsvc.pki.trust import TrustConfig, load_trust
from evalsvc.pki.validate import Usage, validate
from evalsvc.sessions import store
from evalsvc.sessions.machine import Event
from evalsvc.sessions.model import State

log = logging.getLogger(__name__)

_CHALLENGES = LoginChallengeRow.__table__  # type: ignore[attr-defined]
_CERTS = SignerCertificateRow.__table__  # type: ignore[attr-defined]
_SIG_FIELDS = ("signature", "certificate")


def parse_operator_venues(text: str) -> dict[str, str]:
    """``"person:ID=venue, ..."`` → {identity key: venue id}."""
    out: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, venue = item.partition("=")
        if not sep or not key.strip() or not venue.strip():
            raise ConfigError(
                f"pki.operator_venues: expected 'person:<ID number>=<venue id>', got {item!r}"
            )
        out[key.strip()] = venue.strip()
    return out


def key_sha256(cert: x509.Certificate) -> str:
    """SHA-256 (hex) of the certificate's SubjectPublicKeyInfo DER: the key, not the
    certificate, so a renewed certificate for the same key signs for the same login."""
    return hashlib.sha256(
        spki_of_certificate(cert.public_bytes(serialization.Encoding.DER))
    ).hexdigest()


def _b64decode(text: Any, field: str) -> bytes:
    if not isinstance(text, str) or not text:
        raise InvalidInput(f"{field} must be a base64 string", field=field)
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        pass
    try:  # base64url (no padding), as WebCrypto callers often send it
        return base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{field} is not valid base64", field=field) from exc


def _mode(value: str, where: str) -> RevocationMode:
    try:
        return RevocationMode(value)
    except ValueError:
        raise ConfigError(
            f"pki.{where}: expected one of {[m.value for m in RevocationMode]}, got {value!r}"
        ) from None


@dataclass(frozen=True)
class LoginResult:
    """What a successful certificate login answers."""

    token: str
    expires_at: int  # unix seconds
    principal: Principal
    region: str
    seq: int  # the login event's sequence number in the session


@dataclass(frozen=True)
class _Loaded:
    trust: TrustConfig
    crls: CrlCache
    summary: dict[str, object]


class PkiService:
    """Trust stores, certificate login and sheet signatures over one database."""

    def __init__(
        self,
        db: Database,
        settings: PkiSettings,
        *,
        token_secret: bytes,
        clock: Callable[[], _dt.datetime],
        trust_dir: Path,
        on_commit: Callable[[str, int], None],
    ) -> None:
        self.db = db
        self.settings = settings
        self.token_secret = token_secret
        self.clock = clock
        self.trust_dir = trust_dir
        self.on_commit = on_commit  # (session id, last seq) after each commit
        self.operator_venues = parse_operator_venues(settings.operator_venues)
        self.login_revocation = _mode(settings.login_revocation, "login_revocation")
        self.signing_revocation = _mode(settings.signing_revocation, "signing_revocation")
        self._loaded: _Loaded | None = None
        self.load_error: str | None = "not loaded yet"

    # --- trust ----------------------------------------------------------------------------

    def _load(self) -> _Loaded:
        trust = load_trust(self.trust_dir)
        cache = CrlCache.from_trust(trust, self.trust_dir)
        report = cache.refresh()
        for source, why in report.failed:
            log.warning("CRL source %s failed: %s", source, why)
        return _Loaded(trust, cache, trust.summary())

    async def start(self) -> None:
        """Load the trust stores; on failure certificate login answers 503 until a reload."""
        try:
            self._loaded = await asyncio.get_running_loop().run_in_executor(None, self._load)
            self.load_error = None
            log.info("trust stores loaded from %s", self.trust_dir)
        except (ConfigError, OSError, ValueError) as exc:
            self.load_error = exc.message if isinstance(exc, EvalsvcError) else str(exc)
            log.warning("certificate login unavailable: %s", self.load_error)

    @property
    def loaded(self) -> _Loaded:
        """The current trust stores, or 503 saying why there are none."""
        if self._loaded is None:
            raise Unavailable(
                f"certificate login is not available: trust stores in {self.trust_dir} "
                f"did not load ({self.load_error})"
            )
        return self._loaded

    async def reload(self, *, actor: str) -> dict[str, Any]:
        """Re-read the trust stores and CRLs, swap them in, and audit the load in every
        session not yet sealed. A failed load keeps the previous stores."""
        loop = asyncio.get_running_loop()
        try:
            loaded = await loop.run_in_executor(None, self._load)
        except (ConfigError, OSError, ValueError) as exc:
            reason = exc.message if isinstance(exc, EvalsvcError) else str(exc)
            raise Unavailable(f"trust reload failed, previous stores kept: {reason}") from exc
        self._loaded, self.load_error = loaded, None
        now_ms = int(self.clock().timestamp() * 1000)
        payload = {"trust_dir": str(self.trust_dir), "actor": actor, **loaded.summary}

        def tx(conn: Connection) -> list[tuple[str, int]]:
            touched = []
            for s, last in store.list_sessions(conn):
                if s.state is State.SEALED:
                    continue
                stored = store.record(
                    conn,
                    s,
                    [Event("pki.trust_loaded", payload)],
                    base_seq=last,
                    actor=actor,
                    venue=None,
                    now_ms=now_ms,
                    changed=False,
                )
                touched.append((s.id, stored[-1].seq))
            return touched

        touched = await self.db.write(tx)
        for sid, seq in touched:
            self.on_commit(sid, seq)
        log.info("trust stores reloaded by %s (%d sessions audited)", actor, len(touched))
        return {**loaded.summary, "sessions_audited": [sid for sid, _ in touched]}

    async def refresh_crls(self) -> RefreshReport | None:
        """Re-read every CRL source (the scheduler's job); None when nothing is loaded."""
        if self._loaded is None:
            return None
        report = await asyncio.get_running_loop().run_in_executor(None, self._loaded.crls.refresh)
        for source, why in report.failed:
            log.warning("CRL source %s failed (last good CRL kept): %s", source, why)
        return report

    # --- login ----------------------------------------------------------------------------

    async def challenge(self, data: Mapping[str, Any], *, origin: str) -> Challenge:
        """A fresh single-use challenge for ``data["session"]``, stored until it expires."""
        self.loaded  # noqa: B018 - 503 now rather than after the user has signed
        session_id = data.get("session")
        purpose = data.get("purpose", "login")
        if not isinstance(session_id, str) or not session_id:
            raise InvalidInput("session must be the id of an evaluation session", field="session")
        if purpose != "login":
            raise InvalidInput("purpose must be 'login' here", field="purpose")
        for extra in sorted(set(data) - {"session", "purpose"}):
            raise InvalidInput("unknown field", field=extra)
        now = self.clock()
        ch = make_challenge(
            nonce=secrets.token_bytes(32),
            session=session_id,
            purpose=purpose,
            audience=self.settings.audience or origin,
            issued_at=now,
            ttl=_dt.timedelta(seconds=self.settings.challenge_ttl_seconds),
        )
        now_ms = int(now.timestamp() * 1000)

        def tx(conn: Connection) -> None:
            store.load_session(conn, session_id)  # 404 for an unknown session
            conn.execute(sa.delete(_CHALLENGES).where(_CHALLENGES.c.expires_ms < now_ms))
            conn.execute(
                sa.insert(_CHALLENGES).values(
                    nonce=ch.nonce,
                    session_id=session_id,
                    doc=json.dumps(ch.to_json()),
                    expires_ms=int(ch.expires_at.timestamp() * 1000),
                )
            )

        await self.db.write(tx)
        return ch

    async def _consume(self, nonce: str) -> Challenge:
        def tx(conn: Connection) -> str | None:
            row = conn.execute(
                sa.select(_CHALLENGES.c.doc).where(_CHALLENGES.c.nonce == nonce)
            ).fetchone()
            if row is None:
                return None
            conn.execute(sa.delete(_CHALLENGES).where(_CHALLENGES.c.nonce == nonce))
            return str(row[0])

        doc = await self.db.write(tx)
        if doc is None:
            raise Unauthenticated("unknown or already used challenge: ask for a new one")
        return Challenge.from_json(json.loads(doc))

    async def login(self, data: Mapping[str, Any]) -> LoginResult:
        """Verify a signed challenge and issue a bearer token for the person it names."""
        loaded = self.loaded
        for extra in sorted(set(data) - {"nonce", "certificate", "signature", "role"}):
            raise InvalidInput("unknown field", field=extra)
        role = data.get("role", "expert")
        if role not in ("expert", "operator"):
            raise InvalidInput("role must be expert or operator", field="role")
        nonce = data.get("nonce")
        pem = data.get("certificate")
        if not isinstance(nonce, str) or not nonce:
            raise InvalidInput("nonce must be the challenge's nonce", field="nonce")
        if not isinstance(pem, str) or not pem:
            raise InvalidInput("certificate must be a PEM chain, leaf first", field="certificate")
        signature = _b64decode(data.get("signature"), "signature")
        leaf, chain = parse_presented_chain(pem.encode("utf-8"))
        # Single use: the challenge is gone from here on, whatever the outcome.
        challenge = await self._consume(nonce)
        now = self.clock()
        try:
            proof = verify_challenge_response(
                challenge,
                certificate=leaf,
                signature=signature,
                trust=loaded.trust,
                at=now,
                intermediates=chain,
                crls=loaded.crls.crls,
                revocation=self.login_revocation,
            )
        except SignatureInvalid as exc:
            # At login a bad signature is a refused login (403), like a refused
            # certificate; on a document it stays 422 (docs/pki.md "Errors").
            raise Forbidden(f"login refused: {exc.message}") from exc
        identity = proof.identity
        key = key_sha256(leaf)
        now_ms = int(now.timestamp() * 1000)
        session_id = challenge.session
        warnings = [str(w) for w in proof.validation.warnings]

        def tx(conn: Connection) -> tuple[Principal, int]:
            s, last = store.load_session(conn, session_id, for_update=True)
            if s.state is State.SEALED:
                # A sealed session's log takes no more leaves.
                raise Conflict(f"session {session_id} is sealed; there is nothing to log in to")
            if role == "expert":
                pool_ids = {
                    str(r[0])
                    for r in conn.execute(
                        sa.text("SELECT id FROM expert WHERE resident_id = :n"),
                        {"n": identity.number},
                    )
                }
                seat = next(
                    (
                        x
                        for x in s.seats
                        if x.expert_id is not None
                        and (x.expert_id == identity.key or x.expert_id in pool_ids)
                    ),
                    None,
                )
                if seat is None or seat.expert_id is None:
                    raise Forbidden(
                        f"the certificate's holder holds no seat in session {session_id}"
                    )
                p = Principal(
                    role="expert",
                    subject=seat.expert_id,
                    name=seat.expert_name or "",
                    venue=seat.venue_id,
                    key_sha256=key,
                )
                detail: dict[str, Any] = {"seat": seat.index, "venue_id": seat.venue_id}
            else:
                venue = self.operator_venues.get(identity.key)
                if venue is None:
                    raise Forbidden(
                        "the certificate's holder is not a configured operator "
                        "(pki.operator_venues)"
                    )
                if all(v.id != venue for v in s.venues):
                    raise Forbidden(f"venue {venue} does not take part in session {session_id}")
                digest = hashlib.sha256(identity.key.encode()).hexdigest()[:12]
                p = Principal(
                    role="operator",
                    subject=f"op-{venue}-{digest}",
                    name=subject_cn(leaf),
                    venue=venue,
                    key_sha256=key,
                )
                detail = {"venue_id": venue}
            event = Event(
                "auth.login",
                {
                    "role": role,
                    **detail,
                    "method": "certificate",
                    "region": proof.validation.region,
                    "algorithm": proof.validation.algorithm,
                    "key_sha256": key,
                    "revocation_warnings": warnings,
                },
            )
            stored = store.record(
                conn,
                s,
                [event],
                base_seq=last,
                actor=p.actor,
                venue=p.venue,
                now_ms=now_ms,
                changed=False,
            )
            return p, stored[-1].seq

        p, seq = await self.db.write(tx, key=session_id)
        self.on_commit(session_id, seq)
        now_s = int(now.timestamp())
        ttl = self.settings.login_ttl_minutes * 60
        token = issue_token(
            self.token_secret,
            role=p.role,
            subject=p.subject,
            name=p.name,
            venue=p.venue,
            now=now_s,
            ttl_seconds=ttl,
            nonce=secrets.token_hex(8),
            key_sha256=key,
        )
        return LoginResult(token, now_s + ttl, p, proof.validation.region, seq)

    # --- signed sheets --------------------------------------------------------------------

    async def sheet_signature(
        self, p: Principal, data: Any
    ) -> tuple[Any, bytes | None, dict[str, Any] | None]:
        """Strip and verify a sheet's ``signature``/``certificate``.

        Returns (the sheet without them, the signed canonical bytes, the record for the
        event payload) — (data, None, None) for an unsigned sheet of a token-only expert.
        An expert who logged in by certificate must sign, with that certificate's key.
        """
        if not isinstance(data, dict):
            return data, None, None
        sig_text, pem = data.get("signature"), data.get("certificate")
        sheet = {k: v for k, v in data.items() if k not in _SIG_FIELDS}
        signed = await self.document_signature(p, sheet, sig_text, pem, what="sheet")
        if signed is None:
            return data, None, None
        return sheet, signed[0], signed[1]

    async def document_signature(
        self, p: Principal, document: Any, sig_text: Any, pem: Any, *, what: str
    ) -> tuple[bytes, dict[str, Any]] | None:
        """Verify ``p``'s signature over the canonical bytes of ``document`` (a sheet, the
        final report) and keep the signer's chain: (the bytes signed, the record for the
        event payload), or None when nothing is signed and ``p`` need not sign."""
        if sig_text is None and pem is None:
            if p.key_sha256 is not None:
                raise SignatureInvalid(
                    f"you logged in with a certificate: the {what} must carry 'signature' "
                    "and 'certificate' (its canonical bytes signed with that key)"
                )
            return None
        if not isinstance(pem, str) or not pem:
            raise InvalidInput("certificate must be a PEM chain, leaf first", field="certificate")
        signature = _b64decode(sig_text, "signature")
        leaf, chain = parse_presented_chain(pem.encode("utf-8"))
        key = key_sha256(leaf)
        if p.key_sha256 is not None and key != p.key_sha256:
            raise SignatureInvalid(
                f"the {what} is signed with another key than the certificate you logged in with"
            )
        loaded = self.loaded
        signed = canonical_bytes(document)
        at = self.clock()

        def check() -> tuple[str, str]:
            result = validate(
                leaf,
                trust=loaded.trust,
                at=at,
                usage=Usage.SIGNING,
                intermediates=chain,
                crls=loaded.crls.crls,
                revocation=self.signing_revocation,
            )
            verify_document_signature(leaf, document, signature)
            return result.region, result.algorithm

        region, algorithm = await asyncio.get_running_loop().run_in_executor(None, check)
        cert_sha = hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest()
        chain_pem = "".join(
            c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in (leaf, *chain)
        )
        now_ms = int(at.timestamp() * 1000)

        def keep(conn: Connection) -> None:
            # Content-addressed: writing it before the sheet commits is harmless.
            seen = conn.execute(
                sa.select(_CERTS.c.sha256).where(_CERTS.c.sha256 == cert_sha)
            ).fetchone()
            if seen is None:
                conn.execute(
                    sa.insert(_CERTS).values(sha256=cert_sha, pem=chain_pem, first_seen_ms=now_ms)
                )

        await self.db.write(keep)
        record = {
            "value": base64.b64encode(signature).decode("ascii"),
            "certificate_sha256": cert_sha,
            "key_sha256": key,
            "region": region,
            "algorithm": algorithm,
        }
        return signed, record

    async def certificate(self, sha256: str) -> str:
        """The PEM chain kept for a signer certificate digest."""

        def tx(conn: Connection) -> str | None:
            row = conn.execute(sa.select(_CERTS.c.pem).where(_CERTS.c.sha256 == sha256)).fetchone()
            return None if row is None else str(row[0])

        pem = await self.db.read(tx)
        if pem is None:
            raise NotFound(f"no signer certificate with SHA-256 {sha256}")
        return pem


def subject_cn(cert: x509.Certificate) -> str:
    """The subject's commonName, or its full DN when it has none."""
    from cryptography.x509.oid import NameOID

    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else cert.subject.rfc4514_string()
