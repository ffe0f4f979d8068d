"""Baseline for bench/sync.py: a bare aiohttp WebSocket broadcast server of the same shape.

It speaks the subset of docs/protocol.md the benchmark uses (auth and hello answered with
``synced``; ``submit`` → a durable SQLite insert off the loop, then ``ack`` and an
``event`` frame serialised once and sent to every socket of the session with a plain
``await ws.send_str`` loop). No authentication, redaction, per-connection queues, event
log or resume: the floor evalsvc's fan-out is measured against.

    python bench/bare_ws.py SQLITE_PATH PORT
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import threading
import time
from typing import Any

from aiohttp import WSMsgType, web

PATH = sys.argv[1]
PORT = int(sys.argv[2])
rooms: dict[str, set[web.WebSocketResponse]] = {}
seqs: dict[str, int] = {}
_db = sqlite3.connect(PATH, isolation_level=None, check_same_thread=False)
_db.execute("PRAGMA journal_mode=WAL")
_db.execute("PRAGMA synchronous=NORMAL")
_db.execute("CREATE TABLE IF NOT EXISTS sheet (id INTEGER PRIMARY KEY, key TEXT, doc TEXT)")
_lock = threading.Lock()


def _insert(key: str, doc: str) -> None:
    with _lock:
        _db.execute("INSERT INTO sheet (key, doc) VALUES (?, ?)", (key, doc))


async def socket(request: web.Request) -> web.StreamResponse:
    sid = request.match_info["sid"]
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    room = rooms.setdefault(sid, set())
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            m: dict[str, Any] = json.loads(msg.data)
            if m["type"] == "auth":
                await ws.send_str(json.dumps({"type": "auth_ok", "epoch": "bare", "seq": 0}))
            elif m["type"] == "hello":
                room.add(ws)
                await ws.send_str(json.dumps({"type": "synced", "seq": seqs.get(sid, 0)}))
            elif m["type"] == "submit":
                await asyncio.get_running_loop().run_in_executor(
                    None, _insert, m["id"], json.dumps(m["sheet"])
                )
                seq = seqs[sid] = seqs.get(sid, 0) + 1
                await ws.send_str(json.dumps({"type": "ack", "id": m["id"], "seq": seq}))
                text = json.dumps(
                    {
                        "type": "event",
                        "seq": seq,
                        "event": "sheet.submitted",
                        "payload": {"seat": m.get("seat"), "version": seq},
                        "actor": "expert",
                        "venue": None,
                        "time": time.time_ns() // 1_000_000,
                    }
                )
                for other in list(room):
                    await other.send_str(text)
    finally:
        room.discard(ws)
    return ws


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


app = web.Application()
app.router.add_get("/ws/sessions/{sid}", socket)
app.router.add_get("/healthz", healthz)
web.run_app(app, host="127.0.0.1", port=PORT, print=None)
