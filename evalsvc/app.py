"""``create_app(settings)``: the one place that wires the application."""

from __future__ import annotations

__all__ = ["create_app"]

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from evalsvc import __version__
from evalsvc.audit.routes import AUDIT
from evalsvc.audit.routes import ROUTES as AUDIT_ROUTES
from evalsvc.audit.service import AuditService
from evalsvc.auth import ROLES, TokenVerifier
from evalsvc.config import RulesSettings, Settings
from evalsvc.db import Database
from evalsvc.errors import ConfigError, Unavailable
from evalsvc.experts.routes import DRAWS
from evalsvc.experts.routes import ROUTES as DRAW_ROUTES
from evalsvc.httpkit import (
    HANDLER_ARGS,
    PRINCIPAL_SECRET,
    TOKENS,
    Route,
    answer_parser_errors_as_problems,
    authenticated,
    error_middleware,
    guarded,
    json_response,
    security_headers,
    shape,
)
from evalsvc.keys import load_or_create_secret
from evalsvc.openapi import openapi_document
from evalsvc.pki.routes import ROUTES as PKI_ROUTES
from evalsvc.pki.routes import certificate_middleware
from evalsvc.report.pdf import FONT_FILE
from evalsvc.report.routes import REPORTS
from evalsvc.report.routes import ROUTES as REPORT_ROUTES
from evalsvc.report.service import ReportService
from evalsvc.schema import ensure_schema
from evalsvc.sessions.bus import LocalBus
from evalsvc.sessions.handover import HandoverRules
from evalsvc.sessions.hub import Hub, load_or_create_epoch
from evalsvc.sessions.model import FaultRules, ScoringRules, Session
from evalsvc.sessions.pledge import DEFAULT_PLEDGE_TEXT, Pledge, pledge_of
from evalsvc.sessions.routes import ROUTES as SESSION_ROUTES
from evalsvc.sessions.routes import SESSIONS
from evalsvc.sessions.service import QUORUM, SessionService
from evalsvc.sessions.store.writes import Extra
from evalsvc.sessions.uow import UnitOfWork
from evalsvc.sessions.ws import HUB
from evalsvc.sessions.ws import ROUTES as WS_ROUTES
from evalsvc.typedefs import DB, ROUTES, SCHEDULER, SETTINGS

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent / "web"


async def healthz(request: web.Request) -> web.Response:
    db = request.app[DB]
    try:
        await db.read(lambda c: c.execute(sa.text("SELECT 1")).scalar())
    except Exception as exc:
        raise Unavailable("the database does not answer") from exc
    return json_response(
        {
            "status": "ok",
            "version": __version__,
            "database": "sqlite" if db.sqlite else "postgresql",
        }
    )


async def get_openapi(request: web.Request) -> web.Response:
    routes: tuple[Route, ...] = request.app[ROUTES]
    return json_response(openapi_document(routes))


async def whoami(request: web.Request) -> web.Response:
    p = authenticated(request)
    me: dict[str, Any] = {"role": p.role, "subject": p.subject, "name": p.name, "venue": p.venue}
    if p.scope is not None:
        me["scope"] = list(p.scope)  # a supervisor bound to these sessions or tenders
    return json_response(me)


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_DIR / "index.html")


CORE_ROUTES: list[Route] = [
    Route(
        "GET",
        "/healthz",
        healthz,
        "Liveness and database check",
        errors=((503, "the database does not answer"),),
        tag="system",
    ),
    Route("GET", "/api/openapi.json", get_openapi, "This OpenAPI 3.1 document", tag="system"),
    Route(
        "GET",
        "/api/me",
        whoami,
        "Who the bearer token says you are",
        roles=ROLES,
        response=shape(
            {
                "role": {"enum": list(ROLES)},
                "subject": "string",
                "name": "string",
                "venue": ["string", "null"],
            },
            {"scope": {"type": ["array", "null"], "items": {"type": "string"}}},
        ),
        tag="system",
    ),
]


def _load_pledge(settings: Settings) -> Pledge:
    """The configured pledge text ([rules] pledge_file), or the built-in one."""
    r = settings.rules
    if not r.pledge_file:
        return pledge_of(DEFAULT_PLEDGE_TEXT, r.pledge_version)
    path = settings.resolve(r.pledge_file)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"rules.pledge_file: cannot read {path}: {exc}") from exc
    if not text.strip():
        raise ConfigError(f"rules.pledge_file: {path} is empty")
    return pledge_of(text, r.pledge_version)


def _clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _new_session_id() -> str:
    return "s-" + secrets.token_hex(6)


def create_app(settings: Settings) -> web.Application:
    """The aiohttp application for ``settings`` (database opened on startup)."""
    answer_parser_errors_as_problems()
    app = web.Application(
        client_max_size=settings.server.max_body_bytes,
        middlewares=[error_middleware, certificate_middleware],
        handler_args=HANDLER_ARGS,
    )
    app.on_response_prepare.append(security_headers)
    app[SETTINGS] = settings
    routes = (
        *CORE_ROUTES,
        *SESSION_ROUTES,
        *REPORT_ROUTES,
        *DRAW_ROUTES,
        *AUDIT_ROUTES,
        *WS_ROUTES,
        *PKI_ROUTES,
    )
    app[ROUTES] = routes
    for r in routes:
        # Each route's roles are enforced from the declaration the OpenAPI document states.
        app.router.add_route(r.method, r.path, guarded(r), name=r.handler.__name__)
    app.router.add_get("/", index, name="index")
    # Before /static/: the report's font for report.html on a machine without a CJK font.
    app.router.add_static("/static/report-fonts/", FONT_FILE.parent, name="report_fonts")
    app.router.add_static("/static/", WEB_DIR, name="static")
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_scheduler)
    app.cleanup_ctx.append(_pki)
    app.cleanup_ctx.append(_draws)
    app.cleanup_ctx.append(_handovers)
    app.cleanup_ctx.append(_faults)
    app.cleanup_ctx.append(_hub)
    app.cleanup_ctx.append(_revocations)
    app.cleanup_ctx.append(_witnesses)
    app.on_shutdown.append(_say_going_away)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    loop = asyncio.get_running_loop()
    app[PRINCIPAL_SECRET] = await loop.run_in_executor(
        None, load_or_create_secret, settings.resolve(settings.auth.token_secret_file)
    )
    # The app's own token cache and deny list (no process-wide state: STYLE.md).
    app[TOKENS] = TokenVerifier(app[PRINCIPAL_SECRET])
    db = Database(settings.database)
    try:
        await loop.run_in_executor(None, ensure_schema, db.engine)
    except BaseException:
        db.close()
        raise
    app[DB] = db
    master = await loop.run_in_executor(
        None, load_or_create_secret, settings.resolve(settings.audit.key_file)
    )
    audit = AuditService(db, master=master, log_name=settings.audit.log_name)
    app[AUDIT] = audit
    s = settings.scoring
    uow = UnitOfWork(
        db, bus=LocalBus(), clock_ms=_clock_ms, milestone=audit.milestone, grown=audit.mark_dirty
    )
    app[SESSIONS] = SessionService(
        uow,
        new_id=_new_session_id,
        defaults=ScoringRules(
            step=s.step,
            deviation_share=s.deviation_share,
            drop_extremes=s.drop_extremes,
            price_formula=s.price_formula,
        ),
        report_candidates=settings.report.candidates,
        alerts=settings.alerts,
        pledge=await loop.run_in_executor(None, _load_pledge, settings),
        sign_within=settings.rules.sign_deadline_minutes * 60,
        exclude_tenderer=settings.rules.leader_excludes_tenderer_representative,
        handover=HandoverRules(
            items=settings.rules.handover_items,
            days=settings.rules.handover_days,
            holidays=settings.rules.holidays,
            workdays=settings.rules.workdays,
        ),
        faults=fault_rules(settings.rules),
    )
    app[REPORTS] = ReportService(app[SESSIONS])
    try:
        yield
    finally:
        await loop.run_in_executor(None, db.close)


async def _scheduler(app: web.Application) -> AsyncIterator[None]:
    """Time-driven work: checkpoints every interval (and jobs other features add)."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    scheduler = AsyncIOScheduler(timezone="UTC")
    audit = app[AUDIT]
    await audit.catch_up()
    scheduler.add_job(
        audit.sign_pending,
        "interval",
        seconds=app[SETTINGS].audit.checkpoint_interval_seconds,
        id="audit-checkpoints",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    app[SCHEDULER] = scheduler
    try:
        yield
    finally:
        scheduler.shutdown(wait=False)


async def _pki(app: web.Application) -> AsyncIterator[None]:
    """Regional trust stores and CRLs (evalsvc.pki.service): certificate login, sheet
    signatures; CRLs refreshed by the scheduler; SIGHUP reloads the trust stores."""
    import logging
    import signal

    from evalsvc.pki.routes import PKI, SERVER_SSL
    from evalsvc.pki.service import PkiService
    from evalsvc.pki.tls import load_anchors

    settings = app[SETTINGS]
    service = app[SESSIONS]
    pki = PkiService(
        service.uow,
        settings.pki,
        token_secret=app[PRINCIPAL_SECRET],
        clock=lambda: dt.datetime.now(dt.UTC),
        trust_dir=settings.resolve(settings.pki.trust_dir),
    )
    server_ssl = app.get(SERVER_SSL)
    if server_ssl is not None:
        # HTTPS (`evalsvc serve` with [server] tls_cert): the anchors OpenSSL checks client
        # certificates against come from the trust stores, at start and on every reload.
        pki.on_loaded.append(functools.partial(load_anchors, server_ssl))
    await pki.start()
    app[PKI] = pki
    service.sheet_signatures = pki.sheet_signature
    service.report_signatures = functools.partial(pki.document_signature, what="report")
    app[SCHEDULER].add_job(
        pki.refresh_crls,
        "interval",
        minutes=settings.pki.crl_refresh_minutes,
        id="pki-crl-refresh",
        max_instances=1,
        coalesce=True,
    )
    reloads: set[asyncio.Task[object]] = set()

    async def reload_on_signal() -> None:
        try:
            await pki.reload(actor="system:sighup")
        except Exception:
            logging.getLogger(__name__).exception("trust reload on SIGHUP failed")

    def on_sighup() -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(reload_on_signal())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, on_sighup)
        handled = True
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread / Windows
        handled = False
    try:
        yield
    finally:
        if handled:
            loop.remove_signal_handler(signal.SIGHUP)


def _now_of(uow: Any) -> Callable[[], dt.datetime]:
    """The unit of work's clock as a datetime, read at each call: deadlines compare
    with the clock the writes take theirs from."""
    return lambda: dt.datetime.fromtimestamp(uow.clock_ms() / 1000, dt.UTC)


async def _draws(app: web.Application) -> AsyncIterator[None]:
    """The draw service; its deadlines run on the app's scheduler. On start, deadlines
    that passed while the server was down are handled, the others rescheduled."""
    from evalsvc.experts.scheduler import DrawDeadlines
    from evalsvc.experts.service import DrawService

    uow = app[SESSIONS].uow  # (its clock, read at each call: the one the writes use)
    service = DrawService(uow, floors=app[SETTINGS].draw)
    deadlines = DrawDeadlines(
        app[SCHEDULER], service.tick,
        clock=_now_of(uow))
    service.schedule = deadlines.at
    app[DRAWS] = service
    # A recusal at check-in calls the vacated seat's next alternate (补抽).
    app[SESSIONS].recusal = service.recusal_followup
    app[SESSIONS].after_recusal = service.reschedule
    # A committee re-formed by rule opens its replacement draw (补抽, a fresh seed).
    app[SESSIONS].reform = service.reform_followup
    app[SESSIONS].reform_needs = service.reform_needs
    await deadlines.recover(await service.pending())
    yield


async def _handovers(app: web.Application) -> AsyncIterator[None]:
    """The handover deadlines (交接) on the app's scheduler. On start, alerts whose
    deadline passed while the server was down are raised, the others rescheduled."""
    from evalsvc.sessions.deadlines import HandoverDeadlines

    service = app[SESSIONS]
    uow = service.uow  # (its clock, read at each call: the one the writes use)
    deadlines = HandoverDeadlines(
        app[SCHEDULER], service.handover_tick,
        clock=_now_of(uow))
    service.schedule_handover = deadlines.at
    await deadlines.recover(await service.handover_pending())
    yield


def fault_rules(rules: RulesSettings) -> FaultRules:
    """The venue-link rules of ``[rules]`` in whole seconds, with their configured values."""
    names = ("link_lost_pause_minutes", "resume_deadline_minutes", "suspend_after_minutes")
    minutes = [getattr(rules, n) for n in names]
    pause, resume, suspend = (int((x * 60).to_integral_value()) for x in minutes)
    return FaultRules(pause, resume, suspend,
                      tuple((n, str(x)) for n, x in zip(names, minutes, strict=True)))


async def _faults(app: web.Application) -> AsyncIterator[None]:
    """The venue-link rules' deadlines (docs/scoring.md "Faults by rule") on the app's
    scheduler. On start, steps due while the server was down are taken, the others
    rescheduled."""
    from evalsvc.sessions.deadlines import FaultDeadlines

    service = app[SESSIONS]
    uow = service.uow
    deadlines = FaultDeadlines(
        app[SCHEDULER], service.fault_tick,
        clock=_now_of(uow))
    service.schedule_fault = deadlines.at
    await deadlines.recover(await service.fault_pending())
    yield


async def _hub(app: web.Application) -> AsyncIterator[None]:
    """The WebSocket hub, woken by the service's bus; on PostgreSQL also by the other
    instances' NOTIFYs (evalsvc.sessions.pgnotify), with presence shared between the
    instances (evalsvc.sessions.pgpresence), both on one LISTEN connection
    (evalsvc.pg_listen)."""
    db = app[DB]
    service = app[SESSIONS]
    rt = app[SETTINGS].realtime
    hub = Hub(
        db,
        epoch=await db.write(load_or_create_epoch),
        queue_size=rt.queue_frames,
        send_timeout_s=rt.send_timeout_seconds,
        close_timeout_s=rt.close_timeout_seconds,
        notsent_lowat=rt.tcp_notsent_lowat,
        docs=service.uow.docs,
    )
    service.bus.add_listener(hub.on_commit)
    app[HUB] = hub
    # A venue's link that went is recorded lost only if it is still gone after the grace
    # ([rules] link_lost_grace_seconds: a reload, a reconnect is not a loss), from the
    # moment it went; one that comes back is recorded restored. Per (session, venue) the
    # steps run in the order heard, each after the one before.
    grace = float(app[SETTINGS].rules.link_lost_grace_seconds)
    last_step: dict[tuple[str, str], asyncio.Task[None]] = {}

    async def still_down(session_id: str, venue_id: str) -> bool:
        feed = hub.feeds.get(session_id)
        if feed is not None:
            return venue_id not in feed.venues_up
        shared = presence
        if shared is None:
            return True
        # Nobody here follows the session (just started): the other instances may.
        there = await db.read(lambda c: shared.read(c, [session_id]))
        return not any(x.venue == venue_id and x.role in ("operator", "expert")
                       for x in there.get(session_id, {}).values())

    def venue_link(session_id: str, venue_id: str, up: bool) -> None:
        key = (session_id, venue_id)
        before = last_step.get(key)
        went_ms = service.uow.clock_ms()

        async def step() -> None:
            if before is not None:
                await asyncio.wait([before])
            try:
                if not up:
                    await asyncio.sleep(grace)
                    if not await still_down(session_id, venue_id):
                        return  # back within the grace: no loss
                await service.venue_link(session_id, venue_id, up, at_ms=went_ms)
            except Exception:
                log.exception("recording venue %s's link (%s) on session %s failed",
                              venue_id, "up" if up else "lost", session_id)

        task = asyncio.get_running_loop().create_task(step())
        last_step[key] = task

        def done(t: asyncio.Task[None]) -> None:
            if last_step.get(key) is t:
                del last_step[key]

        task.add_done_callback(done)

    hub.on_venue_link = venue_link
    listener = None
    fanout = None
    presence = None
    if not db.sqlite:
        from evalsvc.pg_listen import PgListener
        from evalsvc.sessions.pgnotify import PgFanout
        from evalsvc.sessions.pgpresence import PgPresence

        url = app[SETTINGS].database.url
        listener = PgListener(url)
        presence = PgPresence(
            url,
            hub,
            listener,
            heartbeat_s=rt.presence_heartbeat_seconds,
            ttl_s=rt.presence_ttl_seconds,
        )
        await presence.start()
        hub.cluster = presence
        fanout = PgFanout(url, service.bus, hub, listener)
        fanout.start()
        listener.start()
    # A venue whose link was up when the server stopped is, to this process, one whose
    # link just went: back within the grace (here or, scaled out, on another instance),
    # nothing happened; not back, it is lost since the start, and the rules run from
    # there (docs/scoring.md "Faults by rule").
    for session_id, venue_id in await service.links_to_watch():
        venue_link(session_id, venue_id, False)
    try:
        yield
    finally:
        if listener is not None:
            await listener.stop()
        if fanout is not None:
            await fanout.stop()
        if presence is not None:
            await presence.stop()
        for pending in list(last_step.values()):
            pending.cancel()  # (a link lost within the grace of a shutdown: not recorded)
        await hub.close()


async def _revocations(app: web.Application) -> AsyncIterator[None]:
    """The token deny list (evalsvc.tokens): read in full before the first request, then
    what was added, every ``[auth] revocation_refresh_ms``; the open WebSockets of a
    newly revoked token are closed."""
    from evalsvc.tokens import Revocations

    hub = app[HUB]
    revocations = Revocations(
        app[DB],
        app[TOKENS],
        refresh_s=app[SETTINGS].auth.revocation_refresh_ms / 1000,
        on_revoked=hub.revoke,
    )
    await revocations.refresh()
    task = asyncio.create_task(revocations.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _witnesses(app: web.Application) -> AsyncIterator[None]:
    """Secondary venues as witnesses: milestone checkpoints are sent to each configured
    venue over its agent's link (evalsvc.audit.witnessing); a retry job collects the
    missing cosignatures, and the session service holds the next step until the quorum
    has cosigned."""
    from evalsvc.audit.witnessing import WitnessCollector
    from evalsvc.sessions.witness_link import WitnessLink
    from evalsvc.sessions.ws import WITNESS_LINK

    cfg = app[SETTINGS].audit
    if not cfg.witness_keys:
        yield
        return
    link = WitnessLink(app[HUB])
    app[WITNESS_LINK] = link
    collector = WitnessCollector(
        app[DB], witness_keys=cfg.witness_keys, quorum=cfg.quorum, transport=link.ask
    )
    service = app[SESSIONS]

    def shortfall(conn: sa.Connection, s: Session) -> str | None:
        return collector.shortfall(conn, s.id, [v.id for v in s.venues if not v.primary])

    # Commands past a milestone read the quorum under the session's lock (QUORUM).
    service.uow.register(QUORUM, Extra(load=shortfall))
    audit = app[AUDIT]
    # After a restart, any session may still owe cosignatures: look at each once.
    pending: set[str] = set(
        await app[DB].read(
            lambda c: [str(r[0]) for r in c.exec_driver_sql("SELECT id FROM session")]
        )
    )

    async def collect() -> None:
        pending.update(audit.milestones_signed)
        audit.milestones_signed.clear()
        for sid in sorted(pending):
            session = await app[DB].read(functools.partial(_load, session_id=sid))
            venues = [v.id for v in session.venues if not v.primary]
            have = await collector.collect(sid, venues)
            if have >= collector.needed(collector.witnesses_for(venues)):
                pending.discard(sid)

    app[SCHEDULER].add_job(
        collect, "interval", seconds=cfg.witness_retry_seconds, id="audit-witnesses",
        max_instances=1, coalesce=True,
    )
    yield


def _load(conn: sa.Connection, *, session_id: str) -> Session:
    from evalsvc.sessions import store

    return store.load_session(conn, session_id)[0]


async def _say_going_away(app: web.Application) -> None:
    if HUB in app:
        app[HUB].shutdown()
