"""Non-interference of the draw for a secondary operator (docs/draw.md §6.6) and for the
site supervisor of that venue (现场监督, docs/api.md "Supervision by scope").

The same session runs twice — same session id, same secrets, same pool but for the
experts of Hefei — so that the draw seats different experts at Hefei and the same ones
everywhere else. Everything the Suzhou operator receives before the session starts (the
REST responses of the endpoints it may call, every WebSocket frame) must be identical
between the two runs, apart from the declared nonces:

- times: ``time_ms`` (``time`` in frames), ``at``, deadlines, ``now`` (the runs
  happen at different moments);
- the WebSocket ``epoch`` (a random id of each database);
- HTTP headers (``Date``) — only bodies are compared.

Nothing else differs, so nothing the operator sees depends on who was drawn at Hefei.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import session_doc

from evalsvc.config import Settings

from ._draw import first_ceremony, suspended_run

SID = "s-noninterfere"
TIME_KEYS = frozenset({"time_ms", "time", "at", "deadline", "commit_deadline", "reveal_deadline",
                       "now", "sent_at", "answered_at", "created_at"})
NONCE_KEYS = frozenset({"epoch"})
OBSERVER = "js-suzhou"


def _normal(doc: Any) -> Any:
    if isinstance(doc, dict) and doc.get("type") == "presence":
        # Who is connected is a set (the hub's connections): its order says nothing.
        doc = {**doc, "connected": sorted(doc.get("connected", []),
                                          key=lambda x: json.dumps(x, sort_keys=True))}
    if isinstance(doc, dict):
        return {k: ("<time>" if k in TIME_KEYS and v is not None else
                    "<nonce>" if k in NONCE_KEYS else _normal(v)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_normal(x) for x in doc]
    return doc


async def _ws_frames(client: Any, token: str, frames: list[Any], done: asyncio.Event) -> None:
    ws = await client.ws_connect(f"/ws/sessions/{SID}")
    await ws.send_str(json.dumps({"type": "auth", "token": token}))
    first = True
    while not done.is_set():
        try:
            msg = await ws.receive(timeout=0.2)
        except TimeoutError:
            continue
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        frames.append(json.loads(msg.data))
        if first:
            first = False
            await ws.send_str(json.dumps({"type": "hello", "epoch": None, "last_seq": 0}))
    await ws.close()


async def _run(aiohttp_client: Any, settings: Settings, tmp_path: Path, name: str,
               monkeypatch: pytest.MonkeyPatch, *, suspended: set[str]) -> dict[str, Any]:
    """One run; what the observer received, and the supervisor's view of the seats."""
    api = await suspended_run(aiohttp_client, settings, tmp_path, name, monkeypatch,
                              suspended=suspended, session_id=SID)
    sid, _ = await api.create(session_doc())
    assert sid == SID
    observers = {"operator": api.op(OBSERVER), "site supervisor": api.site_sup(OBSERVER)}
    frames: dict[str, list[Any]] = {who: [] for who in observers}
    done = asyncio.Event()
    watchers = []
    for who, tok in observers.items():
        # One after the other, each synced before the next joins: the presence frames
        # each receives of the other then come in one order in every run.
        watchers.append(asyncio.create_task(_ws_frames(api.client, tok, frames[who], done)))
        for _ in range(400):
            if any(f.get("type") == "synced" for f in frames[who]):
                break
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    assert (await api.command(sid, api.op(), "open_draw"))[0] == 200
    await first_ceremony(api, sid)  # the same secrets in both runs
    _, view = await api.call("GET", f"/api/sessions/{sid}/draw", api.sup)
    for seat in view["seats"]:  # each accepts, in seat order
        token = api.expert(seat["expert_id"], seat["venue_id"])
        status, out = await api.call("POST", f"/api/sessions/{sid}/invitation", token,
                                     json={"accept": True})
        assert status == 200, out
    _, s = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert s["state"] == "ready"
    rest = {}
    for who, observer in observers.items():
        for path in (f"/api/sessions/{sid}", f"/api/sessions/{sid}/events?limit=1000",
                     f"/api/sessions/{sid}/draw", "/api/sessions",
                     f"/api/sessions/{sid}/draw/bundle", "/api/experts", "/api/experts/pool",
                     f"/api/sessions/{sid}/progress", f"/api/sessions/{sid}/alerts"):
            rest[f"{who} {path}"] = await api.call("GET", path, observer)
    await asyncio.sleep(0.5)
    done.set()
    for w in watchers:
        await w
    return {"rest": rest, "frames": frames,
            "hefei": [x["expert_id"] for x in s["seats"] if x["venue_id"] == "ah-hefei"],
            "others": [x["expert_id"] for x in s["seats"] if x["venue_id"] != "ah-hefei"]}


async def test_who_is_drawn_at_another_venue_changes_no_byte_a_secondary_operator_gets(
    aiohttp_client: Any, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = await _run(aiohttp_client, settings, tmp_path, "one", monkeypatch, suspended=set())
    two = await _run(aiohttp_client, settings, tmp_path, "two", monkeypatch,
                     suspended=set(one["hefei"]))
    # The runs differ where they should: other members at Hefei, the same elsewhere.
    assert set(one["hefei"]).isdisjoint(two["hefei"]) and one["others"] == two["others"]
    assert all(len(f) > 20 for f in one["frames"].values())
    # The site supervisor does see its own venue's members by name.
    _, seen = one["rest"][f"site supervisor /api/sessions/{SID}"]
    assert {x["expert_id"] for x in seen["seats"] if x["venue_id"] == OBSERVER} - {None}
    for path, (status, body) in one["rest"].items():
        status2, body2 = two["rest"][path]
        assert status == status2, path
        if _normal(body) != _normal(body2) and isinstance(body, dict) and "events" in body:
            for a, b in zip(body["events"], body2["events"], strict=True):
                assert _normal(a) == _normal(b), (a, b)
        assert _normal(body) == _normal(body2), path
    for who in one["frames"]:
        assert [_normal(f) for f in one["frames"][who]] == [
            _normal(f) for f in two["frames"][who]], who
