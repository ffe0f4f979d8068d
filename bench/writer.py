"""The SQLite writer's cost per score sheet: the batched driver against the sequential one.

In process, no sockets: ``--sessions`` sessions (default 3) taken to the scoring stage,
then ``--rounds`` rounds, each one group commit of one sheet per session (the writer is
held until all are queued, as ``tests/sessions/test_drivers.py::_gated`` does), through
the real ``SessionService`` → ``UnitOfWork`` → writer. Each driver runs on a database of
its own, with the WAL never checkpointed during the measurement, and prints:

- the writer thread's CPU and the process's CPU per sheet (user + sys);
- pages written to the WAL per group commit — each WAL frame header names the page
  written, and SQLite's ``dbstat`` table names the b-tree it belongs to, so the pages
  are also listed by table and index (deterministic: the same on every run);

then the batched driver's figures as a ratio of the sequential one's (the baseline).
Here the event loop idles while the writer works, so the sequential driver's GIL
handoffs (one per statement, about eight per sheet) cost it nothing; in a server whose
loop is busy they cost latency, which is what the batched driver is for (bench/sync.py).

    .venv/bin/python bench/writer.py [--sessions 3] [--rounds 300]

CPU on a shared VM moves by ±25 % between runs; for a change of a few percent, count
instructions instead: ``PYTHONHASHSEED=0 valgrind --tool=callgrind .venv/bin/python
bench/writer.py --driver batched --rounds 100`` and again with ``--rounds 400``; the
difference of the two totals over the 900 extra sheets is the cost of one sheet.

Figures only; it never fails on time.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import os
import sqlite3
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "sessions"))
sys.path.insert(0, str(ROOT / "bench"))

from conftest import scoring_sheet  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sync import cpu_seconds  # noqa: E402
from test_drivers import EXPERTS, _gated, _scoring_sessions  # noqa: E402

from evalsvc.config import DatabaseSettings  # noqa: E402
from evalsvc.db import Database  # noqa: E402
from evalsvc.schema import ensure_schema  # noqa: E402
from evalsvc.sessions.bus import LocalBus  # noqa: E402
from evalsvc.sessions.model import ScoringRules  # noqa: E402
from evalsvc.sessions.service import SessionService  # noqa: E402
from evalsvc.sessions.uow import UnitOfWork  # noqa: E402

FRAME_HEADER = 24
WAL_HEADER = 32


def wal_pages(wal: bytes, db_file: Path, groups: int) -> tuple[float, list[tuple[str, float]]]:
    """Pages per group commit in the last ``groups`` commits of ``wal``, and by b-tree."""
    page_size = struct.unpack(">I", wal[8:12])[0]
    frames: list[tuple[int, bool]] = []
    at = WAL_HEADER
    while at + FRAME_HEADER + page_size <= len(wal):
        pgno, commit = struct.unpack(">II", wal[at : at + 8])
        frames.append((pgno, commit != 0))
        at += FRAME_HEADER + page_size
    commits = [i for i, (_, c) in enumerate(frames) if c]
    last = frames[commits[-groups - 1] + 1 :]
    owner: dict[int, str] = {}
    try:
        with sqlite3.connect(db_file) as db:
            owner = {int(r[1]): str(r[0]) for r in db.execute("SELECT name, pageno FROM dbstat")}
    except sqlite3.Error:
        pass  # a SQLite built without dbstat: the total only
    by = collections.Counter(owner.get(p, "?") for p, _ in last)
    return len(last) / groups, [(k, v / groups) for k, v in by.most_common()]


async def run(driver: str, sessions: int, rounds: int, warm: int, tmp: Path) -> dict[str, Any]:
    db_file = tmp / f"{driver}.db"
    db = Database(DatabaseSettings(url=f"sqlite:///{db_file}", pool_size=2))

    @event.listens_for(db.engine, "connect")
    def _no_checkpoint(dbapi: Any, _rec: Any) -> None:
        dbapi.execute("PRAGMA wal_autocheckpoint=0")  # the WAL keeps every page written

    try:
        await asyncio.get_running_loop().run_in_executor(None, ensure_schema, db.engine)
        ids = iter(f"s-{n:012x}" for n in itertools.count())
        uow = UnitOfWork(
            db,
            bus=LocalBus(),
            clock_ms=lambda: int(time.time() * 1000),
            pipelined=driver == "batched",
        )
        svc = SessionService(uow, new_id=lambda: next(ids), defaults=ScoringRules())
        sids = await _scoring_sessions(svc, sessions)
        writer = db._writers[0]._thread.native_id
        assert writer is not None
        n = itertools.count()

        async def one_round() -> None:
            k = next(n)
            calls = [
                svc.submit_sheet(
                    EXPERTS[(k + j) % len(EXPERTS)],
                    sid,
                    scoring_sheet(t1=str(k % 50)),
                    key=f"bench-{k:06d}-{sid}",
                )
                for j, sid in enumerate(sids)
            ]
            for r in await _gated(db, calls):
                if isinstance(r, BaseException):
                    raise r

        for _ in range(warm):
            await one_round()
        w0, p0 = cpu_seconds(os.getpid(), thread=writer), time.process_time()
        for _ in range(rounds):
            await one_round()
        w1, p1 = cpu_seconds(os.getpid(), thread=writer), time.process_time()
        wal = Path(f"{db_file}-wal").read_bytes()  # (read before closing checkpoints it)
    finally:
        db.close()
    sheets = rounds * sessions
    per_group, by_tree = wal_pages(wal, db_file, rounds)
    return {
        "writer_us": 1e6 * (w1 - w0) / sheets,
        "process_us": 1e6 * (p1 - p0) / sheets,
        "pages": per_group,
        "by_tree": by_tree,
    }


def show(driver: str, r: dict[str, Any]) -> None:
    print(
        f"{driver:<11} writer {r['writer_us']:6.0f} µs/sheet  process {r['process_us']:6.0f} "
        f"µs/sheet  WAL pages per group commit {r['pages']:6.2f}",
        flush=True,
    )
    print("            " + ", ".join(f"{name} {v:.2f}" for name, v in r["by_tree"][:8]))


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=3, help="sheets per group commit")
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--warm", type=int, default=20)
    ap.add_argument("--driver", choices=["batched", "sequential", "both"], default="both")
    args = ap.parse_args()
    drivers = ["sequential", "batched"] if args.driver == "both" else [args.driver]
    out = {}
    with tempfile.TemporaryDirectory() as d:
        for driver in drivers:
            out[driver] = await run(driver, args.sessions, args.rounds, args.warm, Path(d))
            show(driver, out[driver])
    if len(out) == 2:
        b, s = out["batched"], out["sequential"]
        writer = b["writer_us"] / s["writer_us"]
        print(
            f"\nbatched / sequential: writer CPU per sheet × {writer:.2f},"
            f" process CPU × {b['process_us'] / s['process_us']:.2f},"
            f" WAL pages × {b['pages'] / s['pages']:.2f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
