"""Builders for experts and parties used across the expert tests."""

from __future__ import annotations

import datetime as _dt
import random
from typing import Any

from evalsvc.experts.pool import Expert, Organisation
from evalsvc.experts.rules import Party
from evalsvc.experts.synth import synthetic_uscc
from evalsvc.ids import resident_id_check_char

AS_OF = _dt.date(2026, 11, 1)


def uscc(n: int) -> str:
    """A valid USCC, different for each ``n``."""
    return synthetic_uscc(random.Random(n), "310104")


def resident_id(n: int) -> str:
    """A valid resident ID number, different for each ``n`` below 1000."""
    first17 = f"310104198001{1 + n % 28:02d}{n % 1000:03d}"
    return first17 + resident_id_check_char(first17)


def expert(expert_id: str, **kw: Any) -> Expert:
    """An active SH expert of specialty A01.02 working for organisation 1, unless told."""
    fields: dict[str, Any] = {
        "id": expert_id,
        "name": "张三",
        "resident_id": resident_id(1),
        "region": "SH",
        "employer": Organisation("上海甲公司", uscc(1)),
        "specialties": ("A01.02",),
        "title": "高级工程师",
        "years": 12,
    }
    fields.update(kw)
    return Expert(**fields)


def party(n: int, *principals: str) -> Party:
    """Organisation ``n`` as a party."""
    return Party(f"单位{n}", uscc(n), tuple(principals))
