"""Wire shapes of request bodies (pydantic, ``extra="forbid"``) and their validation.

These check *shape* — types, required and unknown fields — and name the field of every
problem; domain rules (check characters, ranges, states) are the core's
(:mod:`evalsvc.sessions.model`, :mod:`evalsvc.sessions.machine`). The same models give
the JSON Schemas of the OpenAPI document.
"""

from __future__ import annotations

__all__ = [
    "BidIn",
    "CommandIn",
    "CriterionIn",
    "RulesIn",
    "SessionCreate",
    "SheetIn",
    "VenueIn",
    "parse_body",
]

from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    WithJsonSchema,
)

from evalsvc.errors import FieldError, InvalidInput

M = TypeVar("M", bound=BaseModel)


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


class BidIn(_In):
    id: StrictStr
    bidder: StrictStr
    uscc: StrictStr = Field(description="unified social credit code (GB 32100, 18 chars)")
    price_fen: StrictInt = Field(description="bid price in fen (分), an integer")


class CriterionIn(_In):
    id: StrictStr
    name: StrictStr
    category: Literal["qualification", "technical", "commercial", "price"]
    max_points: Points = Field(default=Decimal(0), description="0 for qualification (pass/fail)")
    formula: StrictStr | None = Field(
        default=None, description="price criteria: `lowest_price_ratio`"
    )


class RulesIn(_In):
    step: Points | None = None
    deviation_share: Points | None = None
    drop_extremes: StrictBool | None = None
    price_formula: StrictStr | None = None


class SessionCreate(_In):
    title: StrictStr
    tenderer: StrictStr
    method: Literal["weighted_scoring", "lowest_evaluated_price"]
    primary_venue: VenueIn
    secondary_venues: list[VenueIn] = Field(default_factory=list)
    bids: list[BidIn] = Field(default_factory=list)
    criteria: list[CriterionIn] = Field(default_factory=list)
    rules: RulesIn | None = None


class _Cmd(_In):
    pass


class OpenDrawIn(_Cmd):
    command: Literal["open_draw"]


class AssignSeatIn(_Cmd):
    command: Literal["assign_seat"]
    seat: StrictInt
    expert_id: StrictStr
    expert_name: StrictStr


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


class StartEvaluationIn(_Cmd):
    command: Literal["start_evaluation"]


class LockQualificationIn(_Cmd):
    command: Literal["lock_qualification"]


class LockScoringIn(_Cmd):
    command: Literal["lock_scoring"]


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
    | StartEvaluationIn
    | LockQualificationIn
    | LockScoringIn
    | ExplainDeviationIn
    | StartReportIn
    | RecordDissentIn
    | SignReportIn
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


class SheetIn(_In):
    """A score sheet: ``bids`` maps bid id → criterion id → value (see docs/api.md)."""

    stage: Literal["qualification", "scoring"]
    bids: dict[StrictStr, dict[StrictStr, Any]]


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
