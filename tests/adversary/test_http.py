"""The findings of issue "Blinding and integrity hold against an insider" over HTTP:
each used to answer 500 (or a plain-text 400); each must be a 4xx problem document,
and the server must serve the next request."""

from __future__ import annotations

import base64
import json
import re

from conftest import Harness, session_doc

from .conftest import assert_problem, raw_request, request, still_serves


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


async def test_non_ascii_bearer_token_is_401(api: Harness) -> None:
    head = (
        "GET /api/me HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        "Authorization: Bearer evs1.令牌.签名\r\n"
    ).encode()
    answer = await raw_request(api, head)
    assert_problem(answer, 401, "unauthenticated")
    await still_serves(api)


async def test_non_ascii_bytes_that_are_not_utf8_in_the_token_are_401(api: Harness) -> None:
    head = b"GET /api/me HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
    head += b"Authorization: Bearer evs1.\xff\xfe.AAAA\r\n"
    answer = await raw_request(api, head)
    assert_problem(answer, 401, "unauthenticated")
    await still_serves(api)


async def test_token_with_deeply_nested_claims_is_401(api: Harness) -> None:
    # The claims are parsed before the MAC is checked: no secret is needed to send this.
    claims = b"[" * 2500 + b"]" * 2500  # fits the 8 KiB header line
    token = "evs1." + _b64(claims) + "." + _b64(b"x" * 32)
    answer = await request(api, "GET", "/api/me", token=token)
    assert_problem(answer, 401, "unauthenticated")
    await still_serves(api)


async def test_token_with_a_huge_integer_claim_is_401(api: Harness) -> None:
    claims = b'{"role": "supervisor", "exp": ' + b"9" * 5000 + b"}"
    token = "evs1." + _b64(claims) + "." + _b64(b"x" * 32)
    answer = await request(api, "GET", "/api/me", token=token)
    assert_problem(answer, 401, "unauthenticated")
    await still_serves(api)


async def test_deeply_nested_body_is_400(api: Harness) -> None:
    body = b'{"title": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    answer = await request(api, "POST", "/api/sessions", token=api.op(), data=body)
    doc = assert_problem(answer, 400, "malformed_body")
    assert "nested deeper" in doc["detail"]
    await still_serves(api)


async def test_deeply_nested_body_without_a_token_is_400(api: Harness) -> None:
    body = b'{"certificate": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    answer = await request(api, "POST", "/api/auth/challenge", data=body)
    assert_problem(answer, 400, "malformed_body")
    await still_serves(api)


async def test_integer_of_5000_digits_is_400(api: Harness) -> None:
    doc = session_doc()
    text = json.dumps(doc).replace('"price_fen": 10000000', '"price_fen": ' + "1" * 5000)
    answer = await request(api, "POST", "/api/sessions", token=api.op(), data=text.encode())
    problem = assert_problem(answer, 400, "malformed_body")
    assert "5000 digits" in problem["detail"]
    await still_serves(api)


async def test_integer_beyond_2_to_the_53_is_400(api: Harness) -> None:
    text = json.dumps(session_doc()).replace(
        '"price_fen": 10000000', '"price_fen": 18446744073709551616'
    )
    answer = await request(api, "POST", "/api/sessions", token=api.op(), data=text.encode())
    assert_problem(answer, 400, "malformed_body")
    await still_serves(api)


async def test_lone_surrogate_in_a_title_is_400_naming_the_field(api: Harness) -> None:
    text = json.dumps(session_doc()).replace('"title": "\\u6d4b', '"title": "\\ud800\\u6d4b')
    assert "\\ud800" in text
    answer = await request(api, "POST", "/api/sessions", token=api.op(), data=text.encode())
    problem = assert_problem(answer, 400, "malformed_body")
    assert problem["field"] == "title"
    listed = await request(api, "GET", "/api/sessions", token=api.sup)
    assert listed.body["sessions"] == []
    await still_serves(api)


async def test_lone_surrogate_in_a_key_is_400(api: Harness) -> None:
    doc = session_doc()
    text = json.dumps(doc)[:-1] + ', "\\udc00x": 1}'
    answer = await request(api, "POST", "/api/sessions", token=api.op(), data=text.encode())
    assert_problem(answer, 400, "malformed_body")
    await still_serves(api)


async def test_audit_entry_index_beyond_sqlite_range_is_422(api: Harness) -> None:
    sid, _ = await api.create()
    for index in ("18446744073709551616", "9" * 5000, "-1", "+1", "1_0", "١"):
        answer = await request(api, "GET", f"/api/sessions/{sid}/audit/entries/{index}",
                               token=api.sup)
        problem = assert_problem(answer, 422, "invalid_input")
        assert problem["field"] == "index"
    ok = await request(api, "GET", f"/api/sessions/{sid}/audit/entries/0", token=api.sup)
    assert ok.status in (200, 404), ok.body
    await still_serves(api)


async def test_query_integer_beyond_range_is_422(api: Harness) -> None:
    sid, _ = await api.create()
    for after in ("18446744073709551616", "9" * 5000, " 1", "1e3"):
        answer = await request(api, "GET", f"/api/sessions/{sid}/events?after={after}",
                               token=api.sup)
        assert_problem(answer, 422, "invalid_input")
    await still_serves(api)


async def test_undecodable_session_id_in_the_path_is_4xx(api: Harness) -> None:
    for sid in ("%ED%A0%80", "%FF", "%00"):
        answer = await request(api, "GET", f"/api/sessions/{sid}", token=api.sup)
        assert 400 <= answer.status < 500, answer.body
        assert_problem(answer, answer.status)
    await still_serves(api)


async def test_oversized_header_is_a_problem_document(api: Harness) -> None:
    head = (
        b"GET /api/me HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        b"X-Padding: " + b"a" * 20_000 + b"\r\n"
    )
    answer = await raw_request(api, head)
    assert_problem(answer, 400)
    assert "Server" not in answer.headers or "aiohttp" not in answer.headers["Server"]
    await still_serves(api)


async def test_oversized_request_line_is_a_problem_document(api: Harness) -> None:
    head = b"GET /api/" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
    answer = await raw_request(api, head)
    assert answer.status in (400, 414), answer.body
    assert_problem(answer, answer.status)
    await still_serves(api)
    # Any operation can be asked with a request line that long (a query string does
    # it; Schemathesis found GET …/audit/view answering a status its document lacked):
    # every operation's document declares that answer.
    _, doc = await api.call("GET", "/api/openapi.json")
    undeclared = [
        (method, path) for path, ops in doc["paths"].items() for method, op in ops.items()
        if str(answer.status) not in op["responses"]
    ]
    assert undeclared == [], undeclared


async def test_too_many_headers_is_a_problem_document(api: Harness) -> None:
    head = b"GET /api/me HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
    head += b"".join(b"X-H%d: 1\r\n" % i for i in range(500))
    answer = await raw_request(api, head)
    assert_problem(answer, 400)
    await still_serves(api)


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


async def test_every_response_carries_the_security_headers(api: Harness) -> None:
    answers = {
        "/": await request(api, "GET", "/"),
        "/static/main.js": await request(api, "GET", "/static/main.js"),
        "/healthz": await request(api, "GET", "/healthz"),
        "/api/me": await request(api, "GET", "/api/me", token=api.sup),
        "/api/me 401": await request(api, "GET", "/api/me"),
        "/api/nothing": await request(api, "GET", "/api/nothing"),
        "/nothing": await request(api, "GET", "/nothing"),
    }
    for what, answer in answers.items():
        h = answer.headers
        assert h.get("Content-Security-Policy") == CSP, what
        assert h.get("X-Content-Type-Options") == "nosniff", what
        assert h.get("Referrer-Policy") == "no-referrer", what
        assert h.get("Server") == "evalsvc", (what, h.get("Server"))
        if what.startswith("/api/"):
            assert h.get("Cache-Control") == "no-store", what
    assert answers["/"].status == 200 and answers["/static/main.js"].status == 200
    sid, _ = await api.create()
    ws = await api.client.ws_connect(f"/ws/sessions/{sid}")  # the 101 handshake too
    try:
        assert ws._response.headers["Server"] == "evalsvc"
        assert ws._response.headers["Content-Security-Policy"] == CSP
    finally:
        await ws.close()
    assert answers["/api/me 401"].status == 401 and answers["/nothing"].status == 404


async def test_the_page_needs_no_inline_script_or_style(api: Harness) -> None:
    # The CSP above forbids them: the page would break in a browser if it had any.
    page = (await request(api, "GET", "/")).body
    assert "<style" not in page and " style=" not in page
    for tag in page.split("<script")[1:]:
        attrs, rest = tag.split(">", 1)
        assert re.search(r'\ssrc="/static/', attrs), tag[:80]  # a file, not inline code
        assert rest.startswith("</script>"), tag[:80]
    assert re.search(r"\son[a-z]+\s*=", page) is None  # no onclick= and the like


async def test_bytes_that_are_not_utf8_in_the_path_and_headers_are_4xx(api: Harness) -> None:
    for head in (
        b"GET /api/sessions/\xff\xfe HTTP/1.1\r\nHost: test\r\nConnection: close\r\n",
        b"GET /nothing/\xed\xa0\x80 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n",
        b"GET /ws/sessions/s-1 HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\nSec-WebSocket-Version: \xff13\r\nSec-WebSocket-Key: \xff\r\n",
    ):
        answer = await raw_request(api, head)
        assert 400 <= answer.status < 500, (head, answer.status, answer.body)
        assert_problem(answer, answer.status)
    await still_serves(api)
