"""A primary that lies to one venue: a reverse proxy (HTTP and WebSocket) in front of a
real ``evalsvc serve``, for tests/e2e/test_venue_split.py.

    python tests/e2e/forkproxy.py UPSTREAM PORT LOG_SKEY_FILE FORK_FLAG_FILE

Everything passes through unchanged until ``FORK_FLAG_FILE`` exists; from then on every
``…/audit/view`` answer carries, instead of the primary's checkpoint, one of the same
size signed by the same log key over another tree — a forked history shown to the venue
behind this proxy only, after its witnesses cosigned the real one.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

from evalsvc.audit.note import Checkpoint, parse_checkpoint, split_note
from evalsvc.audit.note import sign_checkpoint as sign_note

HOP = {"host", "content-length", "transfer-encoding", "connection", "upgrade",
       "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"}


def main() -> None:
    upstream, port, skey_file, flag = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    skey = Path(skey_file).read_text("utf-8").strip()
    client: dict[str, aiohttp.ClientSession] = {}

    def http() -> aiohttp.ClientSession:
        if "s" not in client:
            client["s"] = aiohttp.ClientSession(auto_decompress=False)
        return client["s"]

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        theirs = await http().ws_connect(upstream.replace("http", "ws", 1) + request.path_qs,
                                         max_msg_size=0)
        ours = web.WebSocketResponse(max_msg_size=0)
        await ours.prepare(request)

        async def pump(src: object, dst: object) -> None:
            async for msg in src:  # type: ignore[attr-defined]
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await dst.send_str(msg.data)  # type: ignore[attr-defined]
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    await dst.send_bytes(msg.data)  # type: ignore[attr-defined]
                else:
                    break
            await dst.close()  # type: ignore[attr-defined]

        await asyncio.gather(pump(ours, theirs), pump(theirs, ours), return_exceptions=True)
        return ours

    async def proxy(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await websocket(request)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        async with http().request(request.method, upstream + request.path_qs, headers=headers,
                                  data=await request.read()) as r:
            body = await r.read()
            if request.path.endswith("/audit/view") and r.status == 200 and Path(flag).exists():
                doc = await r.json()
                cp = parse_checkpoint(split_note(doc["checkpoint"])[0])
                other = hashlib.sha256(b"forked" + cp.root).digest()
                doc["checkpoint"] = sign_note(Checkpoint(cp.origin, cp.size, other, ()), skey)
                return web.json_response(doc)
            out = {k: v for k, v in r.headers.items() if k.lower() not in HOP}
            return web.Response(status=r.status, body=body, headers=out)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", proxy)
    web.run_app(app, host="127.0.0.1", port=port, print=lambda *_: print("proxy up", flush=True))


if __name__ == "__main__":
    main()
