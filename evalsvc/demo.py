"""``evalsvc demo``: a cross-region evaluation seeded through the real service, served.

Primary venue Shanghai (3 seats), secondary venues Suzhou (JS, 2), Hangzhou (ZJ, 1) and
Hefei (AH, 1): a 7-seat committee, 3 bids, weighted scoring. The committee is drawn
from a synthetic pool of 1,000 experts by a real seed ceremony: the four venues and the
supervisor each commit to a random secret and reveal it, the draw runs on the combined
seed, and every drawn member accepts (docs/draw.md §6). The session is then taken through
check-in and qualification; six experts have scored, the seventh (at Hefei) has not —
log in as that expert, submit, then lock scoring as the Shanghai operator.

A second session of the same tender is taken to the end through every step of the
rules (:func:`seal_demo`): a conflict declared at check-in and the seat's alternate
seated (补抽), a two-round leader vote (runoff), a clarification, a re-review approved by
the supervisor, a dissent, a member who neither signs nor dissents deemed to agree
(视为同意, confirmed by the supervisor), the seal, and the handover of each secondary
venue's materials, acknowledged; the demo prints its id, the URLs of its report.html and
report.pdf, its database and the exact ``audit trust-policy`` / ``audit export`` /
``audit verify`` commands for it.

Three seats of the live session are held by the dev PKI's experts
(:data:`CERTIFICATE_HOLDERS`), whose key files the demo prints: certificate sign-in and
signing in the browser work out of the box (docs/web.md).
"""

from __future__ import annotations

__all__ = [
    "DEMO_SESSION",
    "DEMO_TOKEN_TTL_HOURS",
    "check_in_by_the_rules",
    "run_demo",
    "seal_demo",
    "seed_demo",
    "supervisor_commands",
]

import asyncio
import base64
import datetime as _dt
import hashlib
import secrets
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from evalsvc.app import create_app
from evalsvc.auth import Principal, issue_token
from evalsvc.config import Settings
from evalsvc.experts import store as xstore
from evalsvc.experts.routes import DRAWS
from evalsvc.experts.seed import commitment_digest
from evalsvc.experts.service import DrawService, ceremony_id
from evalsvc.experts.synth import synthetic_experts
from evalsvc.httpkit import PRINCIPAL_SECRET
from evalsvc.ids import uscc_check_char
from evalsvc.pki.devpki import LI_ID, WANG_ID, ZHANG_ID
from evalsvc.sessions.committee import pledge_declare_elect
from evalsvc.sessions.routes import SESSIONS
from evalsvc.sessions.service import SessionService


def _uscc(body: str) -> str:
    first17 = body[:17]
    return first17 + uscc_check_char(first17)


DEMO_SESSION: dict[str, Any] = {
    "title": "长三角示范区智慧水务平台建设项目（演示）",
    "tenderer": "长三角生态绿色一体化发展示范区执行委员会",
    # The tender's recusal inputs are the session's (docs/draw.md §6.1): the draw reads
    # them from here, never from the draw request.
    "tender_number": "CSJ-2026-ZHSW-DEMO",
    "tenderer_uscc": _uscc("11310000MB2F3E4D5"),
    "supervising_departments": [
        {"name": "长三角生态绿色一体化发展示范区执行委员会建设管理局",
         "uscc": _uscc("11310000MB2F3E4E5")},
    ],
    "method": "weighted_scoring",
    "primary_venue": {
        "id": "sh-ggzy",
        "name": "上海市公共资源交易中心",
        "region": "SH",
        "city": "上海",
        "seats": 3,
    },
    "secondary_venues": [
        {
            "id": "js-suzhou",
            "name": "苏州市公共资源交易中心",
            "region": "JS",
            "city": "苏州",
            "seats": 2,
        },
        {
            "id": "zj-hangzhou",
            "name": "杭州市公共资源交易中心",
            "region": "ZJ",
            "city": "杭州",
            "seats": 1,
        },
        {
            "id": "ah-hefei",
            "name": "合肥市公共资源交易中心",
            "region": "AH",
            "city": "合肥",
            "seats": 1,
        },
    ],
    "bids": [
        {
            "id": "B1",
            "bidder": "上海浦江智能科技有限公司",
            "uscc": _uscc("91310115MA1K3P7Q2"),
            "legal_representative": "陈浦江",
            "principals": ["林智远"],
            "price_fen": 1_286_000_000,
        },
        {
            "id": "B2",
            "bidder": "江苏太湖数字工程有限公司",
            "uscc": _uscc("91320505MA1XY8K4L"),
            "legal_representative": "顾太湖",
            "principals": ["吴思源"],
            "price_fen": 1_198_500_000,
        },
        {
            "id": "B3",
            "bidder": "浙江钱塘水务信息技术股份有限公司",
            "uscc": _uscc("91330106MA2H9TQ3W"),
            "legal_representative": "钱塘生",
            "principals": ["沈立新"],
            "price_fen": 1_342_000_000,
        },
    ],
    "criteria": [
        {"id": "Q1", "name": "营业执照与资质证书有效", "category": "qualification"},
        {"id": "Q2", "name": "投标保证金已缴纳", "category": "qualification"},
        {"id": "T1", "name": "技术方案", "category": "technical", "max_points": 40,
         "guidance": "总体架构、漏损监测和调度模型完整可行、与招标需求逐条对应的得 32–40 分；"
                     "基本可行但有缺项的得 20–31.5 分；每缺一项核心功能扣 4 分"},
        {"id": "T2", "name": "项目实施计划", "category": "technical", "max_points": 10,
         "guidance": "工期、人员和里程碑明确、满足招标文件工期要求的得 8–10 分"},
        {"id": "C1", "name": "商务条款响应", "category": "commercial", "max_points": 10,
         "guidance": "付款、质保和售后条款全部响应的得 10 分；每项偏离扣 2 分"},
        {
            "id": "P1",
            "name": "投标报价",
            "category": "price",
            "max_points": 40,
            "formula": "lowest_price_ratio",
        },
    ],
}

# The printed links carry bearer tokens: anyone who sees the terminal, a screenshot or
# the browser history holds them. They last a working day, not the configured lifetime
# of issued tokens (whichever is shorter).
DEMO_TOKEN_TTL_HOURS = 12

# The site supervisor (现场监督) on duty at the Suzhou venue: (id, name).
SITE_SUPERVISOR = ("sup-js-0004", "苏州现场监督 韩梅")

# Venue → (id, name) of the operator on duty: a person, so the audit log names who did
# what (issue "Blinding and integrity hold against an insider").
OPERATORS = {
    "sh-ggzy": ("op-sh-0012", "上海操作员 孙丽"),
    "js-suzhou": ("op-js-0031", "苏州操作员 钱程"),
    "zj-hangzhou": ("op-zj-0007", "杭州操作员 郑洁"),
    "ah-hefei": ("op-ah-0019", "合肥操作员 冯涛"),
}

# The draw's rules: every venue's seats from its own region, specialty A01 (civil
# engineering). The tenderer, the supervising departments and the bidders with their
# principals are the session's: the server adds them, and refuses a request naming them.
DEMO_RULES: dict[str, Any] = {
    "draw": {"alternates": 2},
    "venues": [{"id": v["id"], "name": v["name"], "region": v["region"]}
               for v in [DEMO_SESSION["primary_venue"], *DEMO_SESSION["secondary_venues"]]],
    "seats": [{"venue": v["id"], "specialty": "A01", "count": v["seats"]}
              for v in [DEMO_SESSION["primary_venue"], *DEMO_SESSION["secondary_venues"]]],
}

# Per expert: (T1, T2, C1) for B1, B2, B3.
SCORES = [
    [("34", "8", "8.5"), ("31", "7.5", "8"), ("36.5", "9", "9")],
    [("33", "8.5", "8"), ("30.5", "7", "8.5"), ("35", "8.5", "9")],
    [("35.5", "8", "9"), ("32", "8", "8"), ("34", "9", "8.5")],
    [("32", "7.5", "8"), ("33", "8", "8"), ("35.5", "8.5", "9.5")],
    [("34.5", "9", "8.5"), ("29", "7", "7.5"), ("36", "9", "9")],
    [("33.5", "8", "8"), ("31.5", "7.5", "8"), ("35", "8", "8.5")],
]


# The sealed demo session is another tender (phase two, other bidders): registering the
# same tender twice draws only with a supervisor's approval (docs/draw.md §6.8).
_SEALED_BIDS = [
    {"id": "B1", "bidder": "上海申城水务科技有限公司",
     "uscc": _uscc("91310104MA1G8W2E5"), "price_fen": 862_000_000,
     "legal_representative": "周申城", "principals": ["马浦东"]},
    {"id": "B2", "bidder": "江苏吴江智慧城市建设有限公司",
     "uscc": _uscc("91320509MA1TQ6N3R"), "price_fen": 815_500_000,
     "legal_representative": "许吴江", "principals": ["蒋松陵"]},
    {"id": "B3", "bidder": "浙江嘉善数据服务有限公司",
     "uscc": _uscc("91330421MA2BX7Y1K"), "price_fen": 903_000_000,
     "legal_representative": "韩嘉善", "principals": ["冯魏塘"]},
]
# Its own tender number; the bidders, tenderer and departments come from the session
# (the draw refuses rules that name them).
SEALED_TENDER: tuple[dict[str, Any], dict[str, Any]] = (
    {**DEMO_SESSION, "title": "长三角示范区智慧水务平台二期项目（演示·已封存）",
     "tender_number": "CSJ-2026-ZHSW-DEMO-2", "bids": _SEALED_BIDS},
    DEMO_RULES,
)

# Every token names a person (the audit log's actor), supervisors too.
SUPERVISOR = Principal("supervisor", "sup-demo-zhao", "监督员 赵", None)


async def _draw_committee(
    draws: DrawService,
    sid: str,
    ops: dict[str, Principal],
    *,
    venues: list[str],
    rules: dict[str, Any] | None = None,
) -> None:
    """Seat the committee by a real draw: pool import, a ceremony of every venue and the
    supervisor (fresh random secrets), the draw, and every member accepting.

    The demo cannot wait the configured windows (minutes), so the unit of work runs on
    a clock of its own while seeding: it starts in the past and jumps over each window;
    every record keeps a consistent time and all of it lies before the real now."""
    uow = draws.uow
    real = uow.clock_ms
    virtual = [real() - 3 * 3600 * 1000]
    uow.clock_ms = lambda: virtual[0]
    try:
        experts = synthetic_experts(1000, seed=1, as_of=_dt.date(2026, 11, 1))
        await draws.db.write(lambda c: xstore.import_experts(c, experts, now_ms=virtual[0]))
        now = _dt.datetime.fromtimestamp(virtual[0] / 1000, _dt.UTC)
        floors = draws.floors
        commit_at = now + _dt.timedelta(seconds=floors.min_commit_window_seconds + 60)
        reveal_at = commit_at + _dt.timedelta(seconds=floors.min_reveal_window_seconds + 60)
        opened = await draws.open(ops[venues[0]], sid, {
            "rules": rules or DEMO_RULES, "commit_deadline": commit_at.isoformat(),
            "reveal_deadline": reveal_at.isoformat(),
            "invitation_timeout_seconds": max(3600, floors.min_invitation_timeout_seconds),
        })
        binding = ceremony_id(sid, int(opened["ceremony"]))
        supervisor = SUPERVISOR
        parties = {**{v: ops[v] for v in venues}, "supervisor": supervisor}
        chosen = {party: secrets.token_bytes(32) for party in parties}
        for party, p in parties.items():
            digest = commitment_digest(chosen[party], party=party, session_id=binding)
            await draws.commit(p, sid, {"digest": digest})
        virtual[0] = int(commit_at.timestamp() * 1000) + 1000
        for party, p in parties.items():  # the supervisor last (docs/draw.md §1.1)
            await draws.reveal(p, sid, {"secret": chosen[party].hex()})
        status = await draws.status(supervisor, sid)
        for seat in status["seats"]:
            expert = Principal("expert", seat["expert_id"], seat["expert_id"], seat["venue_id"])
            await draws.answer(expert, sid, {"accept": True})
    finally:
        uow.clock_ms = real


async def seed_demo(
    svc: SessionService,
    draws: DrawService,
    *,
    leave_last_unscored: bool = True,
    tender: tuple[dict[str, Any], dict[str, Any]] | None = None,
    by_the_rules: bool = False,
) -> str:
    """Create the demo session through the services (its committee drawn); returns its id.
    ``tender`` replaces (session document, draw rules) — another tender than the demo's;
    ``by_the_rules`` seats the committee as :func:`check_in_by_the_rules` does (a recusal
    and its alternate, a runoff) instead of one unanimous round."""
    doc, rules = tender or (DEMO_SESSION, DEMO_RULES)
    venue_ids = [v["id"] for v in [DEMO_SESSION["primary_venue"],
                                    *DEMO_SESSION["secondary_venues"]]]
    ops = {v: Principal("operator", *OPERATORS[v], v) for v in venue_ids}
    primary = ops["sh-ggzy"]
    created = await svc.create(primary, doc, key=None)
    sid = str(created.body["id"])

    async def cmd(p: Principal, body: dict[str, Any]) -> None:
        await svc.command(p, sid, body, key=None)

    await cmd(primary, {"command": "open_draw"})
    await _draw_committee(draws, sid, ops, venues=venue_ids, rules=rules)
    seats = (await svc.get(SUPERVISOR, sid))["seats"]
    await cmd(primary, {"command": "start_check_in"})
    if by_the_rules:
        experts = await check_in_by_the_rules(svc, draws, sid, ops=ops)
    else:
        for seat in seats:
            await cmd(ops[seat["venue_id"]], {"command": "check_in", "seat": seat["index"]})
        experts = [
            Principal("expert", seat["expert_id"], seat["expert_name"], seat["venue_id"])
            for seat in seats
        ]
        await pledge_declare_elect(svc, sid, primary=primary, members=experts,
                                   bids=[b["id"] for b in DEMO_SESSION["bids"]])
    await cmd(primary, {"command": "start_evaluation"})
    for i, e in enumerate(experts):
        verdicts = {b["id"]: {"Q1": True, "Q2": True} for b in doc["bids"]}
        await svc.submit_sheet(
            e, sid, {"stage": "qualification", "bids": verdicts}, key=f"demo-q-{i}-{sid}"
        )
    await cmd(primary, {"command": "lock_qualification"})
    scorers = experts[:-1] if leave_last_unscored else experts
    for i, e in enumerate(scorers):
        row = SCORES[i % len(SCORES)]
        bids = {
            b["id"]: {"T1": Decimal(t1), "T2": Decimal(t2), "C1": Decimal(c1)}
            for b, (t1, t2, c1) in zip(doc["bids"], row, strict=True)
        }
        await svc.submit_sheet(e, sid, {"stage": "scoring", "bids": bids}, key=f"demo-s-{i}-{sid}")
    return sid


# The sealed session's story, seat by seat (primary 0–2 Shanghai, 3–4 Suzhou, 5 Hangzhou,
# 6 Hefei): Suzhou's seat 4 declares a conflict with bid B2 at check-in and its alternate
# is seated (补抽); round 1 of the leader vote has no majority, the runoff elects seat 0;
# seat 3's sheet is re-reviewed; seat 2 dissents and signs; seat 6 neither signs nor
# dissents and is deemed to agree (视为同意).
RECUSED_SEAT, RECUSED_BID = 4, "B2"
RECUSAL_REASON = "本人近亲属在该投标人处任职"
ROUND_ONE = [0, 0, 0, 5, 5, 2, 1]  # seat i votes for ROUND_ONE[i]: 3 of 7, a runoff
RUNOFF = [0, 0, 0, 0, 5, 5, 0]
REREVIEWED_SEAT = 3
DISSENTING_SEAT = 2
DISSENT = "对江苏吴江智慧城市建设有限公司的技术方案评分持不同意见：其运维保障措施不足，不宜评为同档"
REFUSING_SEAT = 6
# (Seats are named as the report names them: 第 index + 1 席.)
REFUSAL_NOTE = "第7席评委在签字期限内既未签字也未书面陈述不同意见及理由，评标委员会书面记录在案"


async def check_in_by_the_rules(
    svc: SessionService, draws: DrawService, sid: str, *, ops: dict[str, Principal]
) -> list[Principal]:
    """Check-in as the rules run it, through the services: every seat checked in by its
    venue's operator; seat :data:`RECUSED_SEAT` pledges and declares a conflict with
    :data:`RECUSED_BID` (回避), its next alternate of the recorded draw accepts, is
    checked in and pledges; every member declares no conflict; round 1 of the leader
    vote has no majority, the runoff elects seat 0. Returns the members by seat."""
    primary = ops["sh-ggzy"]
    sha = svc.pledge.sha256
    bids = [b["id"] for b in DEMO_SESSION["bids"]]

    async def cmd(p: Principal, body: dict[str, Any]) -> None:
        await svc.command(p, sid, body, key=None)

    def member(seat: dict[str, Any]) -> Principal:
        return Principal("expert", seat["expert_id"], seat["expert_name"], seat["venue_id"])

    seats = (await svc.get(SUPERVISOR, sid))["seats"]
    for seat in seats:
        await cmd(ops[seat["venue_id"]], {"command": "check_in", "seat": seat["index"]})
    recused = member(seats[RECUSED_SEAT])
    await cmd(recused, {"command": "accept_pledge", "sha256": sha})
    await cmd(recused, {"command": "declare_interests", "declarations": [
        {"bid_id": b, "conflict": True, "reason": RECUSAL_REASON} if b == RECUSED_BID
        else {"bid_id": b, "conflict": False} for b in bids]})
    # 补抽: the seat's next alternate was invited in the same transaction.
    invited = next(x for x in (await draws.status(SUPERVISOR, sid))["seats"]
                   if x["seat"] == RECUSED_SEAT)
    venue = seats[RECUSED_SEAT]["venue_id"]
    await draws.answer(Principal("expert", invited["expert_id"], invited["expert_id"], venue),
                       sid, {"accept": True})
    await cmd(ops[venue], {"command": "check_in", "seat": RECUSED_SEAT})
    members = [member(x) for x in (await svc.get(SUPERVISOR, sid))["seats"]]
    no_conflict = [{"bid_id": b, "conflict": False} for b in bids]
    for p in members:  # (the alternate too: a vacated seat's pledge left with its member)
        await cmd(p, {"command": "accept_pledge", "sha256": sha})
        await cmd(p, {"command": "declare_interests", "declarations": no_conflict})
    await cmd(primary, {"command": "open_election"})
    for votes in (ROUND_ONE, RUNOFF):
        for p, candidate in zip(members, votes, strict=True):
            await cmd(p, {"command": "cast_vote", "candidate": candidate})
        await cmd(primary, {"command": "close_round"})
    return members


async def seal_demo(
    svc: SessionService, draws: DrawService, *, sign: ReportSigner | None = None
) -> str:
    """A second demo session taken to the end through every step of the rules: a
    recusal at check-in and its alternate seated, a two-round leader vote, both stages, a
    clarification, a re-review approved by the supervisor, explained deviations, a
    dissent, the report signed by every member but one, who is recorded as deemed to
    agree (confirmed by the supervisor), the seal, and the handover of every secondary
    venue — the one a supervisor exports and verifies offline. ``sign`` may add a
    certificate signature (``signature``, ``certificate``) to a member's ``sign_report``;
    returns the id.

    The signing deadline ([rules] sign_deadline_minutes) must pass before a refusal is
    recorded; the demo does not wait it: the whole session runs on a clock of its own,
    hours behind the real one, that jumps over the deadline (as :func:`_draw_committee`
    does over the draw's windows) — every record lies before the real now."""
    uow = svc.uow
    real = uow.clock_ms
    behind = [6 * 3600 * 1000]
    uow.clock_ms = lambda: real() - behind[0]
    try:
        sid = await seed_demo(svc, draws, leave_last_unscored=False, tender=SEALED_TENDER,
                              by_the_rules=True)
        await _close_by_the_rules(svc, sid, sign=sign,
                                  skip=lambda ms: behind.__setitem__(0, behind[0] - ms))
    finally:
        uow.clock_ms = real
    return sid


async def _close_by_the_rules(
    svc: SessionService, sid: str, *, sign: ReportSigner | None, skip: Callable[[int], None]
) -> None:
    """From scoring to the handover (see :func:`seal_demo`); ``skip(ms)`` moves the
    clock forward."""
    primary = Principal("operator", *OPERATORS["sh-ggzy"], "sh-ggzy")
    seats = (await svc.get(SUPERVISOR, sid))["seats"]
    experts = {
        x["index"]: Principal("expert", x["expert_id"], x["expert_name"], x["venue_id"])
        for x in seats
    }

    async def cmd(p: Principal, body: dict[str, Any]) -> None:
        await svc.command(p, sid, body, key=None)

    await cmd(primary, {"command": "lock_scoring"})
    doc = await svc.get(SUPERVISOR, sid)
    leader = experts[doc["leader"]]
    # A clarification (澄清): the leader asks a bidder, the primary records its answer.
    bid = doc["bids"][0]
    await cmd(leader, {
        "command": "request_clarification", "bid_id": bid["id"],
        "question": "请说明投标报价中安全文明施工费的计取依据"})
    attachment = "安全文明施工费按省定费率计取, 详见附件报价明细表".encode()
    await cmd(primary, {
        "command": "record_clarification_answer", "id": 1,
        "answer": "按省建设工程计价规则规定的费率计取, 未低于规定标准",
        "attachment_sha256": hashlib.sha256(attachment).hexdigest()})
    # A re-review (复核): the leader asks, the supervisor approves, the seat scores again,
    # the stage locks again; the first result stays in the record.
    bid3 = doc["bids"][2]
    await cmd(leader, {
        "command": "request_rereview", "stage": "scoring", "seats": [REREVIEWED_SEAT],
        "reason": f"第{REREVIEWED_SEAT + 1}席评委对{bid3['bidder']}“项目实施计划”（客观分）"
                  "的评分与评分标准不一致"})
    await cmd(SUPERVISOR, {"command": "decide_rereview", "approve": True,
                           "reason": "经核实属客观分评分错误，同意对该评委的评分复核"})
    row = SCORES[REREVIEWED_SEAT % len(SCORES)]
    corrected = {b["id"]: {"T1": Decimal(x), "T2": Decimal(y), "C1": Decimal(z)}
                 for b, (x, y, z) in zip(doc["bids"], row, strict=True)}
    corrected[bid3["id"]]["T2"] = Decimal("9")  # the objective item, as the standard says
    await svc.submit_sheet(experts[REREVIEWED_SEAT], sid,
                           {"stage": "scoring", "bids": corrected}, key=f"demo-r-{sid}")
    await cmd(primary, {"command": "lock_scoring"})
    agg = await svc.aggregation(SUPERVISOR, sid)
    for pending in agg["pending_explanations"]:
        await cmd(experts[pending["seat"]], {
            "command": "explain_deviation", "bid_id": pending["bid_id"],
            "text": "评分依据投标文件技术方案章节, 已在评审意见中说明"})
    await cmd(primary, {"command": "start_report"})
    # A dissent (不同意见) and the deemed agreement are part of what the members sign:
    # recorded after a signature, they would change the report under it.
    await cmd(experts[DISSENTING_SEAT], {"command": "record_dissent", "text": DISSENT})
    # 暂行规定 第43条: past the signing deadline, seat 6 has neither signed nor stated a
    # dissent — the committee's written note, confirmed by the supervisor; then the
    # others sign the report that records it.
    skip(svc.sign_within * 1000 + 60_000)
    await cmd(leader, {"command": "record_refusal", "seat": REFUSING_SEAT, "note": REFUSAL_NOTE})
    await cmd(SUPERVISOR, {"command": "confirm_deemed_agreement", "seat": REFUSING_SEAT})
    report = await svc.report(SUPERVISOR, sid)
    for index, expert in experts.items():
        if index == REFUSING_SEAT:
            continue
        body: dict[str, Any] = {"command": "sign_report", "report_sha256": report["sha256"]}
        if sign is not None:
            body.update(sign(index, base64.b64decode(report["signing_bytes"])))
        await cmd(expert, body)
    await cmd(primary, {"command": "seal"})
    # The handover (交接): each secondary venue hands over, the primary acknowledges.
    items = [{"item": x, "confirmed": True} for x in svc.handover.items]
    for venue in doc["venues"]:
        if not venue["primary"]:
            op = Principal("operator", *OPERATORS[venue["id"]], venue["id"])
            await cmd(op, {"command": "record_handover", "items": items})
            await cmd(primary, {"command": "acknowledge_handover", "venue_id": venue["id"]})


# (seat index, the report's signing bytes) → extra fields of that seat's sign_report.
ReportSigner = Callable[[int, bytes], dict[str, Any]]


# The dev PKI's experts (evalsvc/pki/devpki.py) who hold a seat of the live demo session,
# so that certificate sign-in and signing work out of the box: (venue, the person's ID
# number, their key files in ``<trust dir>/browser/``, the key's algorithm).
CERTIFICATE_HOLDERS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("ah-hefei", WANG_ID, (("expert-wang-AH", "ECDSA P-384"),)),
    ("zj-hangzhou", ZHANG_ID, (("expert-zhang-ZJ", "SM2"), ("expert-zhang-SH", "RSA"))),
    ("js-suzhou", LI_ID, (("expert-li-JS", "ECDSA P-256"),)),
)


CITIES = {v["id"]: v["city"] for v in [DEMO_SESSION["primary_venue"],
                                        *DEMO_SESSION["secondary_venues"]]}


async def give_certificates(
    svc: SessionService, draws: DrawService, sid: str
) -> list[tuple[int, str, tuple[tuple[str, str], ...]]]:
    """Make the dev PKI's experts the pool records of one seat per venue in
    :data:`CERTIFICATE_HOLDERS` (their ``resident_id`` becomes the certificate's ID
    number, which is how certificate login finds a seat: docs/pki.md); returns (seat
    index, venue, key files). Demo only: a real pool holds each person's own number."""
    seats = (await svc.get(SUPERVISOR, sid))["seats"]
    given = []
    for venue, number, files in CERTIFICATE_HOLDERS:
        seat = next(x for x in seats if x["venue_id"] == venue)
        eid = str(seat["expert_id"])

        def tx(conn: Any, eid: str = eid, number: str = number) -> None:
            expert = xstore.load_experts(conn, [eid])[eid]
            xstore.import_experts(
                conn, [replace(expert, resident_id=number)], now_ms=draws.uow.clock_ms()
            )

        await draws.db.write(tx)
        given.append((int(seat["index"]), venue, files))
    return given


def _sqlite_path(url: str) -> str | None:
    if url.startswith("sqlite:///"):
        return str(Path(url[len("sqlite:///"):]).resolve())
    return None


def _program() -> str:
    """How to run evalsvc from here: the console script beside this Python (``.venv/bin/
    evalsvc`` after ``./dev demo``; relative when under the current directory), else
    ``python -m evalsvc`` — a fresh clone has no ``evalsvc`` on its PATH."""
    script = Path(sys.executable).parent / "evalsvc"
    if not script.is_file():
        return f"{shlex.quote(sys.executable)} -m evalsvc"
    try:
        return shlex.quote(str(script.absolute().relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(script.absolute()))


def supervisor_commands(
    database_url: str, session_id: str, *, config: str | None, program: str | None = None
) -> list[str]:
    """The exact commands a supervisor runs to obtain the sealed demo session's trust
    policy from the server's settings, export its bundle, and verify it offline."""
    prog = program or _program()
    cfg = f" --config {shlex.quote(config)}" if config else ""
    db = shlex.quote(database_url)
    out = f"bundle-{session_id}"
    policy = f"policy-{session_id}.txt"
    return [
        f"{prog}{cfg} audit trust-policy {session_id} --database {db} --out {policy}",
        f"{prog}{cfg} audit export {session_id} --database {db} --out {out}",
        f"{prog}{cfg} audit verify {out} --trusted-keys {policy}",
    ]


def _tokens(
    secret: bytes, ttl: int, now: int, experts: list[tuple[str, str]]
) -> list[tuple[str, str, str]]:
    def tok(role: str, subject: str, name: str, venue: str | None) -> str:
        return issue_token(
            secret,
            role=role,
            subject=subject,
            name=name,
            venue=venue,
            now=now,
            ttl_seconds=ttl,
            nonce=secrets.token_hex(8),
        )

    out = [
        (
            "主场操作员 primary operator (上海)",
            "sh-ggzy",
            tok("operator", *OPERATORS["sh-ggzy"], "sh-ggzy"),
        )
    ]
    for v, label in (("js-suzhou", "苏州"), ("zj-hangzhou", "杭州"), ("ah-hefei", "合肥")):
        out.append(
            (
                f"副场操作员 secondary operator ({label})",
                v,
                tok("operator", *OPERATORS[v], v),
            )
        )
    # Every token names a person (the audit log's actor), supervisors too.
    out.append(("监督 supervisor", "-", tok("supervisor", SUPERVISOR.subject, SUPERVISOR.name,
                                          None)))
    # The site supervisor (现场监督) of a secondary venue: its venue's seats and check-in,
    # and the incident form (docs/api.md "Supervision by scope").
    out.append(("现场监督 site supervisor (苏州)", "js-suzhou",
                tok("site_supervisor", *SITE_SUPERVISOR, "js-suzhou")))
    eid, name = experts[-1]
    out.append(
        (
            f"专家 expert {name}（待评分 still to score）",
            "ah-hefei",
            tok("expert", eid, name, "ah-hefei"),
        )
    )
    eid, name = experts[0]
    out.append((f"专家 expert {name}", "sh-ggzy", tok("expert", eid, name, "sh-ggzy")))
    return out


async def run_demo(
    settings: Settings, *, serve: bool = True, config: str | None = None
) -> int:
    """Start the app, seed the demo, print what to open, serve until interrupted."""
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=True)
    await runner.setup()
    try:
        sealed = await seal_demo(app[SESSIONS], app[DRAWS])
        sid = await seed_demo(app[SESSIONS], app[DRAWS])
        seated = (await app[SESSIONS].get(SUPERVISOR, sid))["seats"]
        keys_dir = settings.resolve(settings.pki.trust_dir) / "browser"
        holders = (
            await give_certificates(app[SESSIONS], app[DRAWS], sid)
            if keys_dir.is_dir() else []
        )
        host, port = settings.server.host, settings.server.port
        if serve:
            await web.TCPSite(runner, host, port).start()
        base = f"http://{host}:{port}"
        hours = min(DEMO_TOKEN_TTL_HOURS, settings.auth.token_ttl_hours)
        now = int(time.time())
        tokens = _tokens(app[PRINCIPAL_SECRET], hours * 3600, now,
                         [(x["expert_id"], x["expert_name"]) for x in seated])
        until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now + hours * 3600))
        print(f"\n评标演示已就绪 / demo session ready: {sid}", flush=True)
        print(f"  {DEMO_SESSION['title']}")
        print("  主场 上海 (3 席) · 副场 苏州 (2) · 杭州 (1) · 合肥 (1) — 7 人评标委员会, 3 份投标")
        print("  评标委员会由四个场地与监督共同生成的随机种子抽取 (committee drawn on a"
              " five-party seed; `evalsvc draw verify --session` checks it)")
        print("  当前阶段: 详细评审（评分） — 6/7 位专家已提交, 合肥专家待提交\n")
        print(f"打开 / open:  {base}/   (粘贴下列令牌 / paste a token below, or use the links)")
        print(
            f"令牌有效期 {hours} 小时，至 {until} / the tokens expire in {hours} h, at {until} "
            "(run the demo again for new ones)\n"
        )
        for label, venue, tok in tokens:
            print(f"  {label} [{venue}]")
            print(f"    {base}/#token={tok}\n")
        if holders:
            print("证书登录（演示：测试证书，私钥未加密，仅供试用）/ certificate sign-in with the"
                  " demo's test keys:")
            print(f"  打开 / open {base}/#session={sid} → 数字证书, 选择文件 / choose a file:")
            for index, venue, files in holders:
                for name, algorithm in files:
                    key_file = keys_dir / f"{name}.pem"
                    print(f"    第 {index + 1} 席 ({CITIES[venue]}) {algorithm}: {key_file}")
            print()
        print(f"API: {base}/api/openapi.json   health: {base}/healthz\n")
        url = settings.database.url
        print(f"数据库 / database: {url}"
              + (f"  ({path})" if (path := _sqlite_path(url)) else ""))
        print(f"已封存的演示会话 / sealed demo session: {sealed}")
        print("  全流程 / every step: 回避声明与候补专家补抽 · 两轮推选评标委员会负责人 · 澄清 ·"
              " 复核（监督批准）· 不同意见 · 拒签视为同意（监督确认）· 封存 · 交接")
        print("  评标报告 / its evaluation report（请求带 Authorization: Bearer <令牌>）:")
        print(f"    {base}/api/sessions/{sealed}/report.html")
        print(f"    {base}/api/sessions/{sealed}/report.pdf")
        print(f"监督员离线核验 / a supervisor's offline check (run in {Path.cwd()}):")
        for line in supervisor_commands(url, sealed, config=config):
            print(f"  {line}")
        print()
        # The live session's report exists once the committee starts it (lock scoring,
        # start the report): the draft for the members and supervisors, everyone's after
        # the seal.
        print("进行中会话的评标报告 / the live session's report（开始编写报告后可取；封存前草稿"
              "仅专家与监督可看，封存后各方可看）:")
        print(f"  {base}/api/sessions/{sid}/report.html")
        print(f"  {base}/api/sessions/{sid}/report.pdf")
        print("  离线校验 / verify offline: evalsvc report verify report.pdf"
              " [--trusted-keys certs/]\n")
        print("按 Ctrl+C 停止 / Ctrl+C to stop", flush=True)
        if not serve:
            return 0
        while True:
            await asyncio.sleep(3600)
    finally:
        await runner.cleanup()
