"""The worked example of docs/draw.md, recomputed: if this fails, update the document."""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import tomllib

from evalsvc.config import PROJECT_ROOT
from evalsvc.experts.bundle import Ceremony, ceremony_seed, draw_bundle
from evalsvc.experts.draw import draw
from evalsvc.experts.pool import Pool
from evalsvc.experts.rules import exclusions, load_rules
from evalsvc.experts.seed import Commitment, Reveal, commitment_digest
from evalsvc.experts.synth import synthetic_experts

SESSION = "SH-2026-GC-0042"
CST = _dt.timezone(_dt.timedelta(hours=8))
SECRETS = {"shanghai": bytes.fromhex("5348" * 16), "suzhou": bytes.fromhex("4a53" * 16),
           "hefei": bytes.fromhex("4148" * 16)}
COMMITMENTS = {
    "shanghai": "39275ec1b46746d341ab3ba1ae1b792be18763a97de428a715aa43f865f2ed14",
    "suzhou": "b1e7c7ffaf479ceaa638387b70ace28bfbb76bfb7b22522582b9d7635beb855b",
    "hefei": "1a2e02ec127c7359d02f0d20523ec2eb4ae1d46d7078a682b41bf0c08f020946",
}
SEED = "3c11c81139cf834b4847253f0cb95eaffcdf6fb24cca6b775a1b63f45cc80828"


def _at(minute: int) -> _dt.datetime:
    return _dt.datetime(2026, 12, 1, 9, minute, tzinfo=CST)


def test_worked_example_of_docs_draw_md() -> None:
    with open(PROJECT_ROOT / "config" / "draw-rules.example.toml", "rb") as fh:
        config = load_rules(tomllib.load(fh))
    experts = synthetic_experts(1000, seed=1, as_of=_dt.date(2026, 11, 1))
    pool = Pool.from_experts(experts)

    for party, secret in SECRETS.items():
        assert commitment_digest(secret, party=party, session_id=SESSION) == COMMITMENTS[party]
    ceremony = Ceremony(
        _at(10), _at(20),
        tuple(Commitment(p, COMMITMENTS[p], _at(n)) for n, p in enumerate(SECRETS)),
        (Reveal("shanghai", SECRETS["shanghai"], _at(11)),
         Reveal("suzhou", SECRETS["suzhou"], _at(12))),
    )
    seed_result = ceremony_seed(SESSION, ceremony)
    assert seed_result.seed.hex() == SEED
    assert [(d.party, d.reason) for d in seed_result.dropped] == [("hefei", "no_reveal")]

    ctx = config.rules.context
    excluded, _ = exclusions(config.rules.expert_rule, pool, ctx)
    assert len(excluded) == 133
    per_rule = [len(exclusions(r, pool, ctx)[0]) for r in config.rules.expert_rule.rules]  # type: ignore[attr-defined]
    assert per_rule == [110, 0, 2, 18, 1, 3, 1]
    sh_a01 = list(pool.candidates("SH", "A01"))
    base = [i for i in sh_a01 if i not in excluded]
    assert (len(sh_a01), len(base)) == (86, 66)
    v = config.rules.expert_rule.check(pool.expert(pool.index_of("ESH000093")), ctx)
    assert v is not None and v.message == (
        "rule declared_relationship: expert ESH000093 declared a relationship to 沈立新,"
        " principal of bidder 浙江中天建设工程有限公司"
    )
    assert [pool.ids[i] for i in base[:3]] == ["ESH000003", "ESH000031", "ESH000033"]
    assert pool.ids[base[-1]] == "ESH000995"

    mac = hmac.new(seed_result.seed, bytes(12), hashlib.sha256).digest()
    assert mac.hex() == "7cb54f5121dae2a231ba03cfdd4cd1c8ac588774f8da21022ffe2f6f19f8ab19"
    x = int.from_bytes(mac, "big")
    assert x == 56407139968332346025231973170661231822536689112560897518698181578253361785625
    assert 2**256 % 66 == 64 and x % 66 == 1

    result = draw(pool, config.rules, config.seats, seed_result.seed)
    assert result.member_ids[0] == "ESH000031"
    mac1 = hmac.new(seed_result.seed, (1).to_bytes(4, "big") + bytes(8), hashlib.sha256)
    assert mac1.hexdigest() == "5423c3220ea74afbd11db8e332c3b740a583323566a3e15255506faf4737332d"
    assert int.from_bytes(mac1.digest(), "big") % 65 == 19
    assert result.member_ids[1] == pool.ids[[i for i in base if pool.ids[i] != "ESH000031"][19]]
    assert result.member_ids[1] == "ESH000259"
    assert [(s.member.expert_id, *(a.expert_id for a in s.alternates)) for s in result.seats] == [
        ("ESH000031", "ESH000557", "ESH000929"),
        ("ESH000259", "ESH000568", "ESH000101"),
        ("ESH000606", "ESH000003", "ESH000748"),
        ("EJS000702", "EJS000149", "EJS000946"),
        ("EJS000202", "EJS000522", "EJS000538"),
        ("EAH000329", "EAH000221", "EAH000517"),
        ("EAH000677", "EAH000055", "EAH000062"),
    ]
    assert [s.member.eligible for s in result.seats] == [66, 65, 64, 67, 66, 13, 12]
    assert result.digest() == "c51e5d597fa500f271b0918f72885b9d059e58dbb73e879ef54f233b1a89ae2c"

    bundle = draw_bundle(experts, config.document, result, ceremony=ceremony)
    assert bundle["pool_sha256"] == (
        "65a3f68a0bbd130d2d9bd27dbc62bc90ee63ff698fe1490130889137aacca5aa"
    )
    assert bundle["rules_sha256"] == (
        "f3e6f433287e19e9f08f1f9e634ed28412e9994989928c40330e513b15260ac8"
    )
