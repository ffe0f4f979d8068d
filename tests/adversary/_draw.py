"""Helpers of the adversary tests: a ceremony driven party by party over HTTP."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from pathlib import Path
from typing import Any

import pytest
from conftest import Harness, draw_rules, drawing_session, import_pool

from evalsvc.config import Settings
from evalsvc.experts.seed import commitment_digest

VENUES = ("sh-ggzy", "js-suzhou", "ah-hefei")
PARTIES = (*VENUES, "supervisor")


def token(api: Harness, party: str) -> str:
    return api.sup if party == "supervisor" else api.op(party)


def secret(party: str, ceremony: int, salt: int = 0) -> bytes:
    return bytes([PARTIES.index(party) + 1, ceremony, salt, 0]) * 8


async def open_ceremony(
    api: Harness, sid: str, *, commit_s: float = 1.0, reveal_s: float = 30.0,
    exact: bool = False, **body: Any
) -> tuple[int, Any]:
    """Open a ceremony whose commitments close ``commit_s`` from now and reveals
    ``reveal_s``: stretched when the test can move the server's clock past them
    (:meth:`Harness.window`), unless ``exact`` (a test of the window itself)."""
    window = commit_s if exact else api.window(commit_s)
    commit_by = api.now() + _dt.timedelta(seconds=window)
    doc = {"commit_deadline": commit_by.isoformat(),
           "reveal_deadline": (commit_by + _dt.timedelta(seconds=reveal_s - commit_s))
           .isoformat(), **body}
    return await api.call("POST", f"/api/sessions/{sid}/draw", api.op(), json=doc)


async def pass_deadline(api: Harness, sid: str, which: str = "commit_deadline") -> None:
    """Past the last ceremony's ``commit_deadline`` or ``reveal_deadline``, and its
    deadline job run (:meth:`Harness.pass_deadline`)."""
    opened = (await events_of(api, sid, "draw.opened"))[-1]["payload"]
    await api.pass_deadline(_dt.datetime.fromisoformat(opened[which]), sid)


async def commit(api: Harness, sid: str, party: str, n: int, *, digest: str | None = None,
                 salt: int = 0) -> tuple[int, Any]:
    d = digest or commitment_digest(secret(party, n, salt), party=party,
                                    session_id=f"{sid}#{n}")
    return await api.call("POST", f"/api/sessions/{sid}/draw/commitments", token(api, party),
                          json={"digest": d})


async def reveal(api: Harness, sid: str, party: str, n: int, *, salt: int = 0,
                 ) -> tuple[int, Any]:
    return await api.call("POST", f"/api/sessions/{sid}/draw/reveals", token(api, party),
                          json={"secret": secret(party, n, salt).hex()})


async def committed_ceremony(api: Harness, sid: str, *, commit_s: float = 1.5,
                             **body: Any) -> int:
    """Open a ceremony, every party commits, wait for the reveal window; its number."""
    status, opened = await open_ceremony(api, sid, commit_s=commit_s, **body)
    assert status == 201, opened
    n = int(opened["ceremony"])
    for party in PARTIES:
        status, out = await commit(api, sid, party, n)
        assert status == 201, out
    await pass_deadline(api, sid)
    return n


async def session_with_pool(api: Harness, db_url: str, tmp_path: Any, count: int = 300,
                            doc: dict[str, Any] | None = None) -> str:
    """A session (``doc``, default :func:`session_doc`) in ``drawing`` with a pool."""
    import_pool(db_url, tmp_path, count=count)
    return await drawing_session(api, doc)


async def events_of(api: Harness, sid: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in await api.events(sid) if e["type"] == kind]


__all__ = ["PARTIES", "VENUES", "commit", "committed_ceremony", "draw_rules", "events_of",
           "first_ceremony", "open_ceremony", "pass_deadline", "reveal", "secret",
           "session_with_pool", "token"]


async def first_ceremony(api: Harness, sid: str) -> Any:
    """Ceremony 1 with :func:`draw_rules`: every party commits, the commitment deadline
    passes, every party reveals (the supervisor last; the secrets are the same in every
    run); the last reveal's answer."""
    status, out = await open_ceremony(api, sid, commit_s=2.0, rules=draw_rules())
    assert status == 201, out
    for party in PARTIES:
        assert (await commit(api, sid, party, 1))[0] == 201
    await pass_deadline(api, sid)
    for party in PARTIES:
        status, out = await reveal(api, sid, party, 1)
        assert status == 201, out
    return out


async def drawn_session(api: Harness, db_url: str, tmp_path: Any,
                        doc: dict[str, Any] | None = None) -> str:
    """A session whose first ceremony ran: every party committed and revealed."""
    sid = await session_with_pool(api, db_url, tmp_path, doc=doc)
    await first_ceremony(api, sid)
    return sid


async def suspended_run(aiohttp_client: Any, settings: Settings, tmp_path: Path, name: str,
                        monkeypatch: pytest.MonkeyPatch, *, suspended: set[str],
                        session_id: str) -> Harness:
    """A server over a fresh database named ``name`` with the test pool imported, the
    experts ``suspended`` suspended in it, and new sessions numbered ``session_id``: the
    second of two runs that differ only in who may be drawn (the non-interference
    tests)."""
    import evalsvc.app as app_module
    from evalsvc.app import create_app
    from evalsvc.experts.synth import synthetic_experts

    url = f"sqlite:///{tmp_path / name}.db"
    cfg = dataclasses.replace(settings, database=dataclasses.replace(settings.database,
                                                                      url=url))
    pool_dir = tmp_path / name
    pool_dir.mkdir()
    import_pool(url, pool_dir)
    if suspended:  # the second run: the experts first drawn at Hefei are suspended
        experts = [dataclasses.replace(e, status="suspended") for e in synthetic_experts(
            600, seed=7, as_of=_dt.date(2026, 11, 1)) if e.id in suspended]
        from sqlalchemy import create_engine

        from evalsvc.experts.store import import_experts

        engine = create_engine(url)
        with engine.begin() as conn:
            import_experts(conn, experts, now_ms=0)
        engine.dispose()
    monkeypatch.setattr(app_module, "_new_session_id", lambda: session_id)
    return Harness(await aiohttp_client(create_app(cfg)), cfg)
