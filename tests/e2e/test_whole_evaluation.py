"""A whole evaluation as the rules run it, by real processes: ``evalsvc serve`` on a
loopback port with its own config, an ``evalsvc venue`` agent for each secondary venue,
and the committee's seven members at four venues — Shanghai (primary, 3), Suzhou (2),
Hangzhou (1), Hefei (1) — acting over their own WebSocket as the browser does (pledge,
declaration, ballots, sheets, the leader's requests, signatures). Operators and the
supervisor use the HTTP API.

The story: the committee drawn from the pool by a five-party ceremony; a conflict
declared at check-in and the seat's alternate seated (补抽); a leader vote with no
majority and a runoff; qualification; the average-benchmark price formula (评标基准价法);
a clarification; a re-review approved by the supervisor; a member who neither signs nor
dissents, deemed to agree (Art. 43); the seal; the report PDF read back with
``pdftotext`` (every section, bidder and member); the handover of each secondary venue,
seen in that venue's own mirror.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import (
    Harness,
    draw_rules,
    drawing_session,
    import_pool,
    qualification_sheet,
    run_ceremony,
    session_doc,
)
from procs import Server, free_port, spawn, stop_process
from wshelp import WS, connect

from evalsvc.config import PROJECT_ROOT, Settings
from evalsvc.report.document import SECTIONS

pytestmark = pytest.mark.e2e

BIDS = ("B1", "B2", "B3")
SECONDARY = ("js-suzhou", "zj-hangzhou", "ah-hefei")
# Venue, region, specialty, seats: 7 members at 4 venues.
VENUES = (("sh-ggzy", "SH", "A01", 3), ("js-suzhou", "JS", "A01", 2),
          ("zj-hangzhou", "ZJ", "A01", 1), ("ah-hefei", "AH", "C01", 1))
RECUSED_SEAT = 4  # Suzhou's second seat declares a conflict with 乙公司 (B2)
ROUND_ONE = [0, 0, 5, 5, 1, 2, 3]  # seat i votes ROUND_ONE[i]: 2 votes at most, a runoff
RUNOFF = [5, 5, 5, 5, 0, 0, 0]  # seats 0 and 5 in the runoff; 5 elected, 4 of 7
LEADER = 5
REREVIEWED_SEAT = 2
REFUSING_SEAT = 6
# (Short enough for one line of their table cells: pdftotext -layout interleaves the
# lines of neighbouring cells.)
QUESTION = "暂列金额如何计取"
ANSWER = "按招标文件固定金额"
APPROVAL = "经核实，同意复核"
# (Seats as the report names them: 第 index + 1 席.)
REREVIEW_REASON = "第3席评委对丙公司技术方案（客观分项）的评分与评分标准不一致"
REFUSAL_NOTE = "第7席评委在签字期限内既未签字也未书面陈述不同意见，评标委员会书面记录在案"

# 评标基准价法 with the tender's coefficients (docs/scoring.md "average_benchmark"): the
# mean of the three valid prices 100,000 / 95,000 / 120,000 元 is 105,000 元; × 0.98 the
# benchmark is 102,900 元. B1 is 2.818…% below: 40 − 0.5 × 2.818… = 38.59; B2 7.677…%
# below: 40 − 0.5 × 7.677… = 36.16; B3 16.618…% above: 40 − 1 × 16.618… = 23.38.
AVERAGE_BENCHMARK = {"factor": "0.98", "deduct_above": "1", "deduct_below": "0.5",
                     "floor": "10"}
BENCHMARK_FEN = 10_290_000
PRICE_SCORES = {"B1": "38.59", "B2": "36.16", "B3": "23.38"}


def _doc() -> dict[str, Any]:
    doc = session_doc(rules={"price_formula": "average_benchmark",
                             "average_benchmark": AVERAGE_BENCHMARK})
    doc["secondary_venues"] = [
        {"id": v, "name": f"{city}公共资源交易中心", "region": r, "city": city, "seats": n}
        for (v, r, _, n), city in zip(VENUES[1:], ("苏州", "杭州", "合肥"), strict=True)]
    return doc


def _rules() -> dict[str, Any]:
    rules = draw_rules(alternates=2)
    rules["venues"] = [{"id": v, "name": v, "region": r} for v, r, _, _ in VENUES]
    rules["seats"] = [{"venue": v, "specialty": sp, "count": n} for v, _, sp, n in VENUES]
    return rules


def _scores(seat: int) -> dict[str, Any]:
    """Seat ``seat``'s scoring sheet: close to the committee's (no deviation to explain)
    — except the re-reviewed seat's first sheet, whose 丙公司 technical score is wrong."""
    t1 = {"B1": 40 + seat % 3, "B2": 44 - seat % 2, "B3": 36 + seat % 2}
    if seat == REREVIEWED_SEAT:
        t1["B3"] = 28
    return {"stage": "scoring", "bids": {b: {"T1": str(t1[b]), "C1": "8"} for b in BIDS}}


async def _ok(api: Harness, sid: str, token: str, command: str, **fields: Any) -> Any:
    status, body = await api.command(sid, token, command, **fields)
    assert status == 200, (command, body)
    return body


class Member:
    """One member at their workstation: the browser's socket, its messages numbered."""

    def __init__(self, seat: int, venue: str, token: str, ws: WS) -> None:
        self.seat, self.venue, self.token, self.ws = seat, venue, token, ws
        self.sent = 0

    async def send(self, kind: str, **body: Any) -> dict[str, Any]:
        """Send a ``command`` (body) or ``submit`` (sheet); the ``ack``'s result."""
        self.sent += 1
        msg_id = f"seat{self.seat}-{self.venue}-{self.sent:06d}"
        await self.ws.send({"type": kind, "id": msg_id, **body})
        while True:
            m = await self.ws.recv(timeout=30)
            if m["type"] in ("ack", "error") and m.get("id") == msg_id:
                assert m["type"] == "ack", (self.seat, body, m)
                return dict(m["result"])

    async def command(self, command: str, **fields: Any) -> dict[str, Any]:
        return await self.send("command", body={"command": command, **fields})

    async def submit(self, sheet: dict[str, Any]) -> dict[str, Any]:
        return await self.send("submit", sheet=sheet)


class Agent:
    """An ``evalsvc venue`` process: the venue's mirror, read over its own HTTP."""

    def __init__(self, venue: str, primary: str, token: str, tmp: Path) -> None:
        self.venue, self.primary, self.token, self.tmp = venue, primary, token, tmp
        self.port = free_port()
        self.view_file = tmp / f"view-{venue}"
        self.proc = self._spawn()

    def _spawn(self) -> Any:
        return spawn([
            sys.executable, "-m", "evalsvc", "venue", "--primary", self.primary,
            "--venue", self.venue, "--token", self.token,
            "--mirror", str(self.tmp / f"{self.venue}.db"),
            "--listen", f"127.0.0.1:{self.port}", "--discover", "0.3",
            "--view-token-file", str(self.view_file)], log=self.tmp / f"agent-{self.venue}.log")

    def kill(self) -> None:
        """The venue's link gone: SIGKILL, no goodbye."""
        stop_process(self.proc, grace=0)

    def restart(self) -> None:
        self.proc = self._spawn()

    async def events(self, http: aiohttp.ClientSession, sid: str, top: int) -> list[Any]:
        """The mirror's events of ``sid`` once it holds ``top`` of them (30 s at most)."""
        deadline = time.monotonic() + 30
        last: object = "nothing"
        while time.monotonic() < deadline:
            try:
                headers = {"Authorization": f"Bearer {self.view_file.read_text().strip()}"}
                async with http.get(
                    f"http://127.0.0.1:{self.port}/sessions/{sid}/events?limit=1000",
                    headers=headers,
                ) as r:
                    doc = await r.json(content_type=None)
                    last = (r.status, doc.get("last_seq"))
                    if r.status == 200 and doc["last_seq"] >= top:
                        return list(doc["events"])
            except (OSError, aiohttp.ClientError) as exc:  # starting, no view token yet
                last = exc
            await asyncio.sleep(0.2)
        raise AssertionError(f"the {self.venue} mirror did not reach seq {top}: {last}")


async def venue_link_cut_past_the_pause_rule_and_restored(
    api: Harness, sid: str, agents: dict[str, Agent], members: dict[int, Member]
) -> None:
    """Hefei's link is cut (its agent killed, its member's socket closed) past the pause
    rule (3 s in this test's config): the session pauses with reason
    ``venue_link_lost`` naming the rule; the primary cannot resume while the link is
    down; the agent restarted and the member back, the link is recorded restored and
    the primary resumes where the evaluation stopped (docs/scoring.md "Faults by
    rule")."""
    hefei = [m for m in members.values() if m.venue == "ah-hefei"]
    assert hefei
    agents["ah-hefei"].kill()
    for m in hefei:
        await m.ws.ws.close()
    paused = await _until_event(api, sid, lambda e: e["type"] == "session.state_changed"
                                and e["payload"].get("reason") == "venue_link_lost")
    assert paused["payload"]["rule"] == {"name": "link_lost_pause_minutes", "value": "0.05",
                                         "seconds": 3}
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert doc["state"] == "paused" and doc["fault"]["venue_id"] == "ah-hefei"
    status, body = await api.command(sid, api.op(), "resume")
    assert status == 409 and "still lost" in body["detail"], body
    agents["ah-hefei"].restart()
    for m in hefei:
        m.ws, *_ = await connect(api, sid, m.token)
    await _until_event(api, sid, lambda e: e["type"] == "venue.link_restored"
                       and e["payload"].get("venue_id") == "ah-hefei")
    resumed = await _ok(api, sid, api.op(), "resume")
    assert (resumed["state"], resumed["stage"]) == ("evaluating", "scoring")


async def _until_event(api: Harness, sid: str, match: Any, timeout: float = 40) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in await api.events(sid) if match(e)]
        if found:
            return found[-1]
        await asyncio.sleep(0.3)
    raise AssertionError("the event did not come")


async def test_a_whole_evaluation_by_real_processes(
    tmp_path: Path, db_url: str, settings: Settings
) -> None:
    import_pool(db_url, tmp_path)
    config = tmp_path / "server.toml"
    # The suite's draw floors, and a signing deadline that has passed at once (the
    # refusal to sign is recorded after it).
    config.write_text((PROJECT_ROOT / "config" / "test.toml").read_text(encoding="utf-8")
                      + "\n[rules]\nsign_deadline_minutes = 0\n"
                      # Faults by rule, in seconds: a venue link gone 3 s pauses.
                      + "link_lost_grace_seconds = 0.5\nlink_lost_pause_minutes = 0.05\n"
                      + "resume_deadline_minutes = 10\nsuspend_after_minutes = 20\n",
                      encoding="utf-8")
    secret = Path(settings.auth.token_secret_file)
    server = Server(db_url=db_url, secret_file=secret, log=tmp_path / "server.log",
                    env={"EVALSVC_CONFIG": str(config)})
    # What the server runs with (procs.Server), for the supervisor's CLI on its machine.
    server_env = {"EVALSVC_CONFIG": str(config), "EVALSVC_DATABASE_URL": db_url,
                  "EVALSVC_TOKEN_SECRET_FILE": str(secret),
                  "EVALSVC_AUDIT_KEY_FILE": str(secret.with_name("audit-log.key"))}
    server.start()
    agents: dict[str, Agent] = {}
    try:
        async with aiohttp.ClientSession(
            base_url=server.url, timeout=aiohttp.ClientTimeout(total=30)
        ) as http:
            api = Harness(http, settings)
            for v in SECONDARY:
                agents[v] = Agent(v, server.url, api.op(v), tmp_path)
            await _evaluate(api, agents, tmp_path, server_env)
    finally:
        try:
            for a in agents.values():
                stop_process(a.proc)
        finally:
            server.stop()


async def _evaluate(
    api: Harness, agents: dict[str, Agent], tmp_path: Path, server_env: dict[str, str]
) -> None:
    config = Path(server_env["EVALSVC_CONFIG"])
    # --- the draw: a ceremony of the four venues and the supervisor -----------------------
    sid = await drawing_session(api, _doc())
    # (Five parties commit over HTTP to a process on a shared machine: a commit window
    # of a few seconds, not conftest's one, so a slow moment is not a refused commit.)
    await run_ceremony(api, sid, rules=_rules(), commit_s=4.0,
                       parties=(*(v for v, *_ in VENUES), "supervisor"))
    _, draw = await api.call("GET", f"/api/sessions/{sid}/draw", api.sup)
    assert draw["phase"] == "inviting", draw
    for s in draw["seats"]:
        status, body = await api.call("POST", f"/api/sessions/{sid}/invitation",
                                      api.expert(s["expert_id"], s["venue_id"]),
                                      json={"accept": True})
        assert status == 200, body
    await _ok(api, sid, api.op(), "start_check_in")
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert [x["venue_id"] for x in doc["seats"]] == [
        v for v, _, _, n in VENUES for _ in range(n)]

    # --- check-in; a conflict declared, the alternate seated ------------------------------
    members: dict[int, Member] = {}

    async def seat_member(x: dict[str, Any]) -> Member:
        await _ok(api, sid, api.op(x["venue_id"]), "check_in", seat=x["index"])
        token = api.expert(x["expert_id"], x["venue_id"])
        ws, *_ = await connect(api, sid, token)
        return Member(x["index"], x["venue_id"], token, ws)

    for x in doc["seats"]:
        members[x["index"]] = await seat_member(x)
    _, pledge = await api.call("GET", f"/api/sessions/{sid}/pledge", members[0].token)
    no_conflict = [{"bid_id": b, "conflict": False} for b in BIDS]
    recused = members[RECUSED_SEAT]
    await recused.command("accept_pledge", sha256=pledge["sha256"])
    await recused.command("declare_interests", declarations=[
        {"bid_id": "B2", "conflict": True, "reason": "近亲属在乙公司任职"}
        if b == "B2" else {"bid_id": b, "conflict": False} for b in BIDS])
    await recused.ws.ws.close()
    events = await api.events(sid)
    vacated = next(e["payload"] for e in events if e["type"] == "seat.vacated")
    assert (vacated["seat"], vacated["reason"]) == (RECUSED_SEAT, "recusal")
    called = next(e["payload"] for e in events if e["type"] == "invitation.sent"
                  and e["payload"]["rank"] == 1)
    assert (called["seat"], called["venue_id"]) == (RECUSED_SEAT, "js-suzhou")
    alt_token = api.expert(called["expert_id"], "js-suzhou")
    status, body = await api.call("POST", f"/api/sessions/{sid}/invitation", alt_token,
                                  json={"accept": True})
    assert status == 200, body
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert doc["seats"][RECUSED_SEAT]["expert_id"] == called["expert_id"]
    members[RECUSED_SEAT] = await seat_member(doc["seats"][RECUSED_SEAT])
    for m in members.values():
        await m.command("accept_pledge", sha256=pledge["sha256"])
        await m.command("declare_interests", declarations=no_conflict)

    # --- the leader: no majority in round 1, a runoff -------------------------------------
    await _ok(api, sid, api.op(), "open_election")
    for votes in (ROUND_ONE, RUNOFF):
        for seat, choice in enumerate(votes):
            await members[seat].command("cast_vote", candidate=choice)
        await _ok(api, sid, api.op(), "close_round")
    closed = [e["payload"] for e in await api.events(sid)
              if e["type"] in ("election.opened", "leader.elected")]
    assert closed[1]["candidates"] == [0, 5] and closed[1]["runoff"] is True
    assert (closed[-1]["seat"], closed[-1]["by"]) == (LEADER, "runoff")
    leader = members[LEADER]

    # --- qualification ---------------------------------------------------------------------
    await _ok(api, sid, api.op(), "start_evaluation")
    for m in members.values():
        await m.submit(qualification_sheet())
    await _ok(api, sid, api.op(), "lock_qualification")

    await venue_link_cut_past_the_pause_rule_and_restored(api, sid, agents, members)

    # --- scoring; the average-benchmark price score; a clarification ----------------------
    for seat, m in members.items():
        await m.submit(_scores(seat))
    asked = await leader.command("request_clarification", bid_id="B3", question=QUESTION)
    assert asked["command"] == "request_clarification"
    await _ok(api, sid, api.op(), "record_clarification_answer", id=1, answer=ANSWER,
              attachment_sha256=hashlib.sha256("丙公司澄清函".encode()).hexdigest())
    await _ok(api, sid, api.op(), "lock_scoring")
    _, first = await api.call("GET", f"/api/sessions/{sid}/aggregation", api.sup)
    assert first["price_basis"] == [{"criterion_id": "P1", "formula": "average_benchmark",
                                     "benchmark_fen": BENCHMARK_FEN}], first
    assert {r["bid_id"]: r["price_score"] for r in first["ranking"]} == PRICE_SCORES

    # --- a re-review of one seat's sheet, approved by the supervisor ----------------------
    await leader.command("request_rereview", stage="scoring", seats=[REREVIEWED_SEAT],
                         reason=REREVIEW_REASON)
    status, refused = await api.command(sid, api.op(), "seal")
    assert status == 409, refused
    await _ok(api, sid, api.sup, "decide_rereview", approve=True, reason=APPROVAL)
    corrected = _scores(REREVIEWED_SEAT)
    corrected["bids"]["B3"]["T1"] = "36"
    await members[REREVIEWED_SEAT].submit(corrected)
    await _ok(api, sid, api.op(), "lock_scoring")
    _, second = await api.call("GET", f"/api/sessions/{sid}/aggregation", api.sup)
    b3 = [next(r for r in a["ranking"] if r["bid_id"] == "B3") for a in (first, second)]
    assert float(b3[1]["technical"]) > float(b3[0]["technical"]), b3
    locked = [e["payload"] for e in await api.events(sid) if e["type"] == "stage.locked"
              and e["payload"]["stage"] == "scoring"]
    assert len(locked) == 2 and locked[1]["rereview"]["seats"] == [REREVIEWED_SEAT]
    for d in second["deviations"]:  # (none expected; explained if any)
        await members[d["seat"]].command("explain_deviation", bid_id=d["bid_id"],
                                         text="评分依据投标文件相应章节")

    # --- the report: a refusal to sign, deemed agreement; every other member signs ----------
    await _ok(api, sid, api.op(), "start_report")
    await leader.command("record_refusal", seat=REFUSING_SEAT, note=REFUSAL_NOTE)
    await _ok(api, sid, api.sup, "confirm_deemed_agreement", seat=REFUSING_SEAT)
    _, rep = await api.call("GET", f"/api/sessions/{sid}/report", api.sup)
    for seat, m in members.items():
        if seat != REFUSING_SEAT:
            await m.command("sign_report", report_sha256=rep["sha256"])
    sealed = await _ok(api, sid, api.op(), "seal")
    assert sealed["state"] == "sealed"

    # --- the PDF, as a reader sees it ------------------------------------------------------
    _, doc = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    names = [x["expert_name"] for x in doc["seats"]]
    assert len(set(names)) == 7 and all(names)
    resp = await api.client.get(f"/api/sessions/{sid}/report.pdf",
                                headers={"Authorization": f"Bearer {api.op('ah-hefei')}"})
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/pdf"
    pdf = await resp.read()
    text = _pdftotext(pdf, tmp_path)
    flat = re.sub(r"\s+", "", text)
    for heading in ["评标报告", *(title for _, title in SECTIONS)]:
        assert re.sub(r"\s+", "", heading) in flat, heading
    for bidder in (b["bidder"] for b in doc["bids"]):
        assert bidder in flat, bidder
    for name in names:
        assert re.sub(r"\s+", "", name) in flat, name
    # The clarification, the deemed agreement confirmed, the re-review and its approval.
    for said in (QUESTION, ANSWER, "监督人员已确认", APPROVAL, "评标基准价法"):
        assert re.sub(r"\s+", "", said) in flat, said

    # --- a supervisor's offline checks, by the CLI: the PDF, then the session's bundle ----
    _, key = await api.call("GET", f"/api/sessions/{sid}/audit/key", api.sup)
    (tmp_path / "report.pdf").write_bytes(pdf)
    out = _cli(server_env, "report", "verify", str(tmp_path / "report.pdf"),
               "--log-key", key["log_vkey"])
    assert out.returncode == 0, out.stdout + out.stderr

    # --- the handover, in each secondary venue's own mirror -------------------------------
    for v in SECONDARY:
        items = [{"item": x, "confirmed": True} for x in _handover_items(config)]
        await _ok(api, sid, api.op(v), "record_handover", items=items)
        await _ok(api, sid, api.op(), "acknowledge_handover", venue_id=v)
    events = await api.events(sid)
    assert sorted(e["payload"]["venue_id"] for e in events
                  if e["type"] == "handover.acknowledged") == sorted(SECONDARY)
    top = events[-1]["seq"]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        mirrored_by = {v: await agent.events(http, sid, top) for v, agent in agents.items()}
    for v, mirrored in mirrored_by.items():
        kinds = [(e["type"], e["payload"].get("venue_id")) for e in mirrored]
        assert ("handover.recorded", v) in kinds and ("handover.acknowledged", v) in kinds
        assert ("session.state_changed", None) in kinds
    for m in members.values():
        if not m.ws.ws.closed:
            await m.ws.ws.close()
    # The sealed and handed-over session's audit bundle re-derives: the draw with its
    # alternate, the sheets with the re-review, the result, the signatures with the
    # deemed agreement.
    db = server_env["EVALSVC_DATABASE_URL"]
    policy, bundle = tmp_path / "policy.txt", tmp_path / "bundle"
    for argv in (("trust-policy", sid, "--database", db, "--out", str(policy)),
                 ("export", sid, "--database", db, "--out", str(bundle))):
        out = _cli(server_env, "audit", *argv)
        assert out.returncode == 0, out.stdout + out.stderr
    out = _cli(server_env, "audit", "verify", str(bundle), "--trusted-keys", str(policy))
    assert out.returncode == 0 and "通过 VERIFIED" in out.stdout, out.stdout + out.stderr
    assert "视为同意" in out.stdout


def _cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """``evalsvc ARGV`` as a supervisor runs it, with the server's settings."""
    return subprocess.run([sys.executable, "-m", "evalsvc", *argv], cwd=PROJECT_ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120)


def _handover_items(config: Path) -> list[str]:
    """The handover items the server was configured with."""
    from evalsvc.config import load_settings

    return list(load_settings(config, env={}).rules.handover_items)


def _pdftotext(pdf: bytes, tmp_path: Path) -> str:
    """The PDF's text by poppler's pdftotext (a reader's view, not our parser's)."""
    from report.helpers import pdftotext

    return pdftotext(pdf, tmp_path)

