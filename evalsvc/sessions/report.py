"""The final evaluation report (评标报告): moved to :mod:`evalsvc.report.document`; the
names stay importable from here for code written against the old place."""

from __future__ import annotations

__all__ = ["REPORT_TYPE", "report_document", "report_sha256"]

from evalsvc.report.document import REPORT_TYPE, report_document, report_sha256
