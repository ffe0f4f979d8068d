"""Certificate sign-in and signing in the browser, on the demo as printed.

The demo seeds the dev PKI and gives three seats to its experts (docs/web.md
"Certificate sign-in"): the Hefei expert signs in with an ECDSA P-384 key file and
submits a sheet the page signs; after the lock the Hangzhou expert signs in with an SM2
key (sm-crypto in the page) and signs the report, as does the Hefei expert; the audit
events carry the signatures the server verified. A file without a key, a missing file
and the RSA key of the same Hangzhou person are tried too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from browserkit import Console, check_screen, chromium, new_page, require_browser
from test_browser import demo, fill_sheet, link, rest, submit_and_confirm, token_of

pytestmark = pytest.mark.e2e

__all__ = ["demo"]  # the fixture, used by name


def cert_section(base: str, log_text: str) -> tuple[str, dict[str, Path]]:
    sid = re.search(r"#session=(s-[0-9a-f]+)", log_text)
    assert sid is not None, log_text[-2000:]
    files = {m[1]: Path(m[0]) for m in re.findall(r"(\S+/(expert-[\w-]+)\.pem)$", log_text,
                                                  flags=re.M)}
    return sid[1], files


async def events(base: str, token: str, sid: str, kind: str) -> list[dict[str, Any]]:
    data = await rest(base, token, "GET", f"/api/sessions/{sid}/events?limit=1000")
    return [e for e in data["events"] if e["type"] == kind]


async def cert_sign_in(page: Any, base: str, sid: str, key: Path) -> None:
    await page.goto(f"{base}/#session={sid}")
    await page.get_by_role("heading", name="数字证书").wait_for()
    assert await page.get_by_label("评标项目编号").input_value() == sid
    await page.get_by_label("证书密钥文件").set_input_files(str(key))
    await page.get_by_role("button", name="用证书签名并进入").click()


async def test_certificate_sign_in_signs_the_sheet_and_the_report(
    demo: tuple[str, dict[str, str]],
) -> None:
    require_browser()
    base, links = demo
    log_text = Path(links["__log__"]).read_text(encoding="utf-8")
    sid, keys = cert_section(base, log_text)
    assert {"expert-wang-AH", "expert-zhang-ZJ", "expert-zhang-SH", "expert-li-JS"} <= set(keys)
    primary = token_of(link(links, "主场操作员"))
    supervisor = token_of(link(links, "监督"))
    console = Console()
    async with chromium() as browser:
        wang = await new_page(browser, console, "expert-p384")
        await wang.goto(f"{base}/#session={sid}")
        await wang.get_by_role("heading", name="数字证书").wait_for()
        # No file, then a file with certificates only: each named beside its field.
        await wang.get_by_role("button", name="用证书签名并进入").click()
        assert await wang.locator("#cert-file-err").inner_text() == "证书密钥文件：请选择文件"
        chain = keys["expert-wang-AH"].parent.parent / "leaves" / "expert-wang-AH.chain.pem"
        await wang.get_by_label("证书密钥文件").set_input_files(str(chain))
        await wang.get_by_role("button", name="用证书签名并进入").click()
        await wang.get_by_text("文件中没有私钥").wait_for()
        assert await wang.get_by_label("证书密钥文件").get_attribute("aria-invalid") == "true"
        await check_screen(wang, "cert-login-error")

        await cert_sign_in(wang, base, sid, keys["expert-wang-AH"])
        await wang.get_by_role("heading", name="我的评审表 — 详细评审（评分）").wait_for()
        assert "第 7 席" in await wang.locator("#seat-line").inner_text()
        logins = await events(base, supervisor, sid, "auth.login")
        assert [e["payload"]["algorithm"] for e in logins] == ["ecdsa"]
        await fill_sheet(wang)
        said = await submit_and_confirm(wang)
        assert "ECDSA P-384 证书签名" in said
        await wang.get_by_text("评审表已保存（第 1 版）").wait_for()
        await check_screen(wang, "cert-expert-sheet-signed")

        # The lock opens the sheets: the Hefei sheet carries the signature the server checked.
        await rest(base, primary, "POST", f"/api/sessions/{sid}/commands",
                   {"command": "lock_scoring"})
        (opened,) = [e for e in await events(base, supervisor, sid, "sheets.opened")
                     if e["payload"].get("stage") == "scoring"]
        text = str(opened["payload"])
        assert "ecdsa" in text and "'region': 'AH'" in text
        await rest(base, primary, "POST", f"/api/sessions/{sid}/commands",
                   {"command": "start_report"})

        # The Hangzhou expert: SM2 in the page, the report signed with it.
        zhang = await new_page(browser, console, "expert-sm2", width=390)
        await cert_sign_in(zhang, base, sid, keys["expert-zhang-ZJ"])
        sign = zhang.get_by_role("button", name="签署评标报告")
        await sign.wait_for()
        await sign.click()
        dialog = zhang.get_by_role("dialog")
        await dialog.wait_for()
        assert "SM2（国密） 证书" in await dialog.inner_text()
        await dialog.get_by_role("button", name="确认签署").click()
        await zhang.get_by_text("已用证书签署评标报告").wait_for()
        await zhang.get_by_text("您已签署本报告。").wait_for()
        await check_screen(zhang, "cert-expert-report-signed")

        await wang.get_by_role("button", name="签署评标报告").click()
        await wang.get_by_role("dialog").get_by_role("button", name="确认签署").click()
        await wang.get_by_text("已用证书签署评标报告").wait_for()

        signed = {e["payload"]["seat"]: e["payload"] for e in
                  await events(base, supervisor, sid, "report.signed")}
        assert signed[5]["signature"]["algorithm"] == "sm2"
        assert signed[5]["signature"]["region"] == "ZJ"
        assert signed[6]["signature"]["algorithm"] == "ecdsa"

        # The same person's RSA certificate (Shanghai) reaches the same seat.
        rsa = await new_page(browser, console, "expert-rsa")
        await cert_sign_in(rsa, base, sid, keys["expert-zhang-SH"])
        await rsa.get_by_text("您已签署本报告。").wait_for()
        assert "第 6 席" in await rsa.locator("#seat-line").inner_text()
        logins = await events(base, supervisor, sid, "auth.login")
        assert [e["payload"]["algorithm"] for e in logins] == ["ecdsa", "sm2", "rsa"]
    console.assert_clean()
