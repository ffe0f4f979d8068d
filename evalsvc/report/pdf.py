"""The report as a PDF: A4, zh-CN, the shipped CJK font embedded (subset), page numbers,
and on every page the report's SHA-256 and the audit checkpoint that holds it. The
canonical report JSON and the members' signatures are attached as embedded files, so
``evalsvc report verify`` can check the PDF alone, offline.

fpdf2 (pure Python) lays it out: it embeds and subsets OpenType fonts, draws tables, and
writes embedded-file attachments (PDF 1.7 §7.11.4) — everything needed, without a browser
or a native library on the server.
"""

from __future__ import annotations

__all__ = ["ATTACHMENT_REPORT", "ATTACHMENT_SIGNATURES", "FONT_FILE", "pdf_report"]

import datetime as _dt
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import TableCellFillMode
from fpdf.fonts import FontFace, TTFFont

from evalsvc.report.render import Heading, Para, ReportView, footer_lines, report_blocks

# Noto Sans CJK SC, subset to its Han characters, GBK, Latin and punctuation (SIL OFL 1.1, see
# fonts/README.md for provenance and how to regenerate it).
FONT_FILE = Path(__file__).resolve().parent / "fonts" / "NotoSansSC-Han.otf"
ATTACHMENT_REPORT = "report.json"
ATTACHMENT_SIGNATURES = "signatures.json"
_FONT = "NotoSansSC"


class _ReportPdf(FPDF):
    def __init__(self, footer: tuple[str, str]) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._lines = footer

    def footer(self) -> None:
        self.set_y(-18)
        self.set_font(_FONT, size=6.5)
        self.set_text_color(60, 60, 60)
        for line in self._lines:
            self.cell(0, 3.2, line, align="C", new_x="LMARGIN", new_y="NEXT")
        self.set_font(_FONT, size=8)
        self.cell(0, 4, f"第 {self.page_no()} 页 / 共 {{nb}} 页", align="C")
        self.set_text_color(0, 0, 0)


def pdf_report(
    view: ReportView,
    *,
    report_json: bytes,
    signatures_json: bytes,
    created: _dt.datetime,
) -> bytes:
    """The PDF of ``view``, with ``report_json`` (the canonical bytes the members signed)
    and ``signatures_json`` attached; ``created`` is its creation date (so the same report
    gives the same file)."""
    pdf = _ReportPdf(footer_lines(view))
    pdf.add_font(_FONT, fname=str(FONT_FILE))
    font = next(iter(pdf.fonts.values()))
    assert isinstance(font, TTFFont)
    cmap = font.cmap
    replaced: list[str] = []

    def drawable(text: str) -> str:
        # A character the font lacks would silently vanish from the page: draw 〓 instead
        # (and say so below); report.json keeps the original text.
        out = "".join(c if c.isspace() or ord(c) in cmap else "〓" for c in text)
        if out != text:
            replaced.append(text)
        return out

    pdf.set_creation_date(created)
    pdf.set_lang("zh-CN")
    pdf.set_title(f"评标报告 — {view.doc['basic']['title']}")
    pdf.set_creator("evalsvc")
    pdf.set_auto_page_break(auto=True, margin=22)
    pdf.set_margins(15, 15, 15)
    pdf.add_page()
    for block in report_blocks(view):
        if isinstance(block, Heading):
            size = 18 if block.level == 1 else 12
            pdf.set_font(_FONT, size=size)
            pdf.ln(2)
            align = "C" if block.level == 1 else "L"
            pdf.multi_cell(
                0, size * 0.55, drawable(block.text), align=align, new_x="LMARGIN", new_y="NEXT"
            )
            pdf.ln(1)
        elif isinstance(block, Para):
            pdf.set_font(_FONT, size=10)
            pdf.multi_cell(0, 5.5, drawable(block.text), new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.set_font(_FONT, size=9 if len(block.header) <= 4 else 7.5)
            with pdf.table(
                headings_style=_heading_style(),
                cell_fill_mode=TableCellFillMode.NONE,
                line_height=5,
                text_align="LEFT",
                first_row_as_headings=True,
                col_widths=block.widths,
            ) as table:
                for row in (block.header, *block.rows):
                    r = table.row()
                    for cell in row:
                        r.cell(drawable(cell))
            pdf.ln(1)
    if replaced:
        pdf.set_font(_FONT, size=9)
        pdf.multi_cell(
            0, 5, "注：标〓处为本字体未收录的字符，原文以所附 report.json 为准。",
            new_x="LMARGIN", new_y="NEXT",
        )
    pdf.embed_file(
        basename=ATTACHMENT_REPORT,
        bytes=report_json,
        desc="评标报告规范 JSON（RFC 8785），评标委员会成员签署的字节 / canonical report",
        creation_date=created,
        modification_date=created,
    )
    pdf.embed_file(
        basename=ATTACHMENT_SIGNATURES,
        bytes=signatures_json,
        desc="评标委员会成员对报告的签名及证书链 / the members' signatures",
        creation_date=created,
        modification_date=created,
    )
    return bytes(pdf.output())


def _heading_style() -> Any:
    return FontFace(emphasis=None, fill_color=(230, 230, 230))
