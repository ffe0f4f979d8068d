"""The report use-case: what one reader may see of a session's report, as HTML or PDF.

Who may fetch it follows the disclosure schedule (DESIGN.md): once the session is sealed,
everyone who may see the session, with the members' names; before the seal, the draft
to the members and supervisors only, without names. A session whose committee has not
started the report has none (409). The reading itself is
:func:`evalsvc.report.artifacts.report_artifacts`.
"""

from __future__ import annotations

__all__ = ["ReportArtifacts", "ReportService"]

import asyncio

from evalsvc.auth import Principal
from evalsvc.report.artifacts import ReportArtifacts, report_artifacts, report_pdf
from evalsvc.report.render import html_report
from evalsvc.sessions.service import SessionService


class ReportService:
    """Builds the report a principal may read (see the module docstring)."""

    def __init__(self, sessions: SessionService) -> None:
        self.sessions = sessions

    async def artifacts(self, p: Principal, session_id: str) -> ReportArtifacts:
        """The report of ``session_id`` as ``p`` may read it."""
        uow = self.sessions.uow
        candidates = self.sessions.report_candidates
        return await self.sessions.db.read(
            lambda conn: report_artifacts(conn, session_id, p, candidates=candidates,
                                          docs=uow.docs)
        )

    async def html(self, p: Principal, session_id: str) -> str:
        """The report as HTML."""
        return html_report((await self.artifacts(p, session_id)).view)

    async def pdf(self, p: Principal, session_id: str) -> bytes:
        """The report as PDF, with the canonical JSON and the signatures attached."""
        a = await self.artifacts(p, session_id)
        # Layout takes a few hundred milliseconds of CPU: off the event loop.
        return await asyncio.get_running_loop().run_in_executor(None, report_pdf, a)


