"""A 暗标 technical sheet signed in the page with the expert's certificate key, against a
real server process with the dev PKI: the page shows the bids as codes with each
criterion's guidance beside its field, signs the sheet it shows (codes, never names),
the server accepts it, and after the lock the opened signature verifies over the stored
sheet re-keyed by the opened codes (docs/pki.md "Signed sheets", docs/web.md).

Every screen goes through tests/e2e/browserkit.py (axe, 390 px, screenshots), and no
page may log a JavaScript error.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from pathlib import Path

import pytest
from browserkit import Console, check_screen, chromium, new_page, require_browser
from conftest import EXPERT_IDS, session_doc
from test_browser_cert import cert_sign_in
from test_browser_rules import ok, server_api
from test_browser_stages import NAMES, stored

from evalsvc.canonical import canonical_bytes
from evalsvc.config import Settings
from evalsvc.pki.devpki import ZHANG_ID, browser_key_file, build_dev_pki, write_dev_pki
from evalsvc.pki.signatures import verify_signature

pytestmark = pytest.mark.e2e

GUIDE = "方案完整、可行的得 40–50 分；\n每缺一项扣 5 分"
CRITERIA = [
    {"id": "Q1", "name": "资质", "category": "qualification"},
    {"id": "T1", "name": "技术方案", "category": "technical", "max_points": 50, "guidance": GUIDE},
    {"id": "C1", "name": "商务", "category": "commercial", "max_points": 10},
    {"id": "P1", "name": "价格", "category": "price", "max_points": 40},
]


async def test_an_sm2_expert_signs_the_anonymous_technical_sheet_by_code_in_the_page(
    tmp_path: Path, db_url: str, settings: Settings
) -> None:
    require_browser()
    pki = build_dev_pki(dt.datetime.now(dt.UTC))
    certs = tmp_path / "certs"
    write_dev_pki(pki, certs)
    key_file = tmp_path / "expert-zhang-ZJ.pem"
    key_file.write_bytes(browser_key_file(pki, "expert-zhang-ZJ"))
    console = Console()
    doc = session_doc(criteria=CRITERIA, stages="split", anonymous=True)
    extra = f'\n[pki]\ntrust_dir = "{certs}"\n'
    async with (server_api(tmp_path, db_url, settings, extra) as (api, base),
                chromium() as browser):
        # Seat 0 is 张伟's (his certificates' identity key); qualification is locked.
        sid, experts = await api.to_stage(
            "scoring", doc, (f"person:{ZHANG_ID}", *EXPERT_IDS[1:]))
        page = await new_page(browser, console, "cert-anonymous-expert", width=390)
        await cert_sign_in(page, base, sid, key_file)
        await page.get_by_role("heading", name="我的评审表 — 技术评审").wait_for(timeout=30_000)
        sheet = page.locator("#sheet-card")
        assert await sheet.locator("legend").all_inner_texts() == [
            "暗标编号 A01", "暗标编号 A02", "暗标编号 A03"]
        text = await sheet.inner_text()
        assert not any(n in text for n in NAMES) and not re.search(r"\bB[123]\b", text)
        # The criterion's own guidance, beside every one of its fields and read with it.
        field = page.get_by_label("A02 技术方案", exact=True)
        described = await field.evaluate(
            "n => n.getAttribute('aria-describedby').split(' ')"
            ".map((id) => document.getElementById(id).textContent).join('|')")
        assert f"评分指引：{GUIDE}" in described and "满分 50 分" in described
        await check_screen(page, "cert-anonymous-technical-sheet")

        scores = {"A01": "45", "A02": "38.5", "A03": "30"}
        for code, points in scores.items():
            await page.get_by_label(f"{code} 技术方案", exact=True).fill(points)
        await page.get_by_role("button", name="提交评审表").click()
        dialog = page.get_by_role("dialog")
        said = await dialog.inner_text()
        assert "SM2（国密） 证书签名" in said and "按暗标编号填写的分数" in said
        await dialog.get_by_role("button", name="确认提交").click()
        await stored(api, sid, experts[0][1], "technical")
        await page.get_by_text("已提交第 1 版").wait_for(timeout=30_000)
        await check_screen(page, "cert-anonymous-technical-signed")

        for i, t in experts[1:]:
            _, view = await api.call("GET", f"/api/sessions/{sid}", t)
            status, body = await api.submit(sid, t, {
                "stage": "technical", "bids": {c: {"T1": "30"} for c in view["qualified"]}},
                key=f"technical-{i}-key")
            assert status == 201, body
        await ok(api, sid, api.op(), "lock_technical")

        # The opened record: what the page signed is the stored sheet keyed by the codes.
        events = await api.events(sid)
        code_of = {b: c for c, b in next(
            e for e in events if e["type"] == "codes.opened")["payload"]["codes"].items()}
        opening = next(e["payload"] for e in events if e["type"] == "sheets.opened"
                       and e["payload"]["stage"] == "technical")
        mine = next(x for x in opening["sheets"] if x["seat"] == experts[0][0])
        record = mine["signature"]
        assert (record["algorithm"], record["region"], record["bid_keys"]) == ("sm2", "ZJ", "codes")
        signed = {**mine["sheet"],
                  "bids": {code_of[b]: v for b, v in mine["sheet"]["bids"].items()}}
        assert signed["bids"] == {c: {"T1": p} for c, p in scores.items()}
        verify_signature(pki.leaves["expert-zhang-ZJ"].cert, canonical_bytes(signed),
                         base64.b64decode(record["value"]))
    console.assert_clean()
