"""Acknowledged score-sheet submissions/s and latency, evalsvc vs a bare aiohttp insert.

Runs real server processes on loopback (``evalsvc serve`` and ``bench/bare_server.py``)
and drives them from this process with 1 and 50 concurrent clients, each posting a full
7-seat × 3-bid sheet with a fresh Idempotency-Key and waiting for the 201. Prints
acks/s, p50 and p99 latency, and evalsvc's throughput as a ratio of the bare server's.

    .venv/bin/python bench/api.py [--seconds 5] [--postgres postgresql://postgres@127.0.0.1:5432/test]

Figures only; it never fails on time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import EXPERT_IDS, scoring_sheet, session_doc  # noqa: E402

from evalsvc.auth import issue_token  # noqa: E402
from evalsvc.keys import load_or_create_secret  # noqa: E402


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def fresh_pg(base: str) -> tuple[str, Any]:
    import sqlalchemy as sa

    admin = sa.create_engine(
        base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    name = f"evalsvc_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False), drop


async def load(
    url: str, headers_for: Any, body_for: Any, *, clients: int, seconds: float
) -> dict[str, float]:
    lat: list[float] = []
    stop_at = time.perf_counter() + seconds
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as http:

        async def worker(i: int) -> None:
            n = 0
            while time.perf_counter() < stop_at:
                key = f"b-{i:03d}-{n:07d}-{secrets.token_hex(3)}"
                n += 1
                t0 = time.perf_counter()
                async with http.post(url, data=body_for(i), headers=headers_for(i, key)) as r:
                    await r.read()
                    if r.status != 201:
                        raise SystemExit(f"unexpected {r.status}: {await r.text()}")
                lat.append(time.perf_counter() - t0)

        t_start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        elapsed = time.perf_counter() - t_start
    lat.sort()
    return {
        "acks_per_s": len(lat) / elapsed,
        "p50_ms": statistics.median(lat) * 1000,
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        "n": len(lat),
    }


async def prepare_evalsvc(base: str, secret: bytes) -> tuple[str, list[str]]:
    now = int(time.time())

    def tok(role: str, venue: str | None, sub: str) -> str:
        return issue_token(
            secret,
            role=role,
            subject=sub,
            name=sub,
            venue=venue,
            now=now,
            ttl_seconds=3600,
            nonce=secrets.token_hex(4),
        )

    ops = {v: tok("operator", v, f"op-{v}") for v in ("sh-ggzy", "js-suzhou", "ah-hefei")}
    # session_doc carries the tender's recusal inputs (number, tenderer USCC, departments).
    doc = session_doc(tender_number="BENCH-API-1")
    doc["criteria"] = [c for c in doc["criteria"] if c["category"] != "qualification"]
    async with aiohttp.ClientSession() as http:

        async def post(path: str, token: str, body: Any) -> Any:
            async with http.post(
                base + path, json=body, headers={"Authorization": f"Bearer {token}"}
            ) as r:
                out = await r.json()
                assert r.status in (200, 201), out
                return out

        s = await post("/api/sessions", ops["sh-ggzy"], doc)
        sid = s["id"]
        cmd = f"/api/sessions/{sid}/commands"
        await post(cmd, ops["sh-ggzy"], {"command": "open_draw"})
        experts = []
        for seat, eid in zip(s["seats"], EXPERT_IDS, strict=False):
            await post(
                cmd,
                ops["sh-ggzy"],
                {
                    "command": "assign_seat",
                    "seat": seat["index"],
                    "expert_id": eid,
                    "expert_name": eid,
                },
            )
            experts.append(tok("expert", seat["venue_id"], eid))
        # A committee without a draw: designated, and approved by a supervisor.
        sup = tok("supervisor", None, "sup-bench")
        reason = "基准测试: 指定专家"
        await post(cmd, ops["sh-ggzy"], {"command": "designate_experts", "reason": reason})
        await post(cmd, sup, {"command": "decide_designation", "approve": True, "reason": reason})
        for c in ("complete_draw", "start_check_in"):
            await post(cmd, ops["sh-ggzy"], {"command": c})
        for seat in s["seats"]:
            await post(cmd, ops[seat["venue_id"]], {"command": "check_in", "seat": seat["index"]})
        # The pledge, the declarations and the leader election (docs/scoring.md).
        async with http.get(base + f"/api/sessions/{sid}/pledge",
                            headers={"Authorization": f"Bearer {experts[0]}"}) as r:
            pledge = await r.json()
        no_conflict = [{"bid_id": b["id"], "conflict": False} for b in doc["bids"]]
        for e in experts:
            await post(cmd, e, {"command": "accept_pledge", "sha256": pledge["sha256"]})
            await post(cmd, e, {"command": "declare_interests", "declarations": no_conflict})
        await post(cmd, ops["sh-ggzy"], {"command": "open_election"})
        for e in experts:
            await post(cmd, e, {"command": "cast_vote", "candidate": s["seats"][0]["index"]})
        await post(cmd, ops["sh-ggzy"], {"command": "close_round"})
        for c in ("start_evaluation", "lock_qualification"):
            await post(cmd, ops["sh-ggzy"], {"command": c})
    return sid, experts


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measured(pid: int, coro: Any) -> dict[str, float]:
    """Run a load and add the server's CPU milliseconds per acknowledged request:
    steadier than wall-clock figures on a shared machine."""
    before = cpu_seconds(pid)
    result: dict[str, float] = await coro
    result["cpu_ms_per_ack"] = (cpu_seconds(pid) - before) * 1000 / max(1, result["n"])
    return result


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        return subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **env}, stdout=fh, stderr=subprocess.STDOUT
        )


async def bench_db(label: str, url: str, tmp: Path, seconds: float) -> None:
    import json

    body = json.dumps(scoring_sheet(t1="35.5", c1="8")).encode()
    results: dict[str, dict[int, dict[str, float]]] = {}
    # evalsvc
    port = free_port()
    secret_file = tmp / f"secret-{label}"
    secret = load_or_create_secret(secret_file)
    proc = start(
        [sys.executable, "-m", "evalsvc", "serve", "--port", str(port)],
        {
            "EVALSVC_DATABASE_URL": url,
            "EVALSVC_TOKEN_SECRET_FILE": str(secret_file),
            "EVALSVC_AUDIT_KEY_FILE": str(tmp / f"audit-{label}.key"),
        },
        tmp / f"evalsvc-{label}.log",
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, proc)
        sid, experts = await prepare_evalsvc(base, secret)
        target = f"{base}/api/sessions/{sid}/sheets"
        results["evalsvc"] = {}
        for clients in (1, 50):
            results["evalsvc"][clients] = await measured(
                proc.pid,
                load(
                    target,
                    lambda i, key: {
                        "Authorization": f"Bearer {experts[i % len(experts)]}",
                        "Idempotency-Key": key,
                        "Content-Type": "application/json",
                    },
                    lambda i: body,
                    clients=clients,
                    seconds=seconds,
                ),
            )
    finally:
        proc.terminate()
        proc.wait()
    # bare baseline on a fresh database of the same kind
    bare_url = url if not url.startswith("sqlite") else f"sqlite:///{tmp / f'bare-{label}.db'}"
    port = free_port()
    proc = start(
        [sys.executable, str(ROOT / "bench" / "bare_server.py"), bare_url, str(port)],
        {},
        tmp / f"bare-{label}.log",
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, proc)
        results["bare"] = {}
        for clients in (1, 50):
            results["bare"][clients] = await measured(
                proc.pid,
                load(
                    f"{base}/sheets",
                    lambda i, key: {"Idempotency-Key": key, "Content-Type": "application/json"},
                    lambda i: body,
                    clients=clients,
                    seconds=seconds,
                ),
            )
    finally:
        proc.terminate()
        proc.wait()
    for clients in (1, 50):
        e, b = results["evalsvc"][clients], results["bare"][clients]
        print(
            f"{label:10} clients={clients:<3} evalsvc {e['acks_per_s']:8.0f} acks/s  "
            f"p50 {e['p50_ms']:6.2f} ms  p99 {e['p99_ms']:6.2f} ms  | "
            f"bare {b['acks_per_s']:8.0f}/s  "
            f"p50 {b['p50_ms']:6.2f} ms  p99 {b['p99_ms']:6.2f} ms  | ratio evalsvc/bare "
            f"{e['acks_per_s'] / b['acks_per_s']:.2f} | server CPU/ack evalsvc "
            f"{e['cpu_ms_per_ack']:.3f} ms, bare {b['cpu_ms_per_ack']:.3f} ms "
            f"(×{e['cpu_ms_per_ack'] / b['cpu_ms_per_ack']:.1f})",
            flush=True,
        )


async def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=5.0, help="load duration per measurement")
    ap.add_argument(
        "--postgres",
        default=os.environ.get(
            "EVALSVC_TEST_DATABASE", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="PostgreSQL server to bench against ('' to skip)",
    )
    args = ap.parse_args()
    print(
        f"bench/api.py: {os.cpu_count()} CPUs, {args.seconds:.0f} s per measurement, "
        "one 7×3 score sheet per request (acknowledged = 201 after commit)"
    )
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        await bench_db("sqlite", f"sqlite:///{tmp / 'bench.db'}", tmp, args.seconds)
        if args.postgres:
            url, drop = fresh_pg(args.postgres)
            try:
                await bench_db("postgresql", url, tmp, args.seconds)
            finally:
                drop()


if __name__ == "__main__":
    asyncio.run(main())
