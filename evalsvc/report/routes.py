"""``GET /api/sessions/{id}/report.html`` and ``…/report.pdf``: the evaluation report."""

from __future__ import annotations

__all__ = ["REPORTS", "ROUTES"]

from urllib.parse import quote

from aiohttp import web

from evalsvc.httpkit import Route, authenticated
from evalsvc.report.service import ReportService

REPORTS: web.AppKey[ReportService] = web.AppKey("reports", ReportService)
_SID = "/api/sessions/{session_id}"
_ERRORS = (
    (403, "before the seal the draft is for the committee's members and supervisors only"),
    (409, "no report yet: the committee has not started it"),
)


async def get_report_html(request: web.Request) -> web.Response:
    p = authenticated(request)
    text = await request.app[REPORTS].html(p, request.match_info["session_id"])
    return web.Response(
        text=text, content_type="text/html", charset="utf-8", headers={"Cache-Control": "no-store"}
    )


async def get_report_pdf(request: web.Request) -> web.Response:
    p = authenticated(request)
    sid = request.match_info["session_id"]
    body = await request.app[REPORTS].pdf(p, sid)
    name = quote(f"评标报告-{sid}.pdf")
    return web.Response(
        body=body,
        content_type="application/pdf",
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{name}",
            "Cache-Control": "no-store",
        },
    )


ROUTES: list[Route] = [
    Route(
        "GET",
        _SID + "/report.html",
        get_report_html,
        "The evaluation report (评标报告) as HTML: after the seal to all who see the session, "
        "before it the draft to members and supervisors",
        roles=("operator", "expert", "supervisor", "site_supervisor"),
        content_type="text/html",
        errors=_ERRORS,
    ),
    Route(
        "GET",
        _SID + "/report.pdf",
        get_report_pdf,
        "The evaluation report as PDF (A4, fonts embedded; report.json and signatures.json "
        "attached for `evalsvc report verify`)",
        roles=("operator", "expert", "supervisor", "site_supervisor"),
        content_type="application/pdf",
        errors=_ERRORS,
    ),
]
