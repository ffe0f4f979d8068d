"""A sealed session through the HTTP API (the Harness path), for the report tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import IN_CI, Harness, scoring_sheet

DISSENT = "对乙公司的商务评分有不同意见"


async def sealed_session(
    api: Harness, *, seal: bool = True, during: Callable[[str], Awaitable[None]] | None = None
) -> tuple[str, list[tuple[int, str]]]:
    """A session of the standard document (3 bids, 7 seats) scored, with one deviation
    explained and one dissent, every seat signed and — with ``seal`` — sealed;
    ``during(session_id)`` runs while scoring."""
    sid, experts = await api.to_stage("scoring")
    if during is not None:
        await during(sid)
    for i, (seat, tok) in enumerate(experts):
        t1 = "10" if i == 0 else str(40 + i % 3)
        status, body = await api.submit(sid, tok, scoring_sheet(t1=t1), key=f"rep-{seat}-key")
        assert status == 201, body
    assert (await api.command(sid, api.op(), "lock_scoring"))[0] == 200
    for b in ("B1", "B2", "B3"):
        status, body = await api.command(
            sid, experts[0][1], "explain_deviation", bid_id=b, text="技术方案缺少运维保障措施"
        )
        assert status == 200, body
    assert (await api.command(sid, api.op(), "start_report"))[0] == 200
    status, body = await api.command(sid, experts[1][1], "record_dissent", text=DISSENT)
    assert status == 200, body
    if seal:
        for _seat, tok in experts:
            status, body = await api.command(sid, tok, "sign_report")
            assert status == 200, body
        status, body = await api.command(sid, api.op(), "seal")
        assert status == 200, body
    return sid, experts


async def fetch(api: Harness, sid: str, what: str, token: str) -> tuple[int, Any, str]:
    """GET report.html or report.pdf: (status, body bytes or problem JSON, content type)."""
    h = {"Authorization": f"Bearer {token}"}
    resp = await api.client.get(f"/api/sessions/{sid}/report.{what}", headers=h)
    ctype = resp.headers.get("Content-Type", "")
    body = await resp.json() if "json" in ctype else await resp.read()
    return resp.status, body, ctype


def pdftotext(pdf: bytes, tmp_path: Path) -> str:
    """The PDF's text by poppler's pdftotext (a reader's view, not our parser's)."""
    exe = shutil.which("pdftotext")
    if exe is None:
        reason = "pdftotext not installed (apt-get install poppler-utils; .ci/run installs it)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        [exe, "-layout", "-enc", "UTF-8", str(path), "-"],
        check=True, capture_output=True, env={**os.environ, "LC_ALL": "C.UTF-8"},
    )
    return out.stdout.decode("utf-8")
