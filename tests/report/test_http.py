"""GET /api/sessions/{id}/report.html and report.pdf over HTTP, as each role sees them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from conftest import EXPERT_IDS, Harness, session_doc

from evalsvc.report.document import SECTIONS
from evalsvc.sessions.tables import SessionRow
from evalsvc.typedefs import DB
from report.helpers import DISSENT, fetch, pdftotext, sealed_session

BIDDERS = [b["bidder"] for b in session_doc()["bids"]]
NAMES = [f"专家{eid}" for eid in EXPERT_IDS]
HEADINGS = [title for _, title in SECTIONS]


def _compact(text: str) -> str:
    # pdftotext -layout spaces out table cells; compare text without the spaces.
    return re.sub(r"\s+", "", text)


async def test_the_sealed_report_as_pdf_has_every_section_bidder_and_member(
    api: Harness, tmp_path: Path
) -> None:
    sid, _ = await sealed_session(api)
    status, pdf, ctype = await fetch(api, sid, "pdf", api.op("js-suzhou"))
    assert status == 200 and ctype == "application/pdf", pdf
    assert pdf.startswith(b"%PDF-")
    text = pdftotext(pdf, tmp_path)
    flat = _compact(text)
    for heading in ["评标报告", *HEADINGS]:
        assert _compact(heading) in flat, heading
    for name in [*BIDDERS, *NAMES, DISSENT, "第一中标候选人乙公司"]:
        assert _compact(name) in flat, name
    _, rep = await api.call("GET", f"/api/sessions/{sid}/report", api.sup)
    pages = text.split("\f")
    pages = [p for p in pages if p.strip()]
    assert len(pages) >= 2
    checkpoint = f"evalsvc.local/{sid}"
    for i, page in enumerate(pages, start=1):
        page_flat = _compact(page)
        # On every page: the SHA-256 of the signed report, the audit checkpoint, the number.
        assert f"SHA-256:{rep['sha256']}" in page_flat, i
        assert f"审计检查点:{checkpoint}" in page_flat, i
        assert f"第{i}页/共{len(pages)}页" in page_flat, i


async def test_the_pdf_embeds_its_font_and_is_a4(api: Harness, tmp_path: Path) -> None:
    import pypdf

    sid, _ = await sealed_session(api)
    _, pdf, _ = await fetch(api, sid, "pdf", api.sup)
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    reader = pypdf.PdfReader(path)
    for page in reader.pages:
        w, h = float(page.mediabox.width), float(page.mediabox.height)
        assert (round(w), round(h)) == (595, 842)  # A4 in points
        fonts = page["/Resources"]["/Font"]
        for ref in fonts.values():
            font = ref.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            assert "/FontFile3" in descendant["/FontDescriptor"] or (
                "/FontFile2" in descendant["/FontDescriptor"]
            ), "font not embedded"
    assert set(reader.attachments) == {"report.json", "signatures.json"}
    embedded = reader.attachments["report.json"][0]
    _, rep = await api.call("GET", f"/api/sessions/{sid}/report", api.sup)
    import base64

    # The attachment is exactly the bytes the members signed.
    assert embedded == base64.b64decode(rep["signing_bytes"])


async def test_the_sealed_report_as_html_for_every_role(api: Harness) -> None:
    sid, experts = await sealed_session(api)
    for token in (api.sup, api.op(), api.op("ah-hefei"), experts[3][1]):
        status, body, ctype = await fetch(api, sid, "html", token)
        assert status == 200 and ctype.startswith("text/html"), body
        html = body.decode("utf-8")
        assert '<html lang="zh-CN">' in html
        for text in [*HEADINGS, *BIDDERS, *NAMES]:
            assert text in html, text


async def test_no_report_before_the_committee_starts_it(api: Harness) -> None:
    sid, experts = await api.to_stage("scoring")
    for what in ("html", "pdf"):
        for token in (api.sup, experts[0][1]):
            status, body, _ = await fetch(api, sid, what, token)
            assert status == 409, body
            assert "尚无评标报告" in body["detail"] and "评审" in body["detail"]


async def test_before_the_seal_the_draft_is_for_members_and_supervisors(api: Harness) -> None:
    sid, experts = await sealed_session(api, seal=False)
    for token in (api.op(), api.op("js-suzhou")):
        status, body, _ = await fetch(api, sid, "html", token)
        assert status == 403 and "仅评标委员会成员和监督" in body["detail"], body
    for token in (api.sup, experts[2][1]):
        status, body, _ = await fetch(api, sid, "html", token)
        assert status == 200, body
        html = body.decode("utf-8")
        assert "草稿" in html and "封存后公布" in html
        for name in NAMES:
            assert name not in html
    # Another tender's expert sees nothing of it.
    outsider = api.expert("E-OTHER", "sh-ggzy")
    status, _, _ = await fetch(api, sid, "html", outsider)
    assert status == 404


async def _rename_member(api: Harness, sid: str, seat: int, name: str) -> None:
    def tx(conn: Any) -> None:
        t = SessionRow.__table__  # type: ignore[attr-defined]
        doc = json.loads(conn.execute(sa.select(t.c.doc).where(t.c.id == sid)).scalar_one())
        doc["seats"][seat]["expert_name"] = name
        conn.execute(sa.update(t).where(t.c.id == sid).values(doc=json.dumps(doc)))

    await api.client.server.app[DB].write(tx)


async def test_a_members_name_does_not_reach_the_draft_and_does_after_the_seal(
    api: Harness,
) -> None:
    """Non-interference: before the seal, changing who sat in a seat changes no byte of
    the draft another member or the supervisor reads; after it, the name is there."""
    sid, experts = await sealed_session(api, seal=False)
    readers = (api.sup, experts[0][1])
    before = [(await fetch(api, sid, w, t))[1] for t in readers for w in ("html", "pdf")]
    await _rename_member(api, sid, 4, "另一位专家")
    after = [(await fetch(api, sid, w, t))[1] for t in readers for w in ("html", "pdf")]
    assert before == after
    for _seat, tok in experts:
        assert (await api.command(sid, tok, "sign_report"))[0] == 200
    assert (await api.command(sid, api.op(), "seal"))[0] == 200
    _, body, _ = await fetch(api, sid, "html", experts[0][1])
    assert "另一位专家" in body.decode("utf-8")


async def test_the_routes_are_in_the_openapi_document(api: Harness) -> None:
    status, doc = await api.call("GET", "/api/openapi.json")
    assert status == 200
    for ext, media in (("html", "text/html"), ("pdf", "application/pdf")):
        op = doc["paths"][f"/api/sessions/{{session_id}}/report.{ext}"]["get"]
        assert op["x-roles"] == ["operator", "expert", "supervisor", "site_supervisor"]
        assert media in op["responses"]["200"]["content"]
        assert {"403", "404", "409"} <= set(op["responses"])


async def test_the_json_report_follows_the_same_rule(api: Harness) -> None:
    sid, experts = await sealed_session(api, seal=False)
    status, body = await api.call("GET", f"/api/sessions/{sid}/report", api.op())
    assert status == 403 and "仅评标委员会成员和监督" in body["detail"], body
    assert (await api.call("GET", f"/api/sessions/{sid}/report", experts[0][1]))[0] == 200
    for _seat, tok in experts:
        assert (await api.command(sid, tok, "sign_report"))[0] == 200
    assert (await api.command(sid, api.op(), "seal"))[0] == 200
    assert (await api.call("GET", f"/api/sessions/{sid}/report", api.op()))[0] == 200


async def test_report_html_can_load_the_shipped_font(api: Harness) -> None:
    resp = await api.client.get("/static/report.css")
    css = await resp.text()
    url = re.search(r'url\("(/static/report-fonts/[^"]+)"\)', css)
    assert resp.status == 200 and url is not None, css
    font = await api.client.get(url.group(1))
    assert font.status == 200
    assert (await font.read())[:4] == b"OTTO"  # an OpenType (CFF) font


async def test_after_the_seal_every_reader_gets_the_same_report(api: Harness) -> None:
    sid, experts = await sealed_session(api)
    readers = (api.sup, api.op(), api.op("ah-hefei"), experts[0][1], experts[5][1])
    for what in ("html", "pdf"):
        bodies = {(await fetch(api, sid, what, tok))[1] for tok in readers}
        assert len(bodies) == 1, what
