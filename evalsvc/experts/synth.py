"""A realistic synthetic expert pool for tests, demos and benchmarks. Pure: seed and date in.

Names are Chinese, resident ID numbers carry a valid GB 11643 check digit and a birth
date, employers carry valid GB 32100 unified social credit codes, and the pool has the
untidy parts real pools have: suspended and retired experts, penalties, declared
relationships, collaborations and evaluation histories. A few fixed organisations
(:data:`WELL_KNOWN`) appear as employers and counterparts so that the example rules file
``config/draw-rules.example.toml`` recuses real experts of a synthetic pool.
"""

from __future__ import annotations

__all__ = ["WELL_KNOWN", "WELL_KNOWN_PRINCIPALS", "synthetic_experts", "synthetic_uscc"]

import datetime as _dt
import random
from collections.abc import Mapping

from evalsvc.experts.pool import (
    REGIONS,
    Collaboration,
    Evaluation,
    Expert,
    Organisation,
    Penalty,
    Relationship,
)
from evalsvc.experts.specialties import SPECIALTIES
from evalsvc.ids import resident_id_check_char, uscc_check_char

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红云飞鹏辉斌宇浩凯健俊帆帅旭宁龙林欣悦"
    "晨博文晓峰海波亮春梅玉兰德福永庆海燕立新光荣嘉怡子涵思远雨轩宏伟国强卫东建华振华"
)
# Administrative division codes (GB/T 2260) of a few districts per region.
_DIVISIONS: Mapping[str, tuple[str, ...]] = {
    "SH": ("310101", "310104", "310105", "310106", "310110", "310112", "310115"),
    "JS": ("320102", "320106", "320205", "320505", "320506", "320583", "321002"),
    "ZJ": ("330102", "330106", "330108", "330203", "330302", "330402", "330602"),
    "AH": ("340102", "340104", "340111", "340202", "340302", "340503", "341002"),
}
_CITIES: Mapping[str, tuple[str, ...]] = {
    "SH": ("上海", "浦东", "闵行", "徐汇"),
    "JS": ("南京", "苏州", "无锡", "扬州", "常州"),
    "ZJ": ("杭州", "宁波", "温州", "湖州", "绍兴"),
    "AH": ("合肥", "芜湖", "蚌埠", "马鞍山", "黄山"),
}
_ORG_WORDS = ("华建", "中天", "恒信", "宏达", "天衡", "东方", "长江", "新城", "鼎盛", "正大",
              "联合", "金桥", "海晟", "瑞丰", "同济", "致远", "明德", "信达", "安泰", "中科")
_ORG_KINDS = (
    "工程咨询有限公司", "建筑设计研究院有限公司", "建设工程有限公司", "造价师事务所有限公司",
    "工程监理有限公司", "信息技术有限公司", "医疗器械有限公司", "会计师事务所(特殊普通合伙)",
    "律师事务所", "交通规划设计院有限公司", "建设集团有限公司", "项目管理有限公司",
)
# Professional titles (职称) that fit a specialty class, by the first specialty code.
_TITLES: Mapping[str, tuple[str, ...]] = {
    "A": ("高级工程师", "高级工程师", "正高级工程师", "教授", "副教授", "研究员"),
    "B": ("高级工程师", "正高级工程师", "研究员", "副教授"),
    "B03": ("主任医师", "副主任医师", "高级工程师"),
    "C": ("高级工程师", "高级经济师", "正高级工程师", "副教授"),
    "D01": ("高级会计师", "正高级会计师", "教授"),
    "D02": ("一级律师", "二级律师", "教授"),
    "D03": ("高级经济师", "正高级经济师", "研究员"),
}
_LEAVES = tuple(c for c in SPECIALTIES if len(c) > 3 or
                (not any(k.startswith(c + ".") for k in SPECIALTIES) and len(c) == 3))


def synthetic_uscc(rng: random.Random, division: str) -> str:
    """A valid unified social credit code of a company (登记管理部门 9, 类别 1) in ``division``."""
    # GB 11714 organisation code: 8 digits + its MOD 11 check character.
    body = [rng.randrange(10) for _ in range(8)]
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    c9 = 11 - sum(b * w for b, w in zip(body, weights, strict=True)) % 11
    check = "X" if c9 == 10 else "0" if c9 == 11 else str(c9)
    first17 = "91" + division + "".join(map(str, body)) + check
    return first17 + uscc_check_char(first17)


def _fixed_uscc(division: str, org_code: str) -> str:
    first17 = "91" + division + org_code
    return first17 + uscc_check_char(first17)


# Fixed counterparts used by config/draw-rules.example.toml; synthetic experts work for,
# relate to and have evaluated for them, so the example's recusal rules have work to do.
WELL_KNOWN: Mapping[str, Organisation] = {
    "tenderer": Organisation("上海申江城市建设投资有限公司", _fixed_uscc("310115", "13220001X")),
    "supervisor": Organisation(
        "上海市浦东新区建设和交通委员会", _fixed_uscc("310115", "000000019")
    ),
    "bidder1": Organisation("江苏华建工程咨询有限公司", _fixed_uscc("320505", "134660112")),
    "bidder2": Organisation("浙江中天建设工程有限公司", _fixed_uscc("330106", "142570315")),
    "bidder3": Organisation("安徽恒信建筑设计研究院有限公司", _fixed_uscc("340104", "148800227")),
}
# Principals (主要负责人) of the well-known bidders, also named in the example rules.
WELL_KNOWN_PRINCIPALS: Mapping[str, str] = {
    "bidder1": "顾建华", "bidder2": "沈立新", "bidder3": "汪振华",
}


def _name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _resident_id(rng: random.Random, region: str, as_of: _dt.date) -> str:
    birth = _dt.date(as_of.year - rng.randint(30, 68), 1, 1) + _dt.timedelta(rng.randrange(365))
    first17 = (
        rng.choice(_DIVISIONS[region]) + birth.strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"
    )
    return first17 + resident_id_check_char(first17)


def _recent(rng: random.Random, as_of: _dt.date, *, days: int) -> _dt.date:
    return as_of - _dt.timedelta(days=rng.randrange(1, days))


def synthetic_experts(count: int, *, seed: int, as_of: _dt.date) -> list[Expert]:
    """``count`` synthetic experts, the same for the same ``seed`` and ``as_of``."""
    rng = random.Random(seed)
    orgs: dict[str, list[Organisation]] = {}
    per_region = max(4, count // 80)
    for region in REGIONS:
        seen: set[str] = set()
        lst = orgs.setdefault(region, [])
        while len(lst) < per_region:
            words = rng.sample(_ORG_WORDS, 2)
            name = rng.choice(_CITIES[region]) + words[0] + words[1] + rng.choice(_ORG_KINDS)
            if name in seen:
                continue
            seen.add(name)
            lst.append(Organisation(name, synthetic_uscc(rng, rng.choice(_DIVISIONS[region]))))
    fixed_regions = {"tenderer": "SH", "supervisor": "SH", "bidder1": "JS", "bidder2": "ZJ",
                     "bidder3": "AH"}
    counterparts = [*WELL_KNOWN.values()]
    tenderers = [WELL_KNOWN["tenderer"]] + [rng.choice(orgs[r]) for r in REGIONS for _ in range(3)]
    principals = [*WELL_KNOWN_PRINCIPALS.values()]
    experts: list[Expert] = []
    width = max(6, len(str(count)))
    for n in range(count):
        region = rng.choices(REGIONS, weights=(30, 30, 25, 15))[0]
        if rng.random() < 0.004:
            key = rng.choice(tuple(fixed_regions))
            employer = WELL_KNOWN[key]
            region = fixed_regions[key]  # type: ignore[assignment]
        else:
            employer = rng.choice(orgs[region])
        specs = tuple(sorted(set(rng.sample(_LEAVES, rng.choice((1, 1, 2, 2, 3))))))
        r = rng.random()
        status = "active" if r < 0.90 else "suspended" if r < 0.97 else "retired"
        penalties: tuple[Penalty, ...] = ()
        if rng.random() < 0.02:
            penalties = (Penalty(_recent(rng, as_of, days=8 * 365), "评标打分明显畸高畸低"),)
        relationships: tuple[Relationship, ...] = ()
        if rng.random() < 0.03:
            org = rng.choice(counterparts) if rng.random() < 0.5 else rng.choice(orgs[region])
            relationships = (Relationship("organisation", org.name, org.uscc, "曾任职"),)
        elif rng.random() < 0.02:
            person = rng.choice(principals) if rng.random() < 0.5 else _name(rng)
            relationships = (Relationship("person", person, "", "近亲属"),)
        collaborations: tuple[Collaboration, ...] = ()
        if rng.random() < 0.03:
            org = rng.choice(counterparts) if rng.random() < 0.5 else rng.choice(orgs[region])
            collaborations = (Collaboration(org.uscc, _recent(rng, as_of, days=5 * 365), org.name),)
        evaluations: tuple[Evaluation, ...] = ()
        if rng.random() < 0.2:
            evaluations = tuple(
                sorted(
                    (Evaluation(rng.choice(tenderers).uscc, _recent(rng, as_of, days=2 * 365))
                     for _ in range(rng.randint(1, 6))),
                    key=lambda v: (v.date, v.tenderer_uscc),
                )
            )
        experts.append(
            Expert(
                id=f"E{region}{n:0{width}d}",
                name=_name(rng),
                resident_id=_resident_id(rng, region, as_of),
                region=region,
                employer=employer,
                specialties=specs,
                title=rng.choice(_TITLES.get(specs[0][:3]) or _TITLES[specs[0][:1]]),
                years=rng.randint(8, 40),
                status=status,  # type: ignore[arg-type]
                penalties=penalties,
                relationships=relationships,
                collaborations=collaborations,
                evaluations=evaluations,
            )
        )
    return experts
