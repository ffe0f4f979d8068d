"""Benchmark: a 9-seat draw with 18 alternates from a 100,000-expert pool, every rule on.

Prints figures; never passes or fails on time. Run from the repository root::

    .venv/bin/python bench/draw.py [--count 100000] [--draws 100]

Reports, in one run on the same machine:

- the draw (``evalsvc.experts.draw.draw``): p50/p99 over ``--draws`` seeds;
- a baseline: ``random.Random(seed).sample`` of 27 experts over the same eligible lists
  (the cost of picking alone, no rules, no verifiable stream), and the draw as a ratio;
- a naive scan: every recusal rule's ``check`` on every expert (what the indexes avoid);
- memory (tracemalloc): the Pool with its indexes, against a plain tuple of Expert objects;
- ``--ceremony N``: N full ceremonies over HTTP against a real server (SQLite, the suite's
  floors of config/test.toml so that a window can be short): four venues and the
  supervisor, from ``POST …/draw`` to the committee formed (every member accepts at
  once: invitation waits excluded), with the commitment window's wait shown apart.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import gc
import hashlib
import json
import random
import statistics
import sys
import time
import tomllib
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evalsvc.experts.draw import base_lists, draw  # noqa: E402
from evalsvc.experts.pool import Pool, pool_document, validated_experts  # noqa: E402
from evalsvc.experts.rules import load_rules  # noqa: E402
from evalsvc.experts.synth import synthetic_experts  # noqa: E402

AS_OF = _dt.date(2026, 11, 1)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


def _rules_doc() -> dict[str, object]:
    with open(ROOT / "config" / "draw-rules.example.toml", "rb") as fh:
        doc = tomllib.load(fh)
    doc = copy.deepcopy(doc)
    # 9 seats: the example's 7 plus two at a Hangzhou venue; every recusal rule on,
    # a cap on Shanghai, two alternates per seat.
    doc["venues"].append({"id": "hangzhou", "name": "杭州市公共资源交易中心(副场)", "region": "ZJ"})
    doc["seats"].append({"venue": "hangzhou", "specialty": "A02", "count": 2})
    doc["recusal"] = {
        "penalty_years": 3,
        "collaboration_years": 3,
        "max_evaluations_per_tenderer_per_year": 2,
    }
    doc["region_caps"] = {"SH": 3, "JS": 3}
    return doc


async def _ceremonies(n: int, count: int, window_s: float) -> None:
    """``n`` full ceremonies over HTTP, each in a new session: open → commit ×5 → wait
    for the commitment deadline → reveal ×5 (the last draws and invites) → 9 accepts."""
    import asyncio
    import secrets as _secrets
    import tempfile

    import aiohttp
    from aiohttp import web

    from evalsvc.app import create_app
    from evalsvc.auth import issue_token
    from evalsvc.config import load_settings
    from evalsvc.demo import DEMO_RULES, DEMO_SESSION
    from evalsvc.experts.seed import commitment_digest
    from evalsvc.experts.store import import_experts
    from evalsvc.httpkit import PRINCIPAL_SECRET
    from evalsvc.ids import uscc_check_char
    from evalsvc.typedefs import DB

    tmp = Path(tempfile.mkdtemp(prefix="evalsvc-bench-draw-"))
    settings = load_settings(ROOT / "config" / "test.toml", env={}, overrides={
        "database": {"url": f"sqlite:///{tmp / 'bench.db'}"},
        "auth": {"token_secret_file": str(tmp / "token-secret")},
        "audit": {"key_file": str(tmp / "audit.key")},
    })
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    experts = synthetic_experts(count, seed=2026, as_of=AS_OF)
    await app[DB].write(lambda c: import_experts(c, experts, now_ms=int(time.time() * 1000)))
    venues = [DEMO_SESSION["primary_venue"]["id"],
              *(v["id"] for v in DEMO_SESSION["secondary_venues"])]

    def tok(role: str, subject: str, venue: str | None) -> str:
        return issue_token(app[PRINCIPAL_SECRET], role=role, subject=subject, name=subject,
                           venue=venue, now=int(time.time()), ttl_seconds=3600,
                           nonce=_secrets.token_hex(8))

    parties = {**{v: tok("operator", f"op-{v}", v) for v in venues},
               "supervisor": tok("supervisor", "sup", None)}
    primary = parties[venues[0]]
    totals, waits, phases = [], [], {"open": [], "commit": [], "reveal+draw": [], "accept": []}
    async with aiohttp.ClientSession(base) as http:

        async def call(method: str, path: str, token: str, body: object = None) -> object:
            async with http.request(method, path, json=body,
                                    headers={"Authorization": f"Bearer {token}"}) as r:
                doc = await r.json()
                assert r.status < 300, (path, doc)
                return doc

        for i in range(n):
            # A tender per session — its own number and tenderer (name and USCC): the
            # same tender again would need an approval (§6.8). Its recusal inputs are
            # the session's; the rules name none of them (§6.1).
            body17 = f"11310000{i:09d}"
            s = await call("POST", "/api/sessions", primary, {
                **DEMO_SESSION, "tenderer": f"{DEMO_SESSION['tenderer']}{i}",
                "tenderer_uscc": body17 + uscc_check_char(body17),
                "tender_number": f"{DEMO_SESSION['tender_number']}-{i}"})
            rules = DEMO_RULES
            sid = s["id"]  # type: ignore[index]
            await call("POST", f"/api/sessions/{sid}/commands", primary,
                       {"command": "open_draw"})
            t0 = time.perf_counter()
            now = _dt.datetime.now(_dt.UTC)
            deadline = now + _dt.timedelta(seconds=window_s)
            opened = await call("POST", f"/api/sessions/{sid}/draw", primary, {
                "rules": rules, "commit_deadline": deadline.isoformat(),
                "reveal_deadline": (deadline + _dt.timedelta(seconds=60)).isoformat()})
            t1 = time.perf_counter()
            binding = f"{sid}#{opened['ceremony']}"  # type: ignore[index]
            chosen = {p: _secrets.token_bytes(32) for p in parties}
            await asyncio.gather(*(
                call("POST", f"/api/sessions/{sid}/draw/commitments", t,
                     {"digest": commitment_digest(chosen[p], party=p, session_id=binding)})
                for p, t in parties.items()))
            t2 = time.perf_counter()
            wait = (deadline - _dt.datetime.now(_dt.UTC)).total_seconds() + 0.005
            await asyncio.sleep(max(0.0, wait))
            t3 = time.perf_counter()
            await asyncio.gather(*(
                call("POST", f"/api/sessions/{sid}/draw/reveals", t,
                     {"secret": chosen[p].hex()})
                for p, t in parties.items() if p != "supervisor"))
            await call("POST", f"/api/sessions/{sid}/draw/reveals", parties["supervisor"],
                       {"secret": chosen["supervisor"].hex()})
            t4 = time.perf_counter()
            view = await call("GET", f"/api/sessions/{sid}/draw", parties["supervisor"])
            await asyncio.gather(*(
                call("POST", f"/api/sessions/{sid}/invitation",
                     tok("expert", x["expert_id"], x["venue_id"]), {"accept": True})
                for x in view["seats"]))  # type: ignore[index]
            t5 = time.perf_counter()
            state = await call("GET", f"/api/sessions/{sid}", parties["supervisor"])
            assert state["state"] == "ready", state  # type: ignore[index]
            totals.append(t5 - t0 - (t3 - t2))
            waits.append(t3 - t2)
            for k, v in zip(phases, (t1 - t0, t2 - t1, t4 - t3, t5 - t4), strict=True):
                phases[k].append(v)
    await runner.cleanup()
    med = statistics.median
    print(f"ceremony over HTTP: {n} sessions, 4 venues + supervisor, 7 seats, pool"
          f" {count:,}, SQLite; commitment window {window_s * 1e3:.0f} ms")
    print(f"  open → committee, window wait excluded: median {med(totals) * 1e3:.0f} ms,"
          f" max {max(totals) * 1e3:.0f} ms (goal < 1000 ms)")
    print("  phases (median ms): " + ", ".join(f"{k} {med(v) * 1e3:.0f}"
                                              for k, v in phases.items())
          + f"; window wait {med(waits) * 1e3:.0f}")


def main() -> int:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--naive-runs", type=int, default=3)
    ap.add_argument("--ceremony", type=int, default=0, metavar="N",
                    help="only: N full ceremonies over HTTP (see the module docstring)")
    ap.add_argument("--ceremony-pool", type=int, default=10_000, metavar="COUNT")
    ap.add_argument("--window-ms", type=int, default=300)
    args = ap.parse_args()
    if args.ceremony:
        import asyncio

        asyncio.run(_ceremonies(args.ceremony, args.ceremony_pool, args.window_ms / 1000))
        return 0

    t = time.perf_counter()
    experts = synthetic_experts(args.count, seed=2026, as_of=AS_OF)
    synth_s = time.perf_counter() - t
    data = json.dumps(pool_document(experts), ensure_ascii=False).encode("utf-8")
    del experts
    gc.collect()

    # Timings first, without tracemalloc (it slows every allocation down).
    t = time.perf_counter()
    loaded = validated_experts(data, fmt="json").experts
    import_s = time.perf_counter() - t
    t = time.perf_counter()
    pool = Pool.from_experts(loaded)
    build_s = time.perf_counter() - t
    del pool, loaded
    gc.collect()

    # Memory of what a loaded pool keeps: parse the file, build the Pool, drop the rest.
    tracemalloc.start()
    loaded = validated_experts(data, fmt="json").experts
    gc.collect()
    list_bytes = tracemalloc.get_traced_memory()[0]
    pool = Pool.from_experts(loaded)
    del loaded
    gc.collect()
    pool_bytes, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    config = load_rules(_rules_doc())
    rules, seats = config.rules, config.seats
    seeds = [hashlib.sha256(b"bench" + n.to_bytes(4, "big")).digest() for n in range(args.draws)]
    draw(pool, rules, seats, seeds[0])  # warm-up

    times = []
    for seed in seeds:
        t = time.perf_counter()
        result = draw(pool, rules, seats, seed)
        times.append(time.perf_counter() - t)
    picks = len(result.seats) + sum(len(s.alternates) for s in result.seats)

    bases = base_lists(pool, rules, seats)
    base_times = []
    for seed in seeds:
        t = time.perf_counter()
        rng = random.Random(seed)
        for base in bases:
            rng.sample(base, 1 + rules.alternates)
        base_times.append(time.perf_counter() - t)

    naive_times = []
    ctx = rules.context
    check = rules.expert_rule.check
    for _ in range(args.naive_runs):
        t = time.perf_counter()
        eligible = [i for i in range(len(pool)) if check(pool.expert(i), ctx) is None]
        naive_times.append(time.perf_counter() - t)

    p50, p99 = _percentile(times, 0.50) * 1e3, _percentile(times, 0.99) * 1e3
    b50, b99 = _percentile(base_times, 0.50) * 1e3, _percentile(base_times, 0.99) * 1e3
    print(
        f"pool: {len(pool):,} synthetic experts (synth {synth_s:.1f} s, import {import_s:.1f} s,"
        f" Pool build {build_s:.2f} s)"
    )
    print(
        f"memory (tracemalloc): Pool + indexes {pool_bytes / 2**20:.1f} MiB"
        f" ({pool_bytes / len(pool):.0f} B/expert); as a tuple of Expert objects"
        f" {list_bytes / 2**20:.1f} MiB; peak while building {peak_bytes / 2**20:.1f} MiB"
    )
    n_rules = len(getattr(rules.expert_rule, "rules", ()))
    print(
        f"draw: {len(seats)} seats + {picks - len(seats)} alternates, {n_rules} recusal"
        f" rules + caps {dict(rules.region_caps)}, {args.draws} seeds"
    )
    print(f"  evalsvc draw          p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
    print(
        f"  baseline Random.sample p50 {b50:7.3f} ms   p99 {b99:7.3f} ms"
        f"   (draw/baseline at p50: {p50 / b50:.0f}x)"
    )
    print(
        f"  naive scan (check() x every expert, once): {statistics.median(naive_times) * 1e3:.0f}"
        f" ms median of {args.naive_runs}; {len(eligible):,} pass recusal"
    )
    print(f"  eligible per seat (first pick): {[s.member.eligible for s in result.seats]}")
    print(f"python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
