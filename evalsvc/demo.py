"""``evalsvc demo``: a cross-region evaluation seeded through the real service, served.

Primary venue Shanghai (3 seats), secondary venues Suzhou (JS, 2), Hangzhou (ZJ, 1) and
Hefei (AH, 1): a 7-seat committee, 3 bids, weighted scoring. The session is taken through
the draw, check-in and qualification; six experts have scored, the seventh (at Hefei)
has not — log in as that expert, submit, then lock scoring as the Shanghai operator.
"""

from __future__ import annotations

__all__ = ["DEMO_SESSION", "DEMO_TOKEN_TTL_HOURS", "run_demo", "seed_demo"]

import asyncio
import secrets
import time
from decimal import Decimal
from typing import Any

from aiohttp import web

from evalsvc.app import create_app
from evalsvc.auth import Principal, issue_token
from evalsvc.config import Settings
from evalsvc.httpkit import PRINCIPAL_SECRET
from evalsvc.ids import uscc_check_char
from evalsvc.sessions.routes import SESSIONS
from evalsvc.sessions.service import SessionService


def _uscc(body: str) -> str:
    first17 = body[:17]
    return first17 + uscc_check_char(first17)


DEMO_SESSION: dict[str, Any] = {
    "title": "长三角示范区智慧水务平台建设项目（演示）",
    "tenderer": "长三角生态绿色一体化发展示范区执行委员会",
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
            "price_fen": 1_286_000_000,
        },
        {
            "id": "B2",
            "bidder": "江苏太湖数字工程有限公司",
            "uscc": _uscc("91320505MA1XY8K4L"),
            "price_fen": 1_198_500_000,
        },
        {
            "id": "B3",
            "bidder": "浙江钱塘水务信息技术股份有限公司",
            "uscc": _uscc("91330106MA2H9TQ3W"),
            "price_fen": 1_342_000_000,
        },
    ],
    "criteria": [
        {"id": "Q1", "name": "营业执照与资质证书有效", "category": "qualification"},
        {"id": "Q2", "name": "投标保证金已缴纳", "category": "qualification"},
        {"id": "T1", "name": "技术方案", "category": "technical", "max_points": 40},
        {"id": "T2", "name": "项目实施计划", "category": "technical", "max_points": 10},
        {"id": "C1", "name": "商务条款响应", "category": "commercial", "max_points": 10},
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

# Venue → (id, name) of the operator on duty: a person, so the audit log names who did
# what (issue "Blinding and integrity hold against an insider").
OPERATORS = {
    "sh-ggzy": ("op-sh-0012", "上海操作员 孙丽"),
    "js-suzhou": ("op-js-0031", "苏州操作员 钱程"),
    "zj-hangzhou": ("op-zj-0007", "杭州操作员 郑洁"),
    "ah-hefei": ("op-ah-0019", "合肥操作员 冯涛"),
}

# (id, name) per seat, in seat order: Shanghai ×3, Suzhou ×2, Hangzhou, Hefei.
EXPERTS = [
    ("E-SH-0107", "王建国"),
    ("E-SH-0233", "李慧敏"),
    ("E-SH-0318", "陈志远"),
    ("E-JS-0412", "张晓峰"),
    ("E-JS-0588", "刘雅琴"),
    ("E-ZJ-0721", "周文斌"),
    ("E-AH-0906", "吴思源"),
]

# Per expert: (T1, T2, C1) for B1, B2, B3.
SCORES = [
    [("34", "8", "8.5"), ("31", "7.5", "8"), ("36.5", "9", "9")],
    [("33", "8.5", "8"), ("30.5", "7", "8.5"), ("35", "8.5", "9")],
    [("35.5", "8", "9"), ("32", "8", "8"), ("34", "9", "8.5")],
    [("32", "7.5", "8"), ("33", "8", "8"), ("35.5", "8.5", "9.5")],
    [("34.5", "9", "8.5"), ("29", "7", "7.5"), ("36", "9", "9")],
    [("33.5", "8", "8"), ("31.5", "7.5", "8"), ("35", "8", "8.5")],
]


async def seed_demo(svc: SessionService, *, leave_last_unscored: bool = True) -> str:
    """Create the demo session through the service; returns its id."""
    venues = {v["id"] for v in [DEMO_SESSION["primary_venue"], *DEMO_SESSION["secondary_venues"]]}
    ops = {v: Principal("operator", *OPERATORS[v], v) for v in venues}
    primary = ops["sh-ggzy"]
    created = await svc.create(primary, DEMO_SESSION, key=None)
    sid = str(created.body["id"])
    seats = created.body["seats"]

    async def cmd(p: Principal, body: dict[str, Any]) -> None:
        await svc.command(p, sid, body, key=None)

    await cmd(primary, {"command": "open_draw"})
    for seat, (eid, name) in zip(seats, EXPERTS, strict=True):
        await cmd(
            primary,
            {
                "command": "assign_seat",
                "seat": seat["index"],
                "expert_id": eid,
                "expert_name": name,
            },
        )
    await cmd(primary, {"command": "complete_draw"})
    await cmd(primary, {"command": "start_check_in"})
    for seat in seats:
        await cmd(ops[seat["venue_id"]], {"command": "check_in", "seat": seat["index"]})
    await cmd(primary, {"command": "start_evaluation"})
    experts = [
        Principal("expert", eid, name, seat["venue_id"])
        for seat, (eid, name) in zip(seats, EXPERTS, strict=True)
    ]
    for i, e in enumerate(experts):
        verdicts = {b["id"]: {"Q1": True, "Q2": True} for b in DEMO_SESSION["bids"]}
        await svc.submit_sheet(
            e, sid, {"stage": "qualification", "bids": verdicts}, key=f"demo-q-{i}-{sid}"
        )
    await cmd(primary, {"command": "lock_qualification"})
    scorers = experts[:-1] if leave_last_unscored else experts
    for i, e in enumerate(scorers):
        row = SCORES[i % len(SCORES)]
        bids = {
            b["id"]: {"T1": Decimal(t1), "T2": Decimal(t2), "C1": Decimal(c1)}
            for b, (t1, t2, c1) in zip(DEMO_SESSION["bids"], row, strict=True)
        }
        await svc.submit_sheet(e, sid, {"stage": "scoring", "bids": bids}, key=f"demo-s-{i}-{sid}")
    return sid


def _tokens(secret: bytes, ttl: int, now: int) -> list[tuple[str, str, str]]:
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
    out.append(("监督 supervisor", "-", tok("supervisor", "sup-demo-zhao", "监督员 赵", None)))
    eid, name = EXPERTS[-1]
    out.append(
        (
            f"专家 expert {name}（待评分 still to score）",
            "ah-hefei",
            tok("expert", eid, name, "ah-hefei"),
        )
    )
    eid, name = EXPERTS[0]
    out.append((f"专家 expert {name}", "sh-ggzy", tok("expert", eid, name, "sh-ggzy")))
    return out


async def run_demo(settings: Settings, *, serve: bool = True) -> int:
    """Start the app, seed the demo, print what to open, serve until interrupted."""
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=True)
    await runner.setup()
    try:
        sid = await seed_demo(app[SESSIONS])
        host, port = settings.server.host, settings.server.port
        if serve:
            await web.TCPSite(runner, host, port).start()
        base = f"http://{host}:{port}"
        hours = min(DEMO_TOKEN_TTL_HOURS, settings.auth.token_ttl_hours)
        now = int(time.time())
        tokens = _tokens(app[PRINCIPAL_SECRET], hours * 3600, now)
        until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now + hours * 3600))
        print(f"\n评标演示已就绪 / demo session ready: {sid}", flush=True)
        print(f"  {DEMO_SESSION['title']}")
        print("  主场 上海 (3 席) · 副场 苏州 (2) · 杭州 (1) · 合肥 (1) — 7 人评标委员会, 3 份投标")
        print("  当前阶段: 详细评审（评分） — 6/7 位专家已提交, 合肥专家待提交\n")
        print(f"打开 / open:  {base}/   (粘贴下列令牌 / paste a token below, or use the links)")
        print(
            f"令牌有效期 {hours} 小时，至 {until} / the tokens expire in {hours} h, at {until} "
            "(run the demo again for new ones)\n"
        )
        for label, venue, tok in tokens:
            print(f"  {label} [{venue}]")
            print(f"    {base}/#token={tok}\n")
        print(f"API: {base}/api/openapi.json   health: {base}/healthz")
        print("按 Ctrl+C 停止 / Ctrl+C to stop", flush=True)
        if not serve:
            return 0
        while True:
            await asyncio.sleep(3600)
    finally:
        await runner.cleanup()
