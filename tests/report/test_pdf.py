"""The PDF rendering alone: characters outside GB 2312 are drawn, and one the font lacks
is shown as 〓 with a note, never silently dropped."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

from fontTools.ttLib import TTFont

from evalsvc.canonical import canonical_bytes
from evalsvc.report.pdf import FONT_FILE, pdf_report
from report.helpers import pdftotext
from report.test_document import _doc, _session, _view


def test_rare_name_characters_are_drawn_and_missing_ones_are_marked(tmp_path: Path) -> None:
    cmap = TTFont(FONT_FILE, lazy=True)["cmap"].getBestCmap()
    lacking = next(chr(c) for c in range(0x30000, 0x3134F) if c not in cmap)  # Ext G
    s = _session()
    bids = (replace(s.bids[0], bidder="喆堃科技有限公司"),
            replace(s.bids[1], bidder=f"{lacking}记建设集团"), *s.bids[2:])
    doc = _doc(replace(s, bids=bids))
    pdf = pdf_report(_view(doc), report_json=canonical_bytes(doc), signatures_json=b"{}",
                     created=dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    text = pdftotext(pdf, tmp_path)
    assert "喆堃科技有限公司" in text  # outside GB 2312, inside the shipped font
    assert "〓记建设集团" in text
    assert "标〓处为本字体未收录的字符" in text.replace(" ", "")


def test_the_same_report_gives_the_same_file() -> None:
    doc = _doc(_session())
    at = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    one, two = (pdf_report(_view(doc), report_json=canonical_bytes(doc), signatures_json=b"{}",
                           created=at) for _ in range(2))
    assert one == two
