"""Helpers of the adversary tests: a ceremony driven party by party over HTTP."""

from __future__ import annotations

import asyncio
import datetime as _dt
from typing import Any

from conftest import Harness, draw_rules, drawing_session, import_pool

from evalsvc.experts.seed import commitment_digest

VENUES = ("sh-ggzy", "js-suzhou", "ah-hefei")
PARTIES = (*VENUES, "supervisor")


def token(api: Harness, party: str) -> str:
    return api.sup if party == "supervisor" else api.op(party)


def secret(party: str, ceremony: int, salt: int = 0) -> bytes:
    return bytes([PARTIES.index(party) + 1, ceremony, salt, 0]) * 8


async def open_ceremony(
    api: Harness, sid: str, *, commit_s: float = 1.0, reveal_s: float = 30.0, **body: Any
) -> tuple[int, Any]:
    now = _dt.datetime.now(_dt.UTC)
    doc = {"commit_deadline": (now + _dt.timedelta(seconds=commit_s)).isoformat(),
           "reveal_deadline": (now + _dt.timedelta(seconds=reveal_s)).isoformat(), **body}
    return await api.call("POST", f"/api/sessions/{sid}/draw", api.op(), json=doc)


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
    await asyncio.sleep(commit_s + 0.2)
    return n


async def session_with_pool(api: Harness, db_url: str, tmp_path: Any, count: int = 300,
                            doc: dict[str, Any] | None = None) -> str:
    """A session (``doc``, default :func:`session_doc`) in ``drawing`` with a pool."""
    import_pool(db_url, tmp_path, count=count)
    return await drawing_session(api, doc)


async def events_of(api: Harness, sid: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in await api.events(sid) if e["type"] == kind]


__all__ = ["PARTIES", "VENUES", "commit", "committed_ceremony", "draw_rules", "events_of",
           "open_ceremony", "reveal", "secret", "session_with_pool", "token"]


async def drawn_session(api: Harness, db_url: str, tmp_path: Any,
                        doc: dict[str, Any] | None = None) -> str:
    """A session whose first ceremony ran: every party committed and revealed."""
    sid = await session_with_pool(api, db_url, tmp_path, doc=doc)
    status, out = await open_ceremony(api, sid, commit_s=2.0, rules=draw_rules())
    assert status == 201, out
    for party in PARTIES:
        assert (await commit(api, sid, party, 1))[0] == 201
    await asyncio.sleep(2.2)
    for party in PARTIES:
        status, out = await reveal(api, sid, party, 1)
        assert status == 201, out
    return sid
