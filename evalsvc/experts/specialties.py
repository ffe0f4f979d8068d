"""The specialty code catalogue (评标专家专业分类). Pure data, no I/O.

Codes are hierarchical: a letter for the class, two digits for the discipline, and an
optional ``.NN`` for the sub-discipline (``A01.02``). A seat asking for ``A01`` is filled
by any expert holding ``A01`` or a code below it (``A01.02``), never ``A011``. The table
follows the shape of the national classification of evaluation experts (综合评标评审专家
专业分类标准) without claiming to reproduce it; deployments replace it with their own.
"""

from __future__ import annotations

__all__ = ["SPECIALTIES", "ancestors", "is_known", "matches"]

from collections.abc import Mapping
from types import MappingProxyType

SPECIALTIES: Mapping[str, str] = MappingProxyType(
    {
        "A": "工程",
        "A01": "房屋建筑工程",
        "A01.01": "建筑设计",
        "A01.02": "建筑结构",
        "A01.03": "建筑给排水",
        "A01.04": "暖通空调",
        "A01.05": "建筑电气与智能化",
        "A02": "市政公用工程",
        "A02.01": "城市道路",
        "A02.02": "桥梁隧道",
        "A02.03": "给水排水管网",
        "A02.04": "燃气热力",
        "A03": "交通运输工程",
        "A03.01": "公路工程",
        "A03.02": "水运港口",
        "A03.03": "城市轨道交通",
        "A04": "水利工程",
        "A04.01": "水工建筑",
        "A04.02": "河道整治",
        "A05": "电力工程",
        "A05.01": "输变电工程",
        "A05.02": "新能源发电",
        "B": "货物",
        "B01": "机械设备",
        "B01.01": "通用机械",
        "B01.02": "起重运输设备",
        "B02": "电子信息设备",
        "B02.01": "计算机及网络设备",
        "B02.02": "通信设备",
        "B03": "医疗设备",
        "B03.01": "医学影像设备",
        "B03.02": "检验分析设备",
        "B04": "办公设备与家具",
        "C": "服务",
        "C01": "工程咨询",
        "C01.01": "工程造价",
        "C01.02": "工程监理",
        "C02": "信息技术服务",
        "C02.01": "软件开发",
        "C02.02": "系统集成",
        "C03": "物业与后勤服务",
        "D": "经济与法律",
        "D01": "财务会计",
        "D02": "法律",
        "D03": "投资经济",
    }
)


def is_known(code: str) -> bool:
    """Whether ``code`` is in the catalogue."""
    return code in SPECIALTIES


def ancestors(code: str) -> tuple[str, ...]:
    """``code`` and every coarser code above it, coarsest first: ``A01.02`` → ``A, A01, A01.02``."""
    out = [code[:1]]
    if len(code) >= 3:
        out.append(code[:3])
    if len(code) > 3:
        out.append(code)
    return tuple(dict.fromkeys(out))


def matches(code: str, prefix: str) -> bool:
    """Whether an expert's ``code`` satisfies a seat asking for ``prefix`` (hierarchical)."""
    return prefix in ancestors(code)
