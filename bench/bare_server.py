"""Baseline for bench/api.py: a bare aiohttp handler doing the same durable insert.

POST /sheets parses the JSON body and inserts it into one table with a commit per request
(SQLite in WAL mode with synchronous=NORMAL, like evalsvc; or PostgreSQL), off the event
loop in a thread. No auth, no validation, no state machine, no event log, no idempotency:
the floor that evalsvc's cost is measured against.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import threading
from typing import Any

from aiohttp import web

URL = sys.argv[1]
PORT = int(sys.argv[2])
_local = threading.local()


def _conn() -> Any:
    c = getattr(_local, "c", None)
    if c is None:
        if URL.startswith("sqlite:///"):
            c = sqlite3.connect(
                URL[len("sqlite:///") :], isolation_level=None, check_same_thread=False
            )
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")
            c.execute("PRAGMA busy_timeout=30000")
            c.execute(
                "CREATE TABLE IF NOT EXISTS sheet "
                "(id INTEGER PRIMARY KEY, key TEXT UNIQUE, doc TEXT)"
            )
        else:
            import psycopg

            c = psycopg.connect(URL, autocommit=False)
            with c.cursor() as cur:
                cur.execute(
                    "CREATE TABLE IF NOT EXISTS sheet "
                    "(id BIGSERIAL PRIMARY KEY, key TEXT UNIQUE, doc TEXT)"
                )
            c.commit()
        _local.c = c
    return c


_write_lock = threading.Lock()


def _insert(key: str, doc: str) -> int:
    c = _conn()
    if isinstance(c, sqlite3.Connection):
        with _write_lock:  # one SQLite writer, as in any sane SQLite server
            c.execute("BEGIN IMMEDIATE")
            cur = c.execute("INSERT INTO sheet (key, doc) VALUES (?, ?)", (key, doc))
            c.execute("COMMIT")
            return int(cur.lastrowid or 0)
    with c.cursor() as cur:
        cur.execute("INSERT INTO sheet (key, doc) VALUES (%s, %s) RETURNING id", (key, doc))
        row = cur.fetchone()
    c.commit()
    return int(row[0])


async def sheets(request: web.Request) -> web.Response:
    body = await request.read()
    doc = json.loads(body)
    rid = await asyncio.get_running_loop().run_in_executor(
        None, _insert, request.headers["Idempotency-Key"], json.dumps(doc)
    )
    return web.json_response({"id": rid}, status=201)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


app = web.Application()
app.router.add_post("/sheets", sheets)
app.router.add_get("/healthz", healthz)
_conn()
web.run_app(app, host="127.0.0.1", port=PORT, print=None)
