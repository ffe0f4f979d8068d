"""The report as a reader sees it: one list of blocks (headings, paragraphs, tables) built
from the canonical document and what the reader may see, rendered to HTML here and to PDF
by :mod:`evalsvc.report.pdf`. Pure: no I/O.

Every section of :data:`~evalsvc.report.document.SECTIONS` is rendered, an empty one as
"无", so a reader sees that nothing was recorded rather than a missing heading.
"""

from __future__ import annotations

__all__ = [
    "Block",
    "CheckpointRef",
    "Heading",
    "Member",
    "Para",
    "ReportView",
    "Table",
    "footer_lines",
    "html_report",
    "report_blocks",
]

import datetime as _dt
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evalsvc.report.document import FAULTS_HEADING, INCIDENTS_HEADING, METHOD_NAMES, SECTIONS

NONE = "无"
_CATEGORY = {
    "qualification": "资格审查（合格/不合格）",
    "compliance": "符合性审查（合格/不合格）",
    "technical": "技术",
    "commercial": "商务",
    "price": "价格",
}
_FORMULA = {
    "lowest_price_ratio": "最低价比值法（基准价 = 有效最低投标价；得分 = 基准价 / 报价 × 分值）"
}
_STAGE = {"qualification": "资格审查", "compliance": "符合性审查", "scoring": "详细评审",
          "technical": "技术评审", "commercial": "商务评审"}
_CST = _dt.timezone(_dt.timedelta(hours=8))


def _formula_text(formula: str, rules: Mapping[str, Any]) -> str:
    """The price formula in words, with the tender's coefficients (docs/scoring.md)."""
    bench = rules.get("average_benchmark")
    if formula != "average_benchmark" or not isinstance(bench, Mapping):
        return _FORMULA.get(formula, formula)
    drop = (f"报价不少于 {bench.get('drop_min_count')} 家时去掉一个最高价和一个最低价，"
            if bench.get("drop_extremes") else "")
    return (f"评标基准价法（{drop}评标基准价 = 有效投标报价算术平均值 × {bench.get('factor')}；"
            f"报价每高于评标基准价 1% 扣 {bench.get('deduct_above')} 分，每低于 1% 扣"
            f" {bench.get('deduct_below')} 分，按插值计算，最低 {bench.get('floor')} 分）")


@dataclass(frozen=True)
class Member:
    """One seat as the reader may see it: the name only after the seal."""

    seat: int
    venue: str
    name: str | None
    signed: bool
    signature: str  # how it was signed, for the reader ("数字证书签名（SM2，浙江）")


@dataclass(frozen=True)
class CheckpointRef:
    """The signed audit-log checkpoint that covers the report's signatures."""

    origin: str
    size: int
    root_b64: str


@dataclass(frozen=True)
class ReportView:
    """Everything a rendering shows: the signed document and what surrounds it."""

    doc: Mapping[str, Any]
    sha256: str
    sealed: bool
    members: tuple[Member, ...]
    checkpoint: CheckpointRef | None


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[int, ...] | None = None  # relative column widths (None: equal)


Block = Heading | Para | Table


def _yuan(fen: int | None) -> str:
    if fen is None:
        return "—"
    return f"{fen // 100:,}.{fen % 100:02d}"


def _when(unix: int) -> str:
    return _dt.datetime.fromtimestamp(unix, _CST).strftime("%Y-%m-%d %H:%M（北京时间）")


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int] | None = None
) -> list[Block]:
    if not rows:
        return [Para(NONE)]
    return [
        Table(tuple(header), tuple(tuple(r) for r in rows), tuple(widths) if widths else None)
    ]


def footer_lines(view: ReportView) -> tuple[str, str]:
    """The two lines every page carries: the report's SHA-256, and the audit checkpoint
    that holds its signatures (or why there is none yet)."""
    first = f"报告 SHA-256: {view.sha256}"
    cp = view.checkpoint
    if cp is None:
        second = "审计检查点: 尚无（报告草稿，签署后由检查点收录）"
    else:
        second = f"审计检查点: {cp.origin} 树大小 {cp.size} 根 {cp.root_b64}"
    return first, second


def report_blocks(view: ReportView) -> list[Block]:
    """The report as blocks, in the order of Art. 42."""
    d = view.doc
    basic, committee, method = d["basic"], d["committee"], d["method"]
    venues = {v["id"]: v for v in basic["venues"]}
    out: list[Block] = [Heading("评标报告", 1), Para(basic["title"])]
    out.append(
        Para(
            "状态: 已封存。评标委员会成员姓名随封存公布。"
            if view.sealed
            else "状态: 草稿（尚未封存）。评标委员会成员姓名在封存后公布。"
        )
    )
    heads = dict(SECTIONS)

    out.append(Heading(heads["basic"]))
    primary = venues[basic["primary_venue"]]
    secondary = [f"{v['name']}（{v['city']}）" for v in basic["venues"] if not v["primary"]]
    out += _table(
        ("项目", "内容"),
        [
            ("项目名称", basic["title"]),
            ("招标人", basic["tenderer"]),
            ("评标方法", METHOD_NAMES.get(basic["method"], basic["method"])),
            ("主场", f"{primary['name']}（{primary['city']}）"),
            ("副场", "、".join(secondary) or NONE),
            ("投标文件数量", f"{basic['bids']} 份"),
            ("评标会话编号", str(d["session"])),
            ("登记时间", _when(int(basic["registered_at"]))),
        ],
        (1, 3),
    )

    out.append(Heading(heads["committee"]))
    out += _table(
        ("席位", "场地", "姓名", "签署"),
        [
            (
                f"第 {m.seat + 1} 席",
                m.venue,
                m.name if m.name is not None else "（封存后公布）",
                m.signature if m.signed else "未签署",
            )
            for m in view.members
        ],
        (2, 3, 3, 4),
    )
    leader = committee.get("leader_seat")
    out.append(Para(f"评标委员会负责人: {f'第 {leader + 1} 席' if leader is not None else NONE}"))
    pledges = committee.get("pledges") or []
    out.append(Para("承诺书与回避声明:" + ("" if pledges else f" {NONE}")))
    if pledges:
        out += _table(
            ("席位", "承诺书", "回避声明"),
            [
                (
                    f"第 {int(p.get('seat', 0)) + 1} 席",
                    f"已签署（SHA-256 {str(p['pledge_sha256'])[:16]}…）"
                    if p.get("pledge_sha256") else "未签署",
                    "已声明，无利害关系" if p.get("declared") else "未声明",
                )
                for p in pledges
            ],
        )
    recusals = committee.get("recusals") or []
    out.append(Para("回避及补抽:" + ("" if recusals else f" {NONE}")))
    if recusals:
        out += _table(
            ("席位", "申请回避的投标", "处理"),
            [
                (f"第 {int(r['seat']) + 1} 席", "、".join(r.get("bids", [])),
                 "原专家回避，由抽取记录中的候补专家递补")
                for r in recusals
            ],
        )

    out.append(Heading(heads["opening"]))
    out += _table(
        ("序号", "投标人", "统一社会信用代码", "投标报价（元）"),
        [
            (str(i + 1), b["bidder"], b["uscc"], _yuan(b["price_fen"]))
            for i, b in enumerate(d["opening"])
        ],
        (1, 4, 4, 3),
    )

    out.append(Heading(heads["compliant"]))
    out += _table(("投标人",), [(b["bidder"],) for b in d["compliant"]])

    out.append(Heading(heads["rejected"]))
    out += _table(
        ("投标人", "原因"), [(b["bidder"], "；".join(b["reasons"])) for b in d["rejected"]], (1, 3)
    )

    out.append(Heading(heads["method"]))
    out.append(Para(f"评标方法: {method['name']}"))
    rows = [
        (
            c["name"],
            _CATEGORY.get(c["category"], c["category"]),
            "—" if c["category"] in ("qualification", "compliance") else c["max_points"],
        )
        for c in method["criteria"]
    ]
    if any(c.get("guidance") for c in method["criteria"]):
        # 评分指引 as registered (the experts read the same text beside each field).
        out += _table(("评分项", "类别", "分值", "评分指引"),
                      [(*r, c.get("guidance") or "—") for r, c in zip(rows, method["criteria"],
                                                                        strict=True)],
                      (3, 2, 1, 6))
    else:
        out += _table(("评分项", "类别", "分值"), rows, (3, 3, 1))
    rules = method["rules"]
    formula = rules.get("price_formula", "")
    out.append(
        Para(
            f"评分步长 {rules.get('step')} 分；偏离度阈值 ±{rules.get('deviation_share')}；"
            f"价格分计算: {_formula_text(formula, rules)}"
        )
    )

    out.append(Heading(heads["comparison"]))
    scored = [c for c in method["criteria"] if c["category"] in ("technical", "commercial")]
    if method["method"] == "lowest_evaluated_price":
        out += _table(
            ("投标人", "投标报价（元）", "经评审的投标价（元）"),
            [
                (r["bidder"], _yuan(r["price_fen"]), _yuan(r["evaluated_price_fen"]))
                for r in d["comparison"]
            ],
        )
    else:
        out += _table(
            ("投标人", *(c["name"] for c in scored), "技术", "商务", "价格分", "总分"),
            [
                (
                    r["bidder"],
                    *(r["criteria"].get(c["id"], "—") for c in scored),
                    r["technical"],
                    r["commercial"],
                    r["price_score"],
                    r["total"],
                )
                for r in d["comparison"]
            ],
        )
    if d["explanations"]:
        out.append(Para("评分偏离说明:"))
        bidders = {b["bid_id"]: b["bidder"] for b in d["opening"]}
        out += _table(
            ("席位", "投标人", "说明"),
            [
                (f"第 {e['seat'] + 1} 席", bidders.get(e["bid_id"], e["bid_id"]), e["text"])
                for e in d["explanations"]
            ],
            (1, 2, 5),
        )

    out.append(Heading(heads["ranking"]))
    out += _table(
        ("名次", "投标人", "备注"),
        [
            (str(r["rank"]), r["bidder"], "并列，须由评标委员会确定" if r["tie_unresolved"] else "")
            for r in d["ranking"]
        ],
        (1, 4, 3),
    )

    out.append(Heading(heads["candidates"]))
    ordinals = ("第一", "第二", "第三")
    out += _table(
        ("中标候选人", "投标人"),
        [(f"{ordinals[i]}中标候选人", c["bidder"]) for i, c in enumerate(d["candidates"])],
    )

    out.append(Heading(heads["clarifications"]))
    out += _table(
        ("投标人", "问题", "答复", "附件 SHA-256"),
        [
            (
                str(c.get("bidder") or c.get("bid_id") or ""),
                str(c.get("question", "")),
                str(c.get("answer", "")),
                str(c.get("attachment_sha256") or NONE),
            )
            for c in d["clarifications"]
        ],
    )

    out.append(Heading(heads["dissents"]))
    out.append(Para("不同意见:" + ("" if d["dissents"] else f" {NONE}")))
    if d["dissents"]:
        out += _table(
            ("席位", "不同意见及理由"),
            [(f"第 {x['seat'] + 1} 席", x["text"]) for x in d["dissents"]],
            (1, 5),
        )
    deemed = d["deemed_agreements"]
    out.append(Para("视为同意（拒绝签字且未说明理由）:" + ("" if deemed else f" {NONE}")))
    if deemed:
        out += _table(
            ("席位", "评标委员会说明", "监督确认"),
            [
                (
                    f"第 {int(x.get('seat', 0)) + 1} 席",
                    str(x.get("note", "")),
                    "监督人员已确认",
                )
                for x in deemed
            ],
        )
    rereviews = d.get("rereviews") or []
    if rereviews:
        out.append(Para("复核（重新评审）:"))
        out += _table(
            ("轮次", "阶段", "席位", "原因", "监督意见"),
            [
                (str(r["round"]), _STAGE.get(
                    r["stage"], r["stage"]), "、".join(f"第 {x + 1} 席" for x in r["seats"]),
                 r["reason"], r.get("decision") or "")
                for r in rereviews
            ],
        )

    out.append(Heading(INCIDENTS_HEADING))
    out += _table(
        ("序号", "场地", "类别", "发生时间", "情况"),
        [
            (str(x.get("id", "")),
             str(venues.get(str(x.get("venue_id")), {}).get("name", x.get("venue_id"))),
             INCIDENT_NAMES.get(str(x.get("category")), str(x.get("category"))),
             _when(int(x.get("occurred_at") or 0)), str(x.get("text", "")))
            for x in d.get("incidents") or []
        ],
        (1, 2, 2, 3, 6),
    )

    out.append(Heading(FAULTS_HEADING))
    names = {m.seat: m.name for m in view.members}
    out += _table(
        ("序号", "时间", "场地", "情况及处理", "依据"),
        [
            (str(n), _when(int(x.get("at") or 0)), _venue_name(venues, x.get("venue_id")),
             _fault_text(x, venues, names), _rule_text(x))
            for n, x in enumerate(d.get("faults") or [], 1)
        ],
        (1, 3, 2, 6, 3),
    )
    return out


_FAULTS = {
    "link_lost": "副场链路中断",
    "link_restored": "副场链路恢复",
    "paused": "评标暂停（副场链路中断）",
    "resumed": "链路恢复后评标继续",
    "materials_sealed": "评标资料封存",
    "reformed": "重新组建评标委员会",
    "suspended": "评标中止，另行择期组织",
}
_RULES = {
    "link_lost_pause_minutes": "链路中断满 {} 分钟即暂停",
    "resume_deadline_minutes": "暂停后 {} 分钟内未恢复即封存并重新组建",
    "suspend_after_minutes": "暂停后 {} 分钟内未重新开始评标即中止",
}


def _venue_name(venues: Mapping[str, Any], venue_id: Any) -> str:
    return str(venues.get(str(venue_id), {}).get("name", venue_id or "—"))


def _fault_text(x: Mapping[str, Any], venues: Mapping[str, Any],
                names: Mapping[int, str | None]) -> str:
    kind = str(x.get("kind"))
    text = _FAULTS.get(kind, kind)
    if kind != "reformed":
        return text
    # Which seats were replaced, where they sit now and the draw that seated each new
    # member (补抽); names as the committee list shows them (after the seal).
    seats = [s for s in x.get("seats") or [] if isinstance(s, Mapping)]
    parts = []
    for s in seats:
        seat = int(s.get("seat", 0))
        source = str(s.get("source") or "")
        how = (f"补抽（第 {source.split(':', 1)[1]} 次抽取）" if source.startswith("draw:")
               else "待补抽")
        who = names.get(seat)
        parts.append(f"第 {seat + 1} 席{how}" + (f"：{who}" if who else ""))
    where = f"，移至{_venue_name(venues, x.get('to'))}" if x.get("to") else ""
    return f"{text}{where}：" + ("；".join(parts) or NONE)


def _rule_text(x: Mapping[str, Any]) -> str:
    rule = x.get("rule")
    if not rule:
        return "—"
    return _RULES.get(str(rule), str(rule) + " {}").format(x.get("minutes") or "")


# The incident categories as the report names them (evalsvc.sessions.model.INCIDENT_CATEGORIES).
INCIDENT_NAMES = {"identity": "身份核验", "discipline": "评标纪律", "device": "通讯工具",
                  "venue": "场地设备与网络", "other": "其他"}



def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def html_report(view: ReportView) -> str:
    """The report as one HTML document (zh-CN; styled by /static/report.css, since the
    CSP allows no inline style)."""
    parts = [
        "<!doctype html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>评标报告 — {_esc(view.doc['basic']['title'])}</title>",
        '<link rel="stylesheet" href="/static/report.css">',
        "</head><body>",
    ]
    first, second = footer_lines(view)
    parts.append(
        f'<header class="integrity"><p>{_esc(first)}</p><p>{_esc(second)}</p></header><main>'
    )
    for b in report_blocks(view):
        if isinstance(b, Heading):
            parts.append(f"<h{b.level}>{_esc(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            parts.append(f"<p>{_esc(b.text)}</p>")
        else:
            head = "".join(f'<th scope="col">{_esc(h)}</th>' for h in b.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in b.rows
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    parts.append(
        f'</main><footer class="integrity"><p>{_esc(first)}</p><p>{_esc(second)}</p></footer>'
    )
    parts.append("</body></html>")
    return "\n".join(parts)
