"""The session WebSocket as its users notice it: auth first, replay/snapshot, live events,
acks after commit, per-role views, presence, refusals that leave everyone else connected."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from conftest import Harness, scoring_sheet
from wshelp import WS, connect

from evalsvc.auth import Principal
from evalsvc.sessions import protocol
from evalsvc.sessions.hub import Connection


async def test_replay_then_live_events_and_ack_after_commit(api: Harness) -> None:
    sid, experts = await api.to_stage("scoring")
    events = await api.events(sid)
    sup, ok, replay, synced = await connect(api, sid, api.sup)
    assert [m["seq"] for m in replay] == [e["seq"] for e in events]
    assert synced["seq"] == ok["seq"] == events[-1]["seq"]
    seat, tok = experts[0]
    ex, *_ = await connect(api, sid, tok, last_seq=synced["seq"], epoch=ok["epoch"])
    await ex.send({"type": "submit", "id": "sheet-0001", "sheet": scoring_sheet()})
    _, ack = await ex.until("ack")
    assert ack["id"] == "sheet-0001" and ack["seq"] == synced["seq"] + 1
    assert ack["result"]["seat"] == seat and not ack["replayed"]
    # The event is in the table (ack only after commit) and reaches the supervisor.
    _, ev = await sup.until("event")
    assert ev["seq"] == ack["seq"] and ev["event"] == "sheet.submitted"
    assert ev["payload"]["commitment"] == ack["result"]["commitment"]
    assert (await api.events(sid))[-1]["seq"] == ack["seq"]
    # Same id, same body: the same answer, marked replayed, and no new event.
    await ex.send({"type": "submit", "id": "sheet-0001", "sheet": scoring_sheet()})
    _, again = await ex.until("ack")
    assert again["replayed"] and again["seq"] == ack["seq"]
    await ex.send({"type": "heartbeat", "seq": ack["seq"]})
    _, hb = await ex.until("heartbeat")
    assert hb["seq"] == ack["seq"]


async def test_resume_receives_exactly_the_missed_events_in_order(api: Harness) -> None:
    sid, experts = await api.to_stage("scoring")
    ws, ok, _, synced = await connect(api, sid, api.sup)
    n = synced["seq"]
    await ws.ws.close()
    for i, (_, tok) in enumerate(experts):
        status, _ = await api.submit(sid, tok, scoring_sheet(t1=str(30 + i)), key=f"resume-{i:04d}")
        assert status == 201
    top = (await api.events(sid))[-1]["seq"]
    _ws2, _, replay, synced2 = await connect(api, sid, api.sup, last_seq=n, epoch=ok["epoch"])
    assert [m["seq"] for m in replay] == list(range(n + 1, top + 1))
    assert all(m["type"] == "event" for m in replay) and synced2["seq"] == top


async def test_other_epoch_or_future_seq_gets_a_snapshot(api: Harness) -> None:
    sid, _ = await api.to_stage("scoring")
    for epoch, last in (("ep-restored-elsewhere", 3), (None, 5)):
        _ws, ok, before, synced = await connect(api, sid, api.sup, last_seq=last, epoch=epoch)
        assert [m["type"] for m in before] == ["snapshot"]
        snap = before[0]
        assert snap["reason"] == "epoch" and snap["epoch"] == ok["epoch"]
        assert snap["seq"] == synced["seq"] == snap["session"]["last_seq"]
        assert snap["session"]["state"] == "evaluating"
    # A client "ahead" of the database (restored from an older backup) is resynced too.
    _ws, _ok, before, _ = await connect(api, sid, api.sup, last_seq=10_000)
    assert before[0]["type"] == "snapshot" and before[0]["reason"] == "gap"


async def test_experts_never_see_other_experts_identities(api: Harness) -> None:
    sid, experts = await api.to_stage("scoring")
    (_, tok0), (_, tok1) = experts[0], experts[4]  # Shanghai seat 0, Suzhou seat
    watcher, ok, replay, _ = await connect(api, sid, tok1)
    assigned = [m for m in replay if m["event"] == "seat.assigned"]
    others = [m for m in assigned if m["payload"]["expert_id"] not in (None, "E-JS-2")]
    assert others == [], "an expert saw another expert's identity"
    submitter, *_ = await connect(api, sid, tok0, last_seq=ok["seq"], epoch=ok["epoch"])
    await submitter.send({"type": "submit", "id": "blind-0001", "sheet": scoring_sheet()})
    _, ev = await watcher.until("event")
    assert ev["event"] == "sheet.submitted" and ev["actor"] == "expert"
    assert set(ev["payload"]) == {"seat", "stage", "version", "commitment"}  # no scores


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "malformed_body"),
        (b"\x00\x01", "binary_not_supported"),
        (
            '{"type": "auth", "token": "x"' + " " * protocol.MAX_MESSAGE_BYTES + "}",
            "message_too_large",
        ),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "submit", "id": "short", "sheet": {}}', "invalid_input"),
        ('{"type": "auth", "token": "evs1.bad.token"}', "invalid_input"),
    ],
)
async def test_bad_frames_get_an_error_code_and_others_stay_connected(
    api: Harness, frame: str | bytes, code: str
) -> None:
    sid, _ = await api.to_stage("qualification")
    good, ok, _, _ = await connect(api, sid, api.sup)
    bad, *_ = await connect(api, sid, api.op())
    if isinstance(frame, bytes):
        await bad.ws.send_bytes(frame)
    else:
        await bad.ws.send_str(frame)
    _, err = await bad.until("error")
    assert err["code"] == code, err
    # The erring client and everyone else keep working.
    await bad.send({"type": "heartbeat", "seq": 0})
    _, hb = await bad.until("heartbeat")
    status, _ = await api.command(sid, api.op(), "pause", reason="test")
    assert status == 200
    _, ev = await good.until("event")
    assert ev["seq"] == ok["seq"] + 1 and hb["seq"] == ok["seq"]


async def test_nothing_is_accepted_before_auth(api: Harness) -> None:
    sid, _ = await api.to_stage("scoring")
    before = len(await api.events(sid))
    ws = WS(await api.client.ws_connect(f"/ws/sessions/{sid}"))
    await ws.send({"type": "submit", "id": "early-0001", "sheet": scoring_sheet()})
    err = await ws.recv()
    assert err["type"] == "error" and err["code"] == "unauthenticated" and err["id"] == "early-0001"
    bye = await ws.recv()
    assert bye["type"] == "bye"
    msg = await ws.ws.receive()
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4401
    assert len(await api.events(sid)) == before  # nothing was run
    # A bad token and an unknown session are refused the same clear way.
    for path, token, code in (
        (f"/ws/sessions/{sid}", "evs1.e30.AAAA", "unauthenticated"),
        ("/ws/sessions/s-nope", api.sup, "not_found"),
    ):
        ws = WS(await api.client.ws_connect(path))
        await ws.send({"type": "auth", "token": token})
        err = await ws.recv()
        assert err["code"] == code, err


async def test_auth_timeout_closes_with_a_reason(
    api: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evalsvc.sessions import ws as wsmod

    monkeypatch.setattr(wsmod, "AUTH_TIMEOUT_S", 0.2)
    sid, _ = await api.to_stage("drawing")
    ws = WS(await api.client.ws_connect(f"/ws/sessions/{sid}"))
    err = await ws.recv()
    assert err["code"] == "auth_timeout"
    assert (await ws.recv())["type"] == "bye"
    assert (await ws.ws.receive()).data == 4408


async def test_reused_id_with_another_body_is_refused(api: Harness) -> None:
    sid, experts = await api.to_stage("scoring")
    ws, *_ = await connect(api, sid, experts[0][1])
    await ws.send({"type": "submit", "id": "reuse-0001", "sheet": scoring_sheet(t1="40")})
    await ws.until("ack")
    await ws.send({"type": "submit", "id": "reuse-0001", "sheet": scoring_sheet(t1="41")})
    _, err = await ws.until("error")
    assert err["id"] == "reuse-0001" and err["code"] == "idempotency_conflict"
    await ws.send({"type": "command", "id": "cmd-00001", "body": {"command": "lock_scoring"}})
    _, err = await ws.until("error")
    assert err["code"] == "forbidden" and err["id"] == "cmd-00001"


async def test_operators_see_presence_of_who_joins_and_leaves(api: Harness) -> None:
    sid, experts = await api.to_stage("scoring")
    op, *_ = await connect(api, sid, api.op("js-suzhou"))
    _, own = await op.until("presence")
    assert own["event"] == "join" and own["who"]["subject"] == "op-js-suzhou"
    ex, *_ = await connect(api, sid, experts[0][1])  # a Shanghai expert
    _, join = await op.until("presence")
    assert join["event"] == "join" and join["who"]["venue"] == "sh-ggzy"
    assert join["who"]["seat"] == experts[0][0] and "subject" not in join["who"]  # other venue
    assert {w["role"] for w in join["connected"]} == {"operator", "expert"}
    await ex.ws.close()
    _, leave = await op.until("presence")
    assert leave["event"] == "leave" and len(leave["connected"]) == 1


async def test_a_slow_consumer_is_disconnected_with_a_reason() -> None:
    sent: list[str] = []
    closed: list[tuple[int, str]] = []
    release = asyncio.Event()

    async def send(text: str) -> None:
        sent.append(text)
        await release.wait()  # the client stopped reading

    async def close(code: int, reason: str) -> None:
        closed.append((code, reason))

    conn = Connection(Principal("supervisor", "s", "s"), send, close, queue_size=4)
    for i in range(10):
        conn.enqueue(protocol.heartbeat_message(i))
    await asyncio.sleep(0.05)
    assert conn.closing == "slow_consumer"
    release.set()  # the bye is attempted, then the close
    await asyncio.sleep(0.05)
    assert closed == [(4429, "slow_consumer")]
    bye = json.loads(sent[-1])
    assert bye["type"] == "bye" and bye["code"] == "slow_consumer"
    await conn.aclose()


async def test_a_send_blocked_past_the_send_timeout_is_cut_and_then_aborted() -> None:
    stuck = asyncio.Event()  # never set: the client stopped reading
    sent: list[str] = []
    aborted: list[bool] = []

    async def send(text: str) -> None:
        sent.append(text)
        await stuck.wait()

    async def close(code: int, reason: str) -> None:
        await stuck.wait()  # the close frame cannot get out either

    conn = Connection(
        Principal("expert", "E-1", "E-1"),
        send,
        close,
        close_timeout_s=0.05,
        abort=lambda: aborted.append(True),
    )
    conn.enqueue(protocol.heartbeat_message(1))
    await asyncio.sleep(0.01)  # the writer is blocked in its first send
    conn.check_stalled(100.0, 2.0)
    conn.check_stalled(101.9, 2.0)
    assert conn.closing is None  # blocked, but not for 2 s yet
    conn.check_stalled(102.0, 2.0)
    assert conn.closing == "slow_consumer"
    await asyncio.sleep(0.2)
    assert aborted == [True]  # neither bye nor close got out within close_timeout_s
    assert json.loads(sent[-1])["code"] == "slow_consumer"
    await conn.aclose()


async def test_a_writer_that_makes_progress_is_not_stalled() -> None:
    gate = asyncio.Event()

    async def send(text: str) -> None:
        await gate.wait()

    async def close(code: int, reason: str) -> None:
        pass

    conn = Connection(Principal("expert", "E-1", "E-1"), send, close)
    for i in range(3):
        conn.enqueue(protocol.heartbeat_message(i))
    await asyncio.sleep(0.01)
    conn.check_stalled(0.0, 2.0)
    gate.set()
    await asyncio.sleep(0.01)  # all three sent: progress
    gate.clear()
    conn.enqueue(protocol.heartbeat_message(3))
    await asyncio.sleep(0.01)
    conn.check_stalled(3.0, 2.0)  # blocked again, but only just noticed
    assert conn.closing is None
    await conn.aclose()


async def test_a_replay_does_not_count_against_the_queue_bound() -> None:
    gate = asyncio.Event()

    async def send(text: str) -> None:
        await gate.wait()

    async def close(code: int, reason: str) -> None:
        pass

    conn = Connection(Principal("expert", "E-1", "E-1"), send, close, queue_size=4)
    conn.enqueue_replay([protocol.heartbeat_message(i) for i in range(10)])
    for i in range(3):
        conn.enqueue(protocol.heartbeat_message(100 + i))
    assert conn.closing is None  # 13 queued, 3 of them live
    conn.enqueue(protocol.heartbeat_message(103))
    conn.enqueue(protocol.heartbeat_message(104))
    assert conn.closing == "slow_consumer"  # the fifth live frame
    await conn.aclose()


async def test_replays_queued_together_share_one_budget() -> None:
    gate = asyncio.Event()

    async def send(text: str) -> None:
        await gate.wait()

    async def close(code: int, reason: str) -> None:
        pass

    conn = Connection(Principal("expert", "E-1", "E-1"), send, close, replay_budget=10)
    conn.enqueue_replay([protocol.heartbeat_message(i) for i in range(12)])
    assert conn.closing is None  # one sync is always taken (the replay cap bounds it)
    conn.enqueue_replay([protocol.heartbeat_message(1)])
    assert conn.closing == "slow_consumer"  # hello again before the first was read
    await conn.aclose()

    conn = Connection(Principal("expert", "E-1", "E-1"), send, close, replay_budget=10)
    for _ in range(3):
        conn.enqueue_replay([protocol.heartbeat_message(i) for i in range(3)])
    assert conn.closing is None and conn.sync_outstanding() == 9
    conn.enqueue_replay([protocol.heartbeat_message(i) for i in range(2)])
    assert conn.closing == "slow_consumer"
    await conn.aclose()
    gate.set()


async def test_a_gap_larger_than_the_replay_cap_gets_a_snapshot(api: Harness) -> None:
    from evalsvc.sessions.ws import HUB

    sid, _ = await api.to_stage("scoring")
    api.client.server.app[HUB].replay_cap = 5
    _, ok, before, synced = await connect(api, sid, api.sup)  # 0 → top: more than 5
    assert [m["type"] for m in before] == ["snapshot"] and before[0]["reason"] == "gap"
    top = synced["seq"]
    _, _, before, _ = await connect(api, sid, api.sup, last_seq=top - 5, epoch=ok["epoch"])
    assert [m["seq"] for m in before] == list(range(top - 4, top + 1))
    _, _, before, _ = await connect(api, sid, api.sup, last_seq=top - 6, epoch=ok["epoch"])
    assert [m["type"] for m in before] == ["snapshot"] and before[0]["seq"] == top


async def test_the_connection_ends_when_the_token_expires(api: Harness) -> None:
    from conftest import make_token

    sid, _ = await api.to_stage("drawing")
    short = make_token(api.settings, "supervisor", ttl=2)
    ws, *_ = await connect(api, sid, short)
    _, bye = await ws.until("bye", timeout=15)
    assert bye["code"] == "unauthenticated"
    msg = await ws.ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4401


async def test_a_venue_agent_says_it_witnesses_in_its_hello(api: Harness) -> None:
    from evalsvc.sessions.ws import HUB

    sid, _ = await api.to_stage("drawing")
    ws = WS(await api.client.ws_connect(f"/ws/sessions/{sid}"))
    await ws.send({"type": "auth", "token": api.op("js-suzhou")})
    await ws.send({"type": "hello", "epoch": None, "last_seq": 0, "witness": True})
    await ws.until("synced")
    _browser, *_ = await connect(api, sid, api.op("js-suzhou"))
    conns = api.client.server.app[HUB].feeds[sid].conns
    assert sorted(c.witness for c in conns) == [False, True]


async def test_joins_that_queue_up_replay_what_each_would_see_alone(
    api: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clients that join together (a venue's PCs after a restart) share one read and one
    serialisation of each distinct frame: each still gets exactly its own view."""
    from evalsvc.sessions import hub as hub_module

    sid, experts = await api.to_stage("scoring")
    status, _ = await api.submit(sid, experts[0][1], scoring_sheet(), key="burst-0001")
    assert status == 201
    tokens = [api.sup, api.op(), api.op("js-suzhou"), api.op("ah-hefei")]
    tokens += [tok for _, tok in experts]
    bursts: list[object] = []
    real = hub_module._Burst.__init__

    def spy(self: object, *args: object) -> None:
        bursts.append(self)
        real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(hub_module._Burst, "__init__", spy)
    together = await asyncio.gather(*(connect(api, sid, t) for t in tokens))
    assert bursts, "the joins did not queue up: the test does not exercise the shared replay"
    # Late joiners resuming from the middle take part too.
    mid = together[0][3]["seq"] // 2
    resumed = await asyncio.gather(
        *(connect(api, sid, t, last_seq=mid) for t in tokens[:3] + tokens[-2:])
    )
    for ws, *_ in together + resumed:
        await ws.ws.close()
    for t, (_, _, replay, synced) in zip(tokens, together, strict=True):
        _ws, _, alone, synced_alone = await connect(api, sid, t)
        await _ws.ws.close()
        assert replay == alone and synced == synced_alone
    for t, (_, _, replay, _) in zip(tokens[:3] + tokens[-2:], resumed, strict=True):
        _ws, _, alone, _ = await connect(api, sid, t, last_seq=mid)
        await _ws.ws.close()
        assert replay == alone and replay[0]["seq"] == mid + 1
    # The views differ where the rules say: an expert's own sheet is not another's.
    own = [m for m in together[4][2] if m.get("event") == "sheet.submitted"]
    other = [m for m in together[5][2] if m.get("event") == "sheet.submitted"]
    assert own and other and own[0]["actor"] != other[0]["actor"]
