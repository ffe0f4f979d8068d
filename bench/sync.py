"""Real-time fan-out: commit → frame latency at every other client, evalsvc vs bare aiohttp.

Shape: ``--sessions`` sessions (default 50) × (9 experts + 4 venue agents + 2
supervisors) = 750 WebSockets from this process to a server process on loopback. Each
expert submits one score sheet a second over its socket. Measured over ``--seconds``:

- p50/p99 from the event's commit time (the server's ``time``, stamped just before the
  transaction — so the figure includes the commit) to the frame being read by each client
  other than the submitter;
- frames delivered per second; server CPU (user+sys from /proc) per second and per
  frame; server RSS per idle connection (RSS after connecting all sockets minus before,
  divided by the number of sockets). For evalsvc, "before" is taken after every
  session's history and document were read twice over REST: SQLite keeps a page cache
  of up to 2 MiB per pooled connection (nine of them), which the 750 replays would
  otherwise fill while they are counted — memory that does not grow with connections
  (``PRAGMA cache_size=-100`` took 8 KiB off the figure). The figure without that
  warm-up is printed beside it ("cold");

for ``evalsvc serve`` on SQLite, for ``bench/bare_ws.py`` (same shape, durable insert,
naive broadcast, no auth/redaction/log/resume), and — with ``--postgres`` — for two
``evalsvc serve`` instances on one PostgreSQL database with the clients split across them.

    .venv/bin/python bench/sync.py [--sessions 50] [--seconds 20] [--rounds 3] \
        [--postgres postgresql://postgres@127.0.0.1:5432/test]

``--rounds N`` runs N evalsvc/bare pairs on SQLite and prints the median of their
ratios: on a shared machine one pair's ratio moves by ±15 %.

Figures only; it never fails on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from api import free_port, fresh_pg, wait_healthy  # noqa: E402
from conftest import scoring_sheet, session_doc  # noqa: E402

from evalsvc.auth import issue_token  # noqa: E402
from evalsvc.keys import load_or_create_secret  # noqa: E402

VENUES = [("sh-ggzy", "SH", "上海", 3), ("js-suzhou", "JS", "苏州", 2)]
VENUES += [("zj-hangzhou", "ZJ", "杭州", 2), ("ah-hefei", "AH", "合肥", 2)]
CLK_TCK = os.sysconf("SC_CLK_TCK")
# BENCH_PROFILE=FILE runs the (first) evalsvc server under cProfile, for finding hot spots.
PROFILE = (
    ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]] if "BENCH_PROFILE" in os.environ else []
)


def cpu_seconds(pid: int, *, thread: int | None = None) -> float:
    path = f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Tokens:
    def __init__(self, secret_file: Path) -> None:
        self.secret = load_or_create_secret(secret_file)

    def __call__(self, role: str, venue: str | None = None, subject: str | None = None) -> str:
        subject = subject or (f"op-{venue}" if role == "operator" else role)
        return issue_token(
            self.secret,
            role=role,
            subject=subject,
            name=subject,
            venue=venue,
            now=int(time.time()),
            ttl_seconds=7200,
            nonce=secrets.token_hex(8),
        )


def doc4() -> dict[str, Any]:
    doc = session_doc(seats=(3, 2, 2))
    doc["primary_venue"]["seats"] = 3
    doc["secondary_venues"] = [
        {"id": vid, "name": f"{city}中心", "region": reg, "city": city, "seats": n}
        for vid, reg, city, n in VENUES[1:]
    ]
    doc["criteria"] = [c for c in doc["criteria"] if c["category"] != "qualification"]
    return doc


async def prepare(http: aiohttp.ClientSession, base: str, tok: Tokens, n: int) -> list[Any]:
    """``n`` sessions in the scoring stage; per session (id, [(seat, expert token)])."""
    ops = {v[0]: tok("operator", v[0]) for v in VENUES}
    sup = tok("supervisor", subject="sup-bench")

    async def call(token: str, path: str, body: Any) -> Any:
        async with http.post(
            base + path, json=body, headers={"Authorization": f"Bearer {token}"}
        ) as r:
            out = await r.json()
            assert r.status in (200, 201), out
            return out

    async def get(token: str, path: str) -> Any:
        async with http.get(base + path, headers={"Authorization": f"Bearer {token}"}) as r:
            out = await r.json()
            assert r.status == 200, out
            return out

    async def one(k: int) -> Any:
        # One tender per session (its own tender number, docs/draw.md §6.8).
        s = await call(ops["sh-ggzy"], "/api/sessions",
                       {**doc4(), "tender_number": f"BENCH-SYNC-{k}"})
        sid = s["id"]
        cmd = f"/api/sessions/{sid}/commands"
        await call(ops["sh-ggzy"], cmd, {"command": "open_draw"})
        experts = []
        for seat in s["seats"]:
            eid = f"E{k:03d}-{seat['index']}"
            await call(
                ops["sh-ggzy"],
                cmd,
                {
                    "command": "assign_seat",
                    "seat": seat["index"],
                    "expert_id": eid,
                    "expert_name": eid,
                },
            )
            experts.append((seat["index"], tok("expert", seat["venue_id"], eid)))
        # A committee without a draw: designated, and approved by a supervisor.
        reason = "基准测试: 指定专家"
        await call(ops["sh-ggzy"], cmd, {"command": "designate_experts", "reason": reason})
        await call(sup, cmd, {"command": "decide_designation", "approve": True, "reason": reason})
        for c in ("complete_draw", "start_check_in"):
            await call(ops["sh-ggzy"], cmd, {"command": c})
        for seat in s["seats"]:
            await call(ops[seat["venue_id"]], cmd, {"command": "check_in", "seat": seat["index"]})
        # The pledge, the declarations and the leader election (docs/scoring.md).
        pledge = await get(experts[0][1], f"/api/sessions/{sid}/pledge")
        no_conflict = [{"bid_id": b["id"], "conflict": False} for b in doc4()["bids"]]
        for _, e in experts:
            await call(e, cmd, {"command": "accept_pledge", "sha256": pledge["sha256"]})
            await call(e, cmd, {"command": "declare_interests", "declarations": no_conflict})
        await call(ops["sh-ggzy"], cmd, {"command": "open_election"})
        for _, e in experts:
            await call(e, cmd, {"command": "cast_vote", "candidate": experts[0][0]})
        await call(ops["sh-ggzy"], cmd, {"command": "close_round"})
        for c in ("start_evaluation", "lock_qualification"):
            await call(ops["sh-ggzy"], cmd, {"command": c})
        return sid, experts

    sem = asyncio.Semaphore(8)

    async def limited(k: int) -> Any:
        async with sem:
            return await one(k)

    return list(await asyncio.gather(*(limited(k) for k in range(n))))


class Stats:
    def __init__(self) -> None:
        self.measuring = False
        self.latencies: list[float] = []
        self.ack_latencies: list[float] = []
        # (session, seq) → monotonic arrival times at the clients other than the submitter,
        # and at the submitter (its ack): the earliest of them approximates the commit.
        self.arrivals: dict[tuple[str, int], list[float]] = {}
        self.first: dict[tuple[str, int], float] = {}
        self.frames = 0
        self.acks = 0
        self.errors = 0


async def drive(
    bases: list[str],
    sessions: list[tuple[str, list[tuple[int, str]]]],
    tok: Tokens,
    pids: list[int],
    *,
    seconds: float,
    warmup: float = 3.0,
    warm: Callable[[aiohttp.ClientSession], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    stats = Stats()
    stop = asyncio.Event()
    ready = 0
    sockets = 0
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as http:
        rss_cold = rss_before = sum(rss_kib(p) for p in pids)
        if warm is not None:
            await warm(http)
            await asyncio.sleep(1.0)
            rss_before = sum(rss_kib(p) for p in pids)

        async def client(base: str, sid: str, token: str, seat: int | None) -> None:
            nonlocal ready, sockets
            ws = await http.ws_connect(f"{base.replace('http', 'ws', 1)}/ws/sessions/{sid}")
            sockets += 1
            await ws.send_str(json.dumps({"type": "auth", "token": token}))
            await ws.send_str(json.dumps({"type": "hello", "epoch": None, "last_seq": 0}))

            async def submit() -> None:
                n = 0
                await asyncio.sleep(random.random())
                while not stop.is_set():
                    n += 1
                    key = f"b-{sid}-{seat}-{n:06d}"
                    sent_at[key] = time.monotonic()
                    sheet = scoring_sheet(t1=str(n % 50))
                    await ws.send_str(
                        json.dumps({"type": "submit", "id": key, "seat": seat, "sheet": sheet})
                    )
                    await asyncio.sleep(1.0)

            task = None
            synced = False
            sent_at: dict[str, float] = {}
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                now_ms = time.time_ns() / 1e6
                m = json.loads(msg.data)
                t = m["type"]
                if t == "event":
                    if stats.measuring and m["event"] == "sheet.submitted":
                        stats.frames += 1
                        if m["payload"].get("seat") != seat:
                            stats.latencies.append(now_ms - m["time"])
                            k = (sid, m["seq"])
                            stats.arrivals.setdefault(k, []).append(time.monotonic())
                elif t == "synced":
                    if not synced:
                        synced = True
                        ready += 1
                        if seat is not None:
                            task = asyncio.create_task(start_later(submit))
                elif t == "ack":
                    t0 = sent_at.pop(m["id"], None)
                    stats.first[(sid, m["seq"])] = time.monotonic()
                    if stats.measuring:
                        stats.acks += 1
                        if t0 is not None:
                            stats.ack_latencies.append((time.monotonic() - t0) * 1000)
                elif t == "error":
                    stats.errors += 1
                if stop.is_set():
                    break
            if task is not None:
                task.cancel()
            await ws.close()

        go = asyncio.Event()

        async def start_later(fn: Any) -> None:
            await go.wait()
            await fn()

        tasks = []
        i = 0
        for sid, experts in sessions:
            people: list[tuple[str, int | None]] = [(t, s) for s, t in experts]
            people += [(tok("operator", v[0]), None) for v in VENUES]
            people += [(tok("supervisor"), None), (tok("supervisor", subject="sup-2"), None)]
            for token, seat in people:
                tasks.append(asyncio.create_task(client(bases[i % len(bases)], sid, token, seat)))
                i += 1
        total = len(tasks)
        while ready < total:
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.0)  # idle: let allocations settle
        rss_after = sum(rss_kib(p) for p in pids)
        go.set()
        await asyncio.sleep(warmup)
        cpu0 = sum(cpu_seconds(p) for p in pids)
        loop0 = sum(cpu_seconds(p, thread=p) for p in pids)  # the event-loop thread
        t0 = time.monotonic()
        stats.measuring = True
        await asyncio.sleep(seconds)
        stats.measuring = False
        elapsed = time.monotonic() - t0
        cpu1 = sum(cpu_seconds(p) for p in pids)
        loop1 = sum(cpu_seconds(p, thread=p) for p in pids)
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    lat = sorted(stats.latencies)
    q = statistics.quantiles(lat, n=100) if len(lat) > 100 else [float("nan")] * 99
    spread = []
    for k, times in stats.arrivals.items():
        t0 = min([*times, stats.first.get(k, float("inf"))])
        spread += [(t - t0) * 1000 for t in times]
    spread.sort()
    sq = statistics.quantiles(spread, n=100) if len(spread) > 100 else [float("nan")] * 99
    aq = sorted(stats.ack_latencies)
    aq_ = statistics.quantiles(aq, n=100) if len(aq) > 100 else [float("nan")] * 99
    return {
        "fan_p50_ms": sq[49],
        "fan_p99_ms": sq[98],
        "ack_p50_ms": aq_[49],
        "ack_p99_ms": aq_[98],
        "sockets": total,
        "sheets_per_s": stats.acks / elapsed,
        "frames_per_s": stats.frames / elapsed,
        "p50_ms": q[49],
        "p99_ms": q[98],
        "cpu_per_s": (cpu1 - cpu0) / elapsed,
        "loop_cpu_per_s": (loop1 - loop0) / elapsed,
        "cpu_us_per_frame": (cpu1 - cpu0) / max(1, stats.frames) * 1e6,
        "rss_kib_per_conn": (rss_after - rss_before) / total,
        "rss_cold_kib_per_conn": (rss_after - rss_cold) / total,
        "errors": stats.errors,
    }


def reads_every_session(
    bases: list[str], sessions: list[Any], tok: Tokens
) -> Callable[[aiohttp.ClientSession], Awaitable[None]]:
    """The warm-up of :func:`drive` for evalsvc: each session's document and history
    read over REST, twice, on every instance, all sessions at once (so that every
    pooled connection reads)."""
    sup = tok("supervisor")

    async def get(http: aiohttp.ClientSession, url: str) -> None:
        async with http.get(url, headers={"Authorization": f"Bearer {sup}"}) as r:
            assert r.status == 200, await r.text()
            await r.read()

    async def warm(http: aiohttp.ClientSession) -> None:
        for _ in range(2):
            await asyncio.gather(*(
                get(http, f"{base}/api/sessions/{sid}{path}")
                for base in bases for sid, _ in sessions
                for path in ("", "/events?limit=1000")
            ))

    return warm


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **env}, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def serve(url: str, secret: Path, tmp: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = start(
        [
            sys.executable,
            *PROFILE,
            "-m",
            "evalsvc",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        {"EVALSVC_DATABASE_URL": url, "EVALSVC_TOKEN_SECRET_FILE": str(secret)},
        tmp / f"{name}.log",
    )
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, proc)
    return proc, base


def show(name: str, r: dict[str, Any]) -> None:
    print(
        f"{name:<22} {r['sockets']:>5.0f} sockets  {r['sheets_per_s']:>6.0f} sheets/s  "
        f"{r['frames_per_s']:>7.0f} frames/s  p50 {r['p50_ms']:>6.1f} ms  "
        f"p99 {r['p99_ms']:>6.1f} ms  "
        f"CPU {r['cpu_per_s'] * 100:>5.1f} % (loop {r['loop_cpu_per_s'] * 100:.0f} %, "
        f"other threads {(r['cpu_per_s'] - r['loop_cpu_per_s']) * 100:.0f} %)  "
        f"{r['cpu_us_per_frame']:>5.1f} µs/frame  "
        f"RSS {r['rss_kib_per_conn']:>5.1f} KiB/conn"
        + (f" (cold {r['rss_cold_kib_per_conn']:.1f})"
           if r["rss_cold_kib_per_conn"] != r["rss_kib_per_conn"] else "")
        + f"  errors {r['errors']:.0f}  "
        f"\n{'':<22} submit→ack p50 {r['ack_p50_ms']:.1f} ms p99 {r['ack_p99_ms']:.1f} ms; "
        f"after commit, first → every other client p50 {r['fan_p50_ms']:.1f} ms "
        f"p99 {r['fan_p99_ms']:.1f} ms",
        flush=True,
    )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--postgres", metavar="URL")
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="evalsvc/bare pairs on SQLite, for the median of their ratios (default 1)",
    )
    ap.add_argument("--pg-only", action="store_true", help="only the PostgreSQL shape")
    ap.add_argument(
        "--pg-sessions", type=int, help="sessions for the PostgreSQL shape (default --sessions)"
    )
    args = ap.parse_args()
    results: dict[str, dict[str, Any]] = {}
    rounds: list[tuple[dict[str, Any], dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        secret = tmp / "secret"
        tok = Tokens(secret)

        async def run_evalsvc(k: int) -> tuple[dict[str, Any], list[Any]]:
            proc, base = serve(f"sqlite:///{tmp / f'evalsvc-{k}.db'}", secret, tmp, f"evalsvc-{k}")
            try:
                async with aiohttp.ClientSession() as http:
                    sessions = await prepare(http, base, tok, args.sessions)
                r = await drive([base], sessions, tok, [proc.pid], seconds=args.seconds,
                                warm=reads_every_session([base], sessions, tok))
                show("evalsvc (SQLite)", r)
                return r, sessions
            finally:
                proc.terminate()
                proc.wait()

        async def run_bare(k: int, sessions: list[Any]) -> dict[str, Any]:
            port = free_port()
            bare = start(
                [
                    sys.executable,
                    str(ROOT / "bench" / "bare_ws.py"),
                    str(tmp / f"bare-{k}.db"),
                    str(port),
                ],
                {},
                tmp / f"bare-{k}.log",
            )
            try:
                wait_healthy(f"http://127.0.0.1:{port}", bare)
                fake = [(f"bare-{j}", experts) for j, (_, experts) in enumerate(sessions)]
                r = await drive(
                    [f"http://127.0.0.1:{port}"], fake, tok, [bare.pid], seconds=args.seconds
                )
                show("bare aiohttp", r)
                return r
            finally:
                bare.terminate()
                bare.wait()

        # Rounds pair evalsvc with the bare server run right after it, so that a
        # neighbour's load on a shared machine weighs on both sides of each ratio.
        for k in range(0 if args.pg_only else args.rounds):
            if args.rounds > 1:
                print(f"-- round {k + 1} of {args.rounds}", flush=True)
            e, sessions = await run_evalsvc(k)
            rounds.append((e, await run_bare(k, sessions)))

        if args.postgres:
            url, drop = fresh_pg(args.postgres)
            procs: list[subprocess.Popen[bytes]] = []
            try:
                a, base_a = serve(url, secret, tmp, "pg-a")
                procs.append(a)
                b, base_b = serve(url, secret, tmp, "pg-b")
                procs.append(b)
                async with aiohttp.ClientSession() as http:
                    sessions = await prepare(http, base_a, tok, args.pg_sessions or args.sessions)
                results["evalsvc 2× PostgreSQL"] = r = await drive(
                    [base_a, base_b], sessions, tok, [a.pid, b.pid], seconds=args.seconds,
                    warm=reads_every_session([base_a, base_b], sessions, tok),
                )
                show("evalsvc 2× PostgreSQL", r)
            finally:
                for p in procs:
                    p.terminate()
                    p.wait()
                drop()

    if args.pg_only:
        return

    def ratios(e: dict[str, Any], b: dict[str, Any]) -> tuple[float, float, float]:
        return (
            e["cpu_us_per_frame"] / b["cpu_us_per_frame"],
            e["p99_ms"] / b["p99_ms"],
            e["rss_kib_per_conn"] / max(0.1, b["rss_kib_per_conn"]),
        )

    each = [ratios(e, b) for e, b in rounds]
    cpu, p99, rss = (statistics.median(r[i] for r in each) for i in range(3))
    if len(each) > 1:
        print(
            "\nCPU per frame, evalsvc / bare, by round: " + ", ".join(f"× {r[0]:.2f}" for r in each)
        )
    print(
        f"\nevalsvc / bare{' (median of the rounds)' if len(each) > 1 else ''}: "
        f"CPU per frame × {cpu:.2f}, p99 × {p99:.2f}, RSS per connection × {rss:.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
