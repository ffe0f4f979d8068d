"""Benchmark: a 9-seat draw with 18 alternates from a 100,000-expert pool, every rule on.

Prints figures; never passes or fails on time. Run from the repository root::

    .venv/bin/python bench/draw.py [--count 100000] [--draws 100]

Reports, in one run on the same machine:

- the draw (``evalsvc.experts.draw.draw``): p50/p99 over ``--draws`` seeds;
- a baseline: ``random.Random(seed).sample`` of 27 experts over the same eligible lists
  (the cost of picking alone, no rules, no verifiable stream), and the draw as a ratio;
- a naive scan: every recusal rule's ``check`` on every expert (what the indexes avoid);
- memory (tracemalloc): the Pool with its indexes, against a plain tuple of Expert objects.
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


def main() -> int:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--naive-runs", type=int, default=3)
    args = ap.parse_args()

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
