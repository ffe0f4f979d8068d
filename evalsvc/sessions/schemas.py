"""Wire shapes of request bodies (pydantic, ``extra="forbid"``) and their validation.

These check *shape* — types, required and unknown fields — and name the field of every
problem; domain rules (check characters, ranges, states) are the core's
(:mod:`evalsvc.sessions.model`, :mod:`evalsvc.sessions.machine`). The same models give
the JSON Schemas of the OpenAPI document.
"""

from __future__ import annotations

__all__ = [
    "AverageBenchmarkIn",
    "BidIn",
    "CommandIn",
    "CriterionIn",
    "DepartmentIn",
    "RulesIn",
    "SessionCreate",
    "SheetIn",
    "VenueIn",
    "parse_body",
]

import math
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    StrictBool,
    StrictStr,
    ValidationError,
    WithJsonSchema,
)
from pydantic.config import JsonDict, JsonValue
from pydantic.types import Strict

from evalsvc.errors import FieldError, InvalidInput

M = TypeVar("M", bound=BaseModel)


def _whole_number(value: Any) -> Any:
    # JSON has one number type: 1.0 is the integer 1 (RFC 8259 §6, JSON Schema's
    # "integer"), read here as a Decimal (evalsvc.jsonin) or a float. Anything with a
    # fraction or out of range, and every non-number, is left for the strict check to
    # refuse by name.
    t = type(value)
    finite = (t is Decimal and value.is_finite()) or (t is float and math.isfinite(value))
    if finite and abs(value) <= _WHOLE_MAX and value == int(value):
        return int(value)
    return value


_WHOLE_MAX = 2**63


# An integer as JSON means it: a number without a fraction (``7``, ``7.0``), never a
# string or a boolean. (Pydantic's StrictInt refused 7.0, which the OpenAPI document's
# "integer" allows: a client written from the document was refused.)
StrictInt = Annotated[int, BeforeValidator(_whole_number), Strict()]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# A decimal as a JSON number or as a string (``"30.5"``, exact). Pydantic's own schema
# says "any string", which the document then promised: the pattern is the strings the
# Decimal parser takes (ASCII digits; no NaN or Infinity; it refuses exponents of 20
# digits and more).
DECIMAL_PATTERN = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,4})?$"
Points = Annotated[
    Decimal,
    Field(allow_inf_nan=False),
    WithJsonSchema(
        {"anyOf": [{"type": "number"}, {"type": "string", "pattern": DECIMAL_PATTERN}]}
    ),
]


class VenueIn(_In):
    id: StrictStr = Field(description="venue id, e.g. `sh-ggzy`")
    name: StrictStr
    region: Literal["SH", "JS", "ZJ", "AH"]
    city: StrictStr
    seats: StrictInt = Field(description="committee seats at this venue")


# Examples in the OpenAPI document: requests the server accepts as they are (valid unified
# social credit codes, the criteria of a weighted-scoring session), which clients and
# Schemathesis' examples phase send before anything generated.
_VENUE: JsonDict = {
    "id": "sh-ggzy", "name": "上海市公共资源交易中心", "region": "SH", "city": "上海", "seats": 3
}
_BID: JsonDict = {
    "id": "B1", "bidder": "上海浦江智能科技有限公司", "uscc": "91310115MA1K3P7Q27",
    "price_fen": 1_286_000_000, "legal_representative": "陈浦江", "principals": ["林智远"],
}
_CRITERIA: list[JsonValue] = [
    {"id": "Q1", "name": "营业执照与资质证书有效", "category": "qualification"},
    {"id": "T1", "name": "技术方案", "category": "technical", "max_points": 50,
     "guidance": "方案完整、可行，与需求逐条对应的得 40–50 分；有缺项的每项扣 5 分"},
    {"id": "C1", "name": "商务条款响应", "category": "commercial", "max_points": 10},
    {"id": "P1", "name": "投标报价", "category": "price", "max_points": 40,
     "formula": "lowest_price_ratio"},
]


class BidProvenanceIn(_In):
    """Where a bid's documents came from, as the trading platform read them when the
    bid was uploaded (docs/alerts.md "Bid provenance"). Every field is optional; the
    pattern alerts compare them between bids. Shown to supervisors only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    author: StrictStr | None = Field(None, description="投标文件编制人 (document author)")
    machine_code: StrictStr | None = Field(
        None, description="编制机器码: MAC address / disk / CPU id of the producing machine")
    software: StrictStr | None = Field(
        None, description="编制软件及其授权号: producing software with its licence id")
    project_manager: StrictStr | None = Field(None, description="项目负责人 (project manager)")
    agent: StrictStr | None = Field(None, description="委托代理人 (the bidder's agent)")
    deposit_account: StrictStr | None = Field(
        None, description="保证金转出账户 (account the bid deposit was paid from)")


class BidIn(_In):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {"id": "B4", "bidder": "安徽巢湖智联科技有限公司", "uscc": "91340100MA2TQ8W355",
                 "price_fen": 1_250_000_000, "legal_representative": "周巢湖"}
            ]
        },
    )

    id: StrictStr
    bidder: StrictStr
    uscc: StrictStr = Field(description="unified social credit code (GB 32100, 18 chars)")
    price_fen: StrictInt = Field(description="bid price in fen (分), an integer")
    provenance: BidProvenanceIn | None = Field(
        None, description="optional: what the pattern alerts compare (supervisors only)")
    legal_representative: StrictStr | None = Field(
        default=None, description="法定代表人: recused experts' declared relations are matched"
        " against this name (docs/draw.md §6.1)")
    principals: list[StrictStr] = Field(
        default_factory=list, description="other principals (主要负责人), matched the same way")


class DepartmentIn(_In):
    name: StrictStr
    uscc: StrictStr = Field(description="unified social credit code (GB 32100, 18 chars)")


class CriterionIn(_In):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [{"id": "T9", "name": "售后服务", "category": "technical", "max_points": 5}]
        },
    )

    id: StrictStr
    name: StrictStr
    category: Literal["qualification", "compliance", "technical", "commercial", "price"]
    max_points: Points = Field(
        default=Decimal(0), description="0 for qualification and compliance (pass/fail)")
    formula: StrictStr | None = Field(
        default=None,
        description="price criteria: `lowest_price_ratio` or `average_benchmark`; "
        "absent: the session's `rules.price_formula`",
    )
    # The length is the core's to check (evalsvc.sessions.model, a zh-CN message naming
    # the field); the schema only documents it.
    guidance: StrictStr | None = Field(
        default=None,
        description="评分指引: how experts score this criterion (zh-CN text, at most 1000"
        " characters, not blank), shown beside it on every sheet and in the report's method"
        " section; in a 暗标 session it must not name a bidder or its USCC",
        json_schema_extra={"maxLength": 1000},
    )


class AverageBenchmarkIn(_In):
    """Parameters of the ``average_benchmark`` price formula (docs/scoring.md)."""

    factor: Points | None = Field(
        default=None, description="评标基准价 = mean of valid prices × factor (0.5–1.5; default 1)"
    )
    drop_extremes: StrictBool | None = Field(
        default=None, description="leave the highest and the lowest price out of the mean"
    )
    drop_min_count: StrictInt | None = Field(
        default=None, description="drop them only with at least this many valid prices (default 5)"
    )
    deduct_above: Points | None = Field(
        default=None, description="points lost per 1 % above the benchmark (default 1)"
    )
    deduct_below: Points | None = Field(
        default=None, description="points lost per 1 % below the benchmark (default 0.5)"
    )
    floor: Points | None = Field(default=None, description="lowest price score (default 0)")


class RulesIn(_In):
    step: Points | None = None
    deviation_share: Points | None = None
    drop_extremes: StrictBool | None = None
    price_formula: Literal[
        "lowest_price_ratio", "average_benchmark", "lowest_evaluated_price"
    ] | None = Field(
        default=None,
        description="weighted scoring: `lowest_price_ratio` (default) or `average_benchmark`; "
        "lowest evaluated price: `lowest_evaluated_price`",
    )
    average_benchmark: AverageBenchmarkIn | None = None


class SessionCreate(_In):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "title": "智慧水务平台建设项目",
                    "tenderer": "长三角生态绿色一体化发展示范区执行委员会",
                    "tender_number": "CSJ-2026-ZHSW-0007",
                    "tenderer_uscc": "11310000MB2F3E4D5C",
                    "supervising_departments": [
                        {"name": "长三角生态绿色一体化发展示范区执行委员会建设管理局",
                         "uscc": "11310000MB2F3E4E5D"}],
                    "method": "weighted_scoring",
                    "primary_venue": _VENUE,
                    "secondary_venues": [
                        {"id": "js-suzhou", "name": "苏州市公共资源交易中心", "region": "JS",
                         "city": "苏州", "seats": 2}
                    ],
                    "bids": [_BID],
                    "criteria": _CRITERIA,
                }
            ]
        },
    )

    title: StrictStr
    tenderer: StrictStr
    tender_number: StrictStr = Field(
        description="招标项目编号; a session of a tender number seen before draws only with"
        " a supervisor's approval (docs/draw.md §6.8)")
    tenderer_uscc: StrictStr = Field(description="the tenderer's unified social credit code")
    supervising_departments: list[DepartmentIn] = Field(
        default_factory=list, description="项目主管部门 / 行政监督部门 (recusal, §2.3 rule 3)")
    method: Literal["weighted_scoring", "lowest_evaluated_price"]
    primary_venue: VenueIn
    secondary_venues: list[VenueIn] = Field(default_factory=list)
    bids: list[BidIn] = Field(default_factory=list)
    criteria: list[CriterionIn] = Field(default_factory=list)
    rules: RulesIn | None = None
    stages: Literal["combined", "split"] = Field(
        default="combined",
        description="`split`: technical, then commercial scoring, each locked on its own")
    anonymous: StrictBool = Field(
        default=False,
        description="暗标: experts see bids only by code during the technical stage"
        " (needs `stages: split`)")
    tenderer_representative_seats: list[StrictInt] = Field(
        default_factory=list,
        description="seats (by index) of the tenderer's representatives (招标人代表); "
        "with `[rules] leader_excludes_tenderer_representative` they cannot be elected leader",
    )


class _Cmd(_In):
    pass


class OpenDrawIn(_Cmd):
    command: Literal["open_draw"]


class AssignSeatIn(_Cmd):
    command: Literal["assign_seat"]
    seat: StrictInt
    # As the pool keeps them (experts/tables.py): a proposal is a pool member's.
    expert_id: StrictStr = Field(min_length=1, max_length=64)
    expert_name: StrictStr = Field(min_length=1, max_length=100)


class DesignateExpertsIn(_Cmd):
    command: Literal["designate_experts"]
    reason: StrictStr = Field(min_length=1, max_length=2000)


class DecideDesignationIn(_Cmd):
    command: Literal["decide_designation"]
    approve: StrictBool
    reason: StrictStr = Field(min_length=1, max_length=2000)


class CompleteDrawIn(_Cmd):
    command: Literal["complete_draw"]


class StartCheckInIn(_Cmd):
    command: Literal["start_check_in"]


class CheckInIn(_Cmd):
    command: Literal["check_in"]
    seat: StrictInt


class AcceptPledgeIn(_Cmd):
    """Accept the integrity pledge (承诺书) of ``GET …/pledge``: ``sha256`` pins the
    text read (a different text: 409)."""

    command: Literal["accept_pledge"]
    sha256: StrictStr = Field(pattern="^[0-9a-f]{64}$")


class DeclarationIn(_In):
    bid_id: StrictStr
    conflict: StrictBool
    reason: StrictStr | None = Field(default=None, max_length=2000)


class DeclareInterestsIn(_Cmd):
    """Declare, bid by bidder, no conflict of interest or a conflict with its reason
    (回避声明); a conflict vacates your seat and calls the draw's next alternate."""

    command: Literal["declare_interests"]
    declarations: list[DeclarationIn] = Field(max_length=500)


class OpenElectionIn(_Cmd):
    command: Literal["open_election"]


class CastVoteIn(_Cmd):
    """Your sealed ballot: a candidate seat, or null for a blank ballot."""

    command: Literal["cast_vote"]
    candidate: StrictInt | None


class CloseRoundIn(_Cmd):
    command: Literal["close_round"]


class RecordRefusalIn(_Cmd):
    """The committee's written note that ``seat`` neither signed nor dissented by the
    signing deadline (暂行规定 第43条); the leader or the primary operator records it."""

    command: Literal["record_refusal"]
    seat: StrictInt
    note: StrictStr = Field(min_length=1, max_length=4000)


class ConfirmDeemedAgreementIn(_Cmd):
    command: Literal["confirm_deemed_agreement"]
    seat: StrictInt


class RequestReReviewIn(_Cmd):
    """The leader asks that a locked stage be re-reviewed by ``seats`` only."""

    command: Literal["request_rereview"]
    stage: Literal["qualification", "compliance", "scoring", "technical", "commercial"] = "scoring"
    seats: list[StrictInt] = Field(min_length=1, max_length=100)
    reason: StrictStr = Field(min_length=1, max_length=2000)


class DecideReReviewIn(_Cmd):
    command: Literal["decide_rereview"]
    approve: StrictBool
    reason: StrictStr = Field(min_length=1, max_length=2000)


class RequestClarificationIn(_Cmd):
    """The committee's leader records a question to the bidder of ``bid_id``
    (澄清、说明、补正), during the evaluation."""

    command: Literal["request_clarification"]
    bid_id: StrictStr = Field(min_length=1, max_length=64)
    question: StrictStr = Field(min_length=1, max_length=4000)


class RecordClarificationAnswerIn(_Cmd):
    """The primary operator records the bidder's answer to clarification ``id``
    (numbered from 1) and the SHA-256 (64 hex digits) of its attachment."""

    command: Literal["record_clarification_answer"]
    id: StrictInt = Field(ge=1)
    answer: StrictStr = Field(min_length=1, max_length=8000)
    attachment_sha256: StrictStr = Field(pattern="^[0-9a-fA-F]{64}$")


class RecordIncidentIn(_Cmd):
    """A supervisor records an incident at a venue (现场监督记录): ``category``, what
    happened (``text``) and when (``occurred_at``, ISO 8601 with its UTC offset). A site
    supervisor records at its own venue (``venue_id`` may be left out); the tender's
    supervisor names the venue."""

    command: Literal["record_incident"]
    venue_id: StrictStr | None = Field(default=None, min_length=1, max_length=32)
    category: Literal["identity", "discipline", "device", "venue", "other"]
    text: StrictStr = Field(min_length=1, max_length=4000)
    occurred_at: StrictStr = Field(min_length=10, max_length=40,
                                   examples=["2026-12-06T14:03:00+08:00"])


class RecordIncidentBody(_In):
    """The body of ``POST /api/sessions/{id}/incidents``: :class:`RecordIncidentIn`
    without ``command``."""

    venue_id: StrictStr | None = Field(default=None, min_length=1, max_length=32)
    category: Literal["identity", "discipline", "device", "venue", "other"]
    text: StrictStr = Field(min_length=1, max_length=4000)
    occurred_at: StrictStr = Field(min_length=10, max_length=40,
                                   examples=["2026-12-06T14:03:00+08:00"])


class HandoverItemIn(_In):
    item: StrictStr = Field(min_length=1, max_length=100)
    confirmed: StrictBool


class RecordHandoverIn(_Cmd):
    """After the seal, a secondary venue's operator records the handover of its
    materials: every configured item (``[rules] handover_items``), each confirmed."""

    command: Literal["record_handover"]
    items: list[HandoverItemIn] = Field(min_length=1, max_length=50)


class AcknowledgeHandoverIn(_Cmd):
    """The primary operator acknowledges receipt of ``venue_id``'s handover."""

    command: Literal["acknowledge_handover"]
    venue_id: StrictStr = Field(min_length=1, max_length=32)


class StartEvaluationIn(_Cmd):
    command: Literal["start_evaluation"]


class LockQualificationIn(_Cmd):
    command: Literal["lock_qualification"]


class LockScoringIn(_Cmd):
    command: Literal["lock_scoring"]


class LockComplianceIn(_Cmd):
    command: Literal["lock_compliance"]


class LockTechnicalIn(_Cmd):
    command: Literal["lock_technical"]


class LockCommercialIn(_Cmd):
    command: Literal["lock_commercial"]


class ExplainDeviationIn(_Cmd):
    command: Literal["explain_deviation"]
    bid_id: StrictStr
    text: StrictStr = Field(max_length=2000)


class StartReportIn(_Cmd):
    command: Literal["start_report"]


class RecordDissentIn(_Cmd):
    command: Literal["record_dissent"]
    text: StrictStr = Field(max_length=4000)


class SignReportIn(_Cmd):
    """Sign the report of ``GET /api/sessions/{id}/report``. An expert who logged in by
    certificate must send ``signature`` (base64, over the report's ``signing_bytes``) and
    ``certificate`` (PEM chain, leaf first); ``report_sha256`` pins the version read."""

    command: Literal["sign_report"]
    report_sha256: StrictStr | None = Field(default=None, pattern="^[0-9a-f]{64}$")
    signature: StrictStr | None = Field(default=None, max_length=8192)
    certificate: StrictStr | None = Field(default=None, max_length=65536)


class SealIn(_Cmd):
    command: Literal["seal"]


class PauseIn(_Cmd):
    command: Literal["pause"]
    reason: StrictStr = Field(max_length=500)


class ResumeIn(_Cmd):
    command: Literal["resume"]


class AbortIn(_Cmd):
    command: Literal["abort"]
    reason: StrictStr = Field(max_length=500)


Command = Annotated[
    OpenDrawIn
    | AssignSeatIn
    | DesignateExpertsIn
    | DecideDesignationIn
    | CompleteDrawIn
    | StartCheckInIn
    | CheckInIn
    | AcceptPledgeIn
    | DeclareInterestsIn
    | OpenElectionIn
    | CastVoteIn
    | CloseRoundIn
    | StartEvaluationIn
    | LockQualificationIn
    | LockScoringIn
    | LockComplianceIn
    | LockTechnicalIn
    | LockCommercialIn
    | ExplainDeviationIn
    | StartReportIn
    | RecordDissentIn
    | SignReportIn
    | RecordRefusalIn
    | ConfirmDeemedAgreementIn
    | RequestReReviewIn
    | DecideReReviewIn
    | RequestClarificationIn
    | RecordClarificationAnswerIn
    | RecordIncidentIn
    | RecordHandoverIn
    | AcknowledgeHandoverIn
    | SealIn
    | PauseIn
    | ResumeIn
    | AbortIn,
    Field(discriminator="command"),
]


class CommandIn(RootModel[Command]):
    """A lifecycle command, discriminated by ``command``.

    A root model, so that the body *is* the command (``{"command": "pause", …}``) and
    its JSON Schema — the OpenAPI request body — is the discriminated union itself, not
    an object with a ``root`` field the server would refuse."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"command": "lock_scoring"},
                {"command": "explain_deviation", "bid_id": "B1", "text": "依据技术方案第3节"},
            ]
        }
    )


class SheetIn(_In):
    """A score sheet: ``bids`` maps bid id → criterion id → value (see docs/api.md)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "stage": "scoring",
                    "bids": {
                        b: {"T1": "34", "T2": "8.5", "C1": "8"} for b in ("B1", "B2", "B3")
                    },
                }
            ]
        },
    )

    stage: Literal["qualification", "compliance", "scoring", "technical", "commercial"]
    bids: dict[StrictStr, dict[StrictStr, Any]]
    reasons: dict[StrictStr, dict[StrictStr, Any]] = Field(
        default_factory=dict,
        description="pass/fail stages: bid id → criterion id → the reason of each fail"
        " (required for every fail)")


def _path(loc: tuple[int | str, ...]) -> str:
    # Drop pydantic's union/discriminator tags ("open_draw", "function-after[...]") from paths.
    parts = [str(p) for p in loc if not (isinstance(p, str) and ("[" in p or p.endswith("In")))]
    return "/".join(parts) or "(body)"


def parse_body(model: type[M], data: Any) -> M:
    """Validate ``data`` against ``model``; :class:`InvalidInput` names every bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = []
        for e in exc.errors(include_url=False):
            loc = tuple(e["loc"])
            if model is CommandIn:
                # A union member's errors come under its tag (("pause", "reason")); a
                # missing or unknown tag has no location but the discriminator's.
                loc = loc[1:] if loc else ("command",)
            reason = {
                "extra_forbidden": "unknown field",
                "missing": "required field is missing",
            }.get(e["type"], e["msg"])
            errors.append(FieldError(_path(loc) if loc else "command", reason))
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InvalidInput(
            f"{first.field}: {first.reason}{more}", field=first.field, errors=tuple(errors)
        ) from None


def parse_command(data: Any) -> Any:
    """A command model from a body (``{"command": "pause", "reason": "…"}``)."""
    if isinstance(data, dict) and "command" not in data:
        raise InvalidInput("required field is missing", field="command")
    return parse_body(CommandIn, data).root
