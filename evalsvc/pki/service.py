"""Certificate login, signed sheets and trust reloads: the I/O around the pure pki core.

:class:`PkiService` holds the current :class:`~evalsvc.pki.trust.TrustConfig` and
:class:`~evalsvc.pki.crlcache.CrlCache` (both replaced as a whole on reload, so a
validation in flight never sees half a reload), stores login challenges single-use in
the database, and writes every login and every trust reload into the audit log of the
sessions concerned (an event + its audit leaf, in one transaction: a unit of work,
:mod:`evalsvc.sessions.uow`).

Mapping a certificate to a person (docs/pki.md "Certificate login over HTTP"):

- an **expert** holds a seat of the session whose ``expert_id`` is the certificate's
  canonical identity key (``person:<resident ID number>``), or the id of the pool record
  (``expert`` table) with that resident ID number;
- an **operator**'s identity key is mapped to a venue by ``[pki] operator_venues``; the
  venue must take part in the session;
- a **venue agent** (:mod:`evalsvc.pki.agents`) is its venue's organisation certificate,
  mapped by ``[pki] venue_agents``: presented over mutual TLS (:meth:`PkiService.venue_agent`)
  or signed over a session-less ``venue-agent`` challenge (SM2-only venues); it yields a
  read-only operator principal of that venue.
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
import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import secrets
import time
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
from evalsvc.pki.agents import VenueAgentAuth, parse_venue_agents, venue_agent_principal
from evalsvc.pki.challenge import (
    Challenge,
    LoginProof,
    make_challenge,
    parse_presented_chain,
    verify_challenge_response,
    verify_document_signature,
)
from evalsvc.pki.crlcache import CrlCache, RefreshReport
from evalsvc.pki.revocation import RevocationMode, chain_crls
from evalsvc.pki.sm2 import spki_of_certificate
from evalsvc.pki.tables import LoginChallengeRow, SignerCertificateRow, SigningCrlRow
from evalsvc.pki.trust import TrustConfig, load_trust
from evalsvc.pki.validate import Usage, validate
from evalsvc.sessions import store
from evalsvc.sessions.machine import Event
from evalsvc.sessions.model import Session, State
from evalsvc.sessions.transitions import Change, Snapshot, Transition
from evalsvc.sessions.uow import UnitOfWork

log = logging.getLogger(__name__)

_CHALLENGES = LoginChallengeRow.__table__  # type: ignore[attr-defined]
_CERTS = SignerCertificateRow.__table__  # type: ignore[attr-defined]
_CRLS = SigningCrlRow.__table__  # type: ignore[attr-defined]
_SIG_FIELDS = ("signature", "certificate")
# Unanswered challenges kept per session (and for venue agents, session "-"): a login
# takes one, so this is far above any committee, and bounds an unauthenticated flood.
MAX_OPEN_CHALLENGES = 256
# A venue agent's certificate, once validated, is trusted this long per (certificate, trust
# load) before it is validated again: discovery polls and reconnects stay cheap, and a
# revocation or a trust reload takes effect within this bound.
_AGENT_CACHE_S = 60.0


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
    seq: int | None  # the login event's sequence number in the session (None: venue agent)


@dataclass(frozen=True)
class _Loaded:
    trust: TrustConfig
    crls: CrlCache
    summary: dict[str, object]


class PkiService:
    """Trust stores, certificate login and sheet signatures over one database."""

    def __init__(
        self,
        uow: UnitOfWork,
        settings: PkiSettings,
        *,
        token_secret: bytes,
        clock: Callable[[], _dt.datetime],
        trust_dir: Path,
    ) -> None:
        self.uow = uow
        self.db = uow.db
        self.settings = settings
        self.token_secret = token_secret
        self.clock = clock
        self.trust_dir = trust_dir
        self.operator_venues = parse_operator_venues(settings.operator_venues)
        self.venue_agents = parse_venue_agents(settings.venue_agents)
        # Called with each newly loaded TrustConfig (start and reloads), e.g. to add the
        # anchors to the HTTPS server's context (evalsvc.pki.tls.load_anchors).
        self.on_loaded: list[Callable[[TrustConfig], object]] = []
        # certificate DER SHA-256 → (the load it was checked under, valid until, outcome)
        self._agents: dict[str, tuple[_Loaded, float, VenueAgentAuth | EvalsvcError]] = {}
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

    def _loaded_now(self, loaded: _Loaded) -> None:
        self._loaded, self.load_error = loaded, None
        for hook in self.on_loaded:
            try:
                hook(loaded.trust)
            except Exception:
                log.exception("trust-load hook %r failed", hook)

    async def start(self) -> None:
        """Load the trust stores; on failure certificate login answers 503 until a reload."""
        try:
            self._loaded_now(await asyncio.get_running_loop().run_in_executor(None, self._load))
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
        self._loaded_now(loaded)
        payload = {"trust_dir": str(self.trust_dir), "actor": actor, **loaded.summary}

        def decide(snap: Snapshot) -> Change:
            s = snap.locked
            # A sealed session's log takes no more leaves.
            events = () if s.state is State.SEALED else (Event("pki.trust_loaded", payload),)
            return Change(s, events, 200, {}, changed=False)

        # One unit of work per session, each under its row lock: concurrent reloads
        # (two instances, or SIGHUP during a reload) each append their event in turn.
        sessions = await self.db.read(store.list_sessions)
        touched = []
        for s, _ in sessions:
            if s.state is State.SEALED:
                continue
            t = Transition(s.id, actor, None, decide)
            try:
                outcome = await self.uow.commit(t)
            except NotFound:
                continue  # (removed meanwhile)
            if outcome.events:
                touched.append(s.id)
        log.info("trust stores reloaded by %s (%d sessions audited)", actor, len(touched))
        return {**loaded.summary, "sessions_audited": touched}

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
        """A fresh single-use challenge for ``data["session"]`` (``purpose`` ``login``) or
        for a venue agent (``venue-agent``, session-less), stored until it expires."""
        self.loaded  # noqa: B018 - 503 now rather than after the user has signed
        purpose = data.get("purpose", "login")
        if purpose == "venue-agent":
            # Session-less: a venue agent follows every session of its venue. The signed
            # document names session "-" (evalsvc.pki.challenge.Challenge).
            if not self.venue_agents:
                raise Forbidden("no venue agents are configured here ([pki] venue_agents)")
            for extra in sorted(set(data) - {"purpose"}):
                raise InvalidInput("unknown field (a venue-agent challenge has none)", field=extra)
            session_id = "-"
        elif purpose == "login":
            asked = data.get("session")
            if not isinstance(asked, str) or not asked:
                raise InvalidInput(
                    "session must be the id of an evaluation session", field="session"
                )
            session_id = asked
            for extra in sorted(set(data) - {"session", "purpose"}):
                raise InvalidInput("unknown field", field=extra)
        else:
            raise InvalidInput("purpose must be 'login' or 'venue-agent'", field="purpose")
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
            if session_id != "-":
                store.load_session(conn, session_id)  # 404 for an unknown session
            conn.execute(sa.delete(_CHALLENGES).where(_CHALLENGES.c.expires_ms < now_ms))
            # Asking needs no credentials: bound what a flood of requests can store.
            open_now = conn.execute(
                sa.select(sa.func.count())
                .select_from(_CHALLENGES)
                .where(_CHALLENGES.c.session_id == session_id)
            ).scalar_one()
            if open_now >= MAX_OPEN_CHALLENGES:
                raise Unavailable(
                    f"too many unanswered {purpose} challenges are open "
                    f"({MAX_OPEN_CHALLENGES}); retry when they expire "
                    f"(within {self.settings.challenge_ttl_seconds} s)"
                )
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
        for extra in sorted(set(data) - {"nonce", "certificate", "signature", "role", "venue"}):
            raise InvalidInput("unknown field", field=extra)
        role = data.get("role")
        if role not in (None, "expert", "operator"):
            raise InvalidInput("role must be expert or operator", field="role")
        venue = data.get("venue")
        if venue is not None and (not isinstance(venue, str) or not venue):
            raise InvalidInput("venue must be a venue id", field="venue")
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
        if challenge.purpose == "venue-agent":
            if role not in (None, "operator"):
                raise InvalidInput("a venue-agent login is an operator's", field="role")
            return self._venue_agent_login(challenge, leaf, chain, signature, venue)
        if venue is not None:
            raise InvalidInput("venue is only for a venue-agent challenge", field="venue")
        role = role or "expert"
        now = self.clock()
        try:
            proof = self._verify(loaded, challenge, leaf, chain, signature, now)
        except SignatureInvalid as exc:
            # At login a bad signature is a refused login (403), like a refused
            # certificate; on a document it stays 422 (docs/pki.md "Errors").
            raise Forbidden(f"login refused: {exc.message}") from exc
        identity = proof.identity
        key = key_sha256(leaf)
        session_id = challenge.session
        warnings = [str(w) for w in proof.validation.warnings]

        # One refusal for a holder with no seat, whether the session is sealed or not, or
        # holds the holder only as a designation not yet approved (access.can_see: the
        # proposed expert is not told the session exists).
        no_seat = Forbidden(f"the certificate's holder holds no seat in session {session_id}")

        def who(s: Session | None, pool_ids: frozenset[str]
                ) -> tuple[Principal, dict[str, Any]]:
            seat = None
            if role == "expert":
                seat = next(
                    (
                        x
                        for x in (s.seats if s is not None else ())
                        if x.expert_id is not None
                        and (x.expert_id == identity.key or x.expert_id in pool_ids)
                    ),
                    None,
                )
                if (s is None or seat is None or seat.expert_id is None
                        or seat.source in ("proposed", "requested")):
                    raise no_seat
            else:
                venue = self.operator_venues.get(identity.key)
                if venue is None:
                    raise Forbidden("the certificate's holder is not a configured operator"
                                    " (pki.operator_venues)")
                if s is None or all(v.id != venue for v in s.venues):
                    raise Forbidden(f"the certificate's holder's venue does not take part in"
                                    f" session {session_id}")
            if s.state is State.SEALED:
                # A sealed session's log takes no more leaves.
                raise Conflict(f"session {session_id} is sealed; there is nothing to log in to")
            if seat is not None and seat.expert_id is not None:
                p = Principal(
                    role="expert",
                    subject=seat.expert_id,
                    name=seat.expert_name or "",
                    venue=seat.venue_id,
                    key_sha256=key,
                )
                return p, {"seat": seat.index, "venue_id": seat.venue_id}
            digest = hashlib.sha256(identity.key.encode()).hexdigest()[:12]
            p = Principal(
                role="operator",
                subject=f"op-{venue}-{digest}",
                name=subject_cn(leaf),
                venue=venue,
                key_sha256=key,
            )
            return p, {"venue_id": venue}

        def read(conn: Connection) -> tuple[Principal, frozenset[str]]:
            pool_ids: frozenset[str] = frozenset()
            if role == "expert":
                rows = conn.execute(
                    sa.text("SELECT id FROM expert WHERE resident_id = :n"),
                    {"n": identity.number},
                )
                pool_ids = frozenset(str(r[0]) for r in rows)
            try:
                s: Session | None = store.load_session(conn, session_id, docs=self.uow.docs)[0]
            except NotFound:
                s = None
            return who(s, pool_ids)[0], pool_ids

        # Who the certificate names is read first (the event's actor); under the lock
        # the decision checks it still holds.
        p, pool_ids = await self.db.read(read)

        def decide(snap: Snapshot) -> Change:
            s = snap.locked
            now_p, detail = who(s, pool_ids)
            if now_p != p:
                raise Conflict(f"session {session_id} changed during the login: log in again")
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
            return Change(s, (event,), 200, {}, changed=False)

        outcome = await self.uow.commit(Transition(session_id, p.actor, p.venue, decide))
        seq = outcome.last_seq or 0
        now_s = int(now.timestamp())
        ttl = self.settings.login_ttl_minutes * 60
        token = self._token(p, key, now_s, ttl)
        return LoginResult(token, now_s + ttl, p, proof.validation.region, seq)

    def _token(
        self, p: Principal, key: str, now_s: int, ttl: int, *, read_only: bool = False
    ) -> str:
        """A bearer token for ``p``, bound to the certificate key it logged in with."""
        return issue_token(
            self.token_secret,
            role=p.role,
            subject=p.subject,
            name=p.name,
            venue=p.venue,
            now=now_s,
            ttl_seconds=ttl,
            nonce=secrets.token_hex(8),
            key_sha256=key,
            read_only=read_only,
        )

    def _verify(
        self,
        loaded: _Loaded,
        challenge: Challenge,
        leaf: x509.Certificate,
        chain: tuple[x509.Certificate, ...],
        signature: bytes,
        now: _dt.datetime,
    ) -> LoginProof:
        """The signed challenge checked against the current trust stores and CRLs."""
        return verify_challenge_response(
            challenge,
            certificate=leaf,
            signature=signature,
            trust=loaded.trust,
            at=now,
            intermediates=chain,
            crls=loaded.crls.crls,
            revocation=self.login_revocation,
        )

    def _venue_agent_login(
        self,
        challenge: Challenge,
        leaf: x509.Certificate,
        chain: tuple[x509.Certificate, ...],
        signature: bytes,
        venue: str | None,
    ) -> LoginResult:
        """A signed ``venue-agent`` challenge → a short-lived read-only operator token of
        the venue ``[pki] venue_agents`` maps the certificate's organisation to. Nothing is
        written to a session's log (the login names no session): it is logged."""
        loaded = self.loaded
        now = self.clock()
        try:
            proof = self._verify(loaded, challenge, leaf, chain, signature, now)
            key = key_sha256(leaf)
            p = venue_agent_principal(
                proof.validation,
                leaf,
                venue_agents=self.venue_agents,
                key_sha256=key,
                expected_venue=venue,
            )
        except SignatureInvalid as exc:
            log.warning("venue-agent login refused: %s", exc.message)
            raise Forbidden(f"login refused: {exc.message}") from exc
        except EvalsvcError as exc:
            log.warning("venue-agent login refused (%s): %s", exc.code, exc.message)
            raise
        for w in proof.validation.warnings:
            log.warning("venue agent %s: %s", p.subject, w)
        now_s = int(now.timestamp())
        ttl = self.settings.venue_agent_ttl_seconds
        token = self._token(p, key, now_s, ttl, read_only=True)
        log.info(
            "venue agent %s (%s, region %s, %s key %s) logged in by signed challenge as "
            "operator of %s, read-only, for %d s",
            p.subject,
            p.name,
            proof.validation.region,
            proof.validation.algorithm,
            key[:16],
            p.venue,
            ttl,
        )
        return LoginResult(token, now_s + ttl, p, proof.validation.region, None)

    async def venue_agent(self, leaf: x509.Certificate) -> VenueAgentAuth:
        """The venue agent a TLS client certificate authenticates, or the refusal.

        OpenSSL's handshake only checked the chain against the anchors; this validates
        ``leaf`` for ``Usage.VENUE_CLIENT`` (region, key usage, CRLs per
        ``login_revocation``) and maps its organisation through ``[pki] venue_agents``.
        Outcomes are kept :data:`_AGENT_CACHE_S` seconds per certificate and trust load;
        ``expires_at`` is ``venue_agent_ttl_seconds`` from now (at most the certificate's
        notAfter): a WebSocket authenticated by it is closed then and re-validated."""
        loaded = self.loaded
        der = leaf.public_bytes(serialization.Encoding.DER)
        digest = hashlib.sha256(der).hexdigest()
        hit = self._agents.get(digest)
        mono = time.monotonic()
        at = self.clock()
        not_after = int(leaf.not_valid_after_utc.timestamp())
        expires = min(not_after, int(at.timestamp()) + self.settings.venue_agent_ttl_seconds)
        if hit is not None and hit[0] is loaded and hit[1] > mono:
            if isinstance(hit[2], EvalsvcError):
                raise hit[2]
            return dataclasses.replace(hit[2], expires_at=expires)

        def check() -> VenueAgentAuth:
            result = validate(
                leaf,
                trust=loaded.trust,
                at=at,
                usage=Usage.VENUE_CLIENT,
                crls=loaded.crls.crls,
                revocation=self.login_revocation,
            )
            p = venue_agent_principal(
                result, leaf, venue_agents=self.venue_agents, key_sha256=key_sha256(leaf)
            )
            assert result.identity is not None  # venue_agent_principal refuses None
            return VenueAgentAuth(
                principal=p,
                expires_at=expires,
                region=result.region,
                identity_key=result.identity.key,
                warnings=tuple(str(w) for w in result.warnings),
            )

        outcome: VenueAgentAuth | EvalsvcError
        try:
            outcome = await asyncio.get_running_loop().run_in_executor(None, check)
        except EvalsvcError as exc:
            outcome = exc
            log.warning(
                "client certificate %s… refused for a venue agent (%s): %s",
                digest[:16],
                exc.code,
                exc.message,
            )
        else:
            log.info(
                "venue agent %s (%s, region %s) authenticated by client certificate %s… as "
                "operator of %s, read-only",
                outcome.principal.subject,
                outcome.principal.name,
                outcome.region,
                digest[:16],
                outcome.principal.venue,
            )
            for w in outcome.warnings:
                log.warning("venue agent %s: %s", outcome.principal.subject, w)
        if len(self._agents) > 1000:
            self._agents.clear()
        keep = min(_AGENT_CACHE_S, self.settings.venue_agent_ttl_seconds)
        self._agents[digest] = (loaded, mono + keep, outcome)
        if isinstance(outcome, EvalsvcError):
            raise outcome
        return outcome

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

        def check() -> tuple[str, str, dict[str, bytes]]:
            crls = (*loaded.trust.crls, *loaded.crls.crls)
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
            return result.region, result.algorithm, chain_crls(result.chain, crls)

        region, algorithm, used = await asyncio.get_running_loop().run_in_executor(None, check)
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
            # The CRLs in force, kept once each: a bundle checks the chain with them.
            known = {
                str(r[0]) for r in conn.execute(
                    sa.select(_CRLS.c.sha256).where(_CRLS.c.sha256.in_(sorted(used)))
                )
            }
            for sha, der in sorted(used.items()):
                if sha not in known:
                    conn.execute(sa.insert(_CRLS).values(sha256=sha, der=der, first_seen_ms=now_ms))

        await self.db.write(keep)
        record = {
            "value": base64.b64encode(signature).decode("ascii"),
            "certificate_sha256": cert_sha,
            "key_sha256": key,
            "region": region,
            "algorithm": algorithm,
            "crls": sorted(used),
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
