"""Presence merged across instances: the pure roster logic, and a hub that shows the
members another instance holds (a fake backend stands in for PostgreSQL here;
tests/sessions/test_pgpresence.py and tests/e2e/test_presence_cluster.py use the real
one)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from conftest import EXPERT_IDS, Harness
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Connection as SAConnection
from test_ws import connect

from evalsvc.sessions.presence import Member, PresenceRow, changes, live_instances, remote_rosters


def member(key: str, role: str = "expert", subject: str = "E-1", venue: str = "sh-ggzy") -> Member:
    return Member(key=key, role=role, subject=subject, name=subject, venue=venue)


def test_instances_silent_longer_than_the_ttl_are_not_live() -> None:
    assert live_instances({"a": 0.0, "b": 5.9, "c": 6.0, "d": 6.1}, 6.0) == {"a", "b", "c"}


def test_rosters_hold_the_other_live_instances_members_per_session() -> None:
    rows = [
        PresenceRow("s-1", "me", 0.1, member("me/1")),
        PresenceRow("s-1", "b", 1.0, member("b/1")),
        PresenceRow("s-1", "b", 1.0, member("b/2", role="operator", subject="op")),
        PresenceRow("s-2", "b", 1.0, member("b/3")),
        PresenceRow("s-1", "dead", 30.0, member("dead/1")),
    ]
    rosters = remote_rosters(rows, me="me", ttl_s=6.0)
    assert {sid: sorted(r) for sid, r in rosters.items()} == {
        "s-1": ["b/1", "b/2"],
        "s-2": ["b/3"],
    }
    assert remote_rosters(rows, me="me", ttl_s=60.0)["s-1"].keys() == {"b/1", "b/2", "dead/1"}


def test_changes_are_leaves_then_joins_in_key_order() -> None:
    a, b, c = member("i/1"), member("i/2"), member("i/3")
    moved = Member(key="i/2", role="expert", subject="E-1", name="E-1", venue="js-suzhou")
    assert changes({}, {}) == []
    assert changes({"i/1": a}, {"i/1": a}) == []
    assert changes({"i/1": a, "i/2": b}, {"i/3": c, "i/2": moved}) == [
        ("leave", a),
        ("leave", b),
        ("join", moved),
        ("join", c),
    ]


rosters = st.dictionaries(
    st.sampled_from([f"i/{n}" for n in range(8)]),
    st.sampled_from(["expert", "operator", "supervisor"]),
).map(lambda d: {k: member(k, role=r) for k, r in d.items()})


@given(rosters, rosters)
def test_applying_the_changes_turns_one_roster_into_the_other(
    before: dict[str, Member], after: dict[str, Member]
) -> None:
    shown = dict(before)
    steps = changes(before, after)
    for kind, m in steps:
        if kind == "leave":
            assert shown.pop(m.key) == m  # only what is shown can leave
        else:
            assert m.key not in shown  # never shown twice
            shown[m.key] = m
    assert shown == after
    # One step per connection that went or came; a changed one leaves and joins again.
    assert len(steps) == sum(
        (k in before and before[k] != after.get(k)) + (k in after and after[k] != before.get(k))
        for k in before.keys() | after.keys()
    )


class FakeCluster:
    """A PresenceBackend whose other instances hold ``remote``."""

    def __init__(self) -> None:
        self.remote: dict[str, dict[str, Member]] = {}
        self.published: list[str] = []

    def changed(self, session_id: str) -> None:
        self.published.append(session_id)

    def read(self, c: SAConnection, session_ids: Sequence[str]) -> dict[str, dict[str, Member]]:
        return {sid: dict(self.remote.get(sid, {})) for sid in session_ids}


def _who(m: dict[str, Any]) -> tuple[Any, ...]:
    return (m["role"], m["venue"], m.get("seat"), m.get("subject"))


async def test_supervisors_see_connections_of_other_instances_join_and_leave(
    api: Harness,
) -> None:
    from evalsvc.sessions.ws import HUB

    sid, experts = await api.to_stage("scoring")
    hub = api.client.server.app[HUB]
    fake = FakeCluster()
    hub.cluster = fake
    # Another instance already holds the Suzhou expert of seat 3 and Suzhou's operator.
    far = Member("i-b/1", "expert", EXPERT_IDS[3], f"专家{EXPERT_IDS[3]}", "js-suzhou")
    op = Member("i-b/2", "operator", "op-js-suzhou", "op-js-suzhou", "js-suzhou")
    fake.remote[sid] = {far.key: far, op.key: op}

    sup, *_ = await connect(api, sid, api.sup)
    _, own = await sup.until("presence")  # the snapshot on connect: the whole cluster
    assert own["event"] == "join" and own["who"]["role"] == "supervisor"
    assert sorted(map(_who, own["connected"])) == [
        ("expert", "js-suzhou", 3, EXPERT_IDS[3]),
        ("operator", "js-suzhou", None, "op-js-suzhou"),
        ("supervisor", None, None, "supervisor"),
    ]
    assert fake.published == [sid]  # this instance's join went to the cluster

    # A Shanghai operator here sees the far expert without identity (another venue).
    sh, *_ = await connect(api, sid, api.op("sh-ggzy"))
    _, sh_own = await sh.until("presence")
    assert {_who(w) for w in sh_own["connected"]} >= {("expert", "js-suzhou", 3, None)}
    _, sup_sees_sh = await sup.until("presence")
    assert sup_sees_sh["who"]["subject"] == "op-sh-ggzy"

    # The far expert leaves, another joins on the other instance.
    near = Member("i-b/7", "expert", EXPERT_IDS[4], "x", "js-suzhou")
    fake.remote[sid] = {op.key: op, near.key: near}
    await hub.refresh_presence()
    for ws, names in ((sup, True), (sh, False)):  # Shanghai's operator: no Suzhou names
        _, leave = await ws.until("presence")
        assert leave["event"] == "leave" and leave["who"]["seat"] == 3
        assert ("subject" in leave["who"]) is names
        _, join = await ws.until("presence")
        assert join["event"] == "join" and join["who"]["seat"] == 4
        assert ("subject" in join["who"]) is names
        assert len(join["connected"]) == 4  # sup + sh here, operator + expert there

    # Experts are never told of presence, wherever the change happened.
    ex, *_ = await connect(api, sid, experts[0][1])
    fake.remote[sid] = {}
    await hub.refresh_presence()
    for ws in (sup, sh):
        _, local = await ws.until("presence")
        assert local["event"] == "join" and local["who"]["seat"] == experts[0][0]
        for _ in range(2):
            _, gone = await ws.until("presence")
            assert gone["event"] == "leave" and gone["who"]["venue"] == "js-suzhou"
        assert len(gone["connected"]) == 3
    await ex.send({"type": "heartbeat", "seq": 0})
    before, _ = await ex.until("heartbeat")
    assert [m["type"] for m in before] == []


async def test_an_older_read_finishing_late_does_not_undo_a_newer_one(api: Harness) -> None:
    from evalsvc.sessions.ws import HUB

    sid, _ = await api.to_stage("drawing")
    hub = api.client.server.app[HUB]
    hub.cluster = FakeCluster()
    await connect(api, sid, api.sup)
    feed = hub.feeds[sid]
    old, new = hub.presence_ticket(), hub.presence_ticket()
    m = member("i-b/1", role="operator", subject="op-x", venue="ah-hefei")
    feed.set_remote({m.key: m}, new)
    feed.set_remote({}, old)  # read before the newer one, applied after it: ignored
    assert feed.remote == {m.key: m}
