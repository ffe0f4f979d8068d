"""The pool model, its indexes, and importing experts from CSV and JSON files."""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalsvc.errors import InvalidInput
from evalsvc.experts.pool import (
    CSV_COLUMNS,
    Evaluation,
    ImportRefused,
    Penalty,
    Pool,
    Relationship,
    draw_view,
    expert_from_view,
    expert_to_json,
    parse_experts,
    pool_document,
    validated_experts,
)
from evalsvc.experts.specialties import ancestors, matches
from evalsvc.experts.synth import synthetic_experts

from ._helpers import AS_OF, expert, resident_id, uscc


def _csv(rows: list[dict[str, str]], *, header: tuple[str, ...] = CSV_COLUMNS) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow([r.get(c, "") for c in header])
    return buf.getvalue()


def _row(n: int, **kw: str) -> dict[str, str]:
    row = {
        "id": f"E{n:04d}",
        "name": "李四",
        "resident_id": resident_id(n),
        "region": "JS",
        "employer_name": "苏州乙公司",
        "employer_uscc": uscc(n),
        "specialties": "A01.02;C01",
        "title": "高级工程师",
        "years": "15",
        "status": "active",
    }
    row.update(kw)
    return row


# --------------------------------------------------------------------------- pool


def test_pool_orders_by_id_and_round_trips_every_field() -> None:
    experts = [
        expert("E3", penalties=(Penalty(_dt.date(2024, 1, 2), "x"),)),
        expert("E1", relationships=(Relationship("person", "王五"),)),
        expert("E2", evaluations=(Evaluation(uscc(5), _dt.date(2026, 1, 1)),), status="suspended"),
    ]
    pool = Pool.from_experts(experts)
    assert pool.ids == ["E1", "E2", "E3"]
    assert [pool.expert(i) for i in range(3)] == sorted(experts, key=lambda e: e.id)
    assert list(pool.inactive()) == [1]
    assert pool.index_of("E3") == 2


def test_pool_refuses_duplicate_ids() -> None:
    with pytest.raises(InvalidInput, match="duplicate expert id 'E1'"):
        Pool.from_experts([expert("E1"), expert("E1")])


def test_specialty_prefix_matches_whole_segments() -> None:
    assert ancestors("A01.02") == ("A", "A01", "A01.02")
    assert matches("A01.02", "A01") and matches("A01.02", "A")
    assert not matches("A01.02", "A02") and not matches("A01", "A01.02")
    pool = Pool.from_experts([expert("E1", specialties=("A01.02",)), expert("E2",
                              specialties=("A02.01", "B03"))])
    assert list(pool.candidates("SH", "A01")) == [0]
    assert list(pool.candidates("SH", "A")) == [0, 1]
    assert list(pool.candidates("SH", "B03")) == [1]
    assert list(pool.candidates("JS", "A")) == []


def test_draw_view_leaves_out_personal_data_and_rebuilds_what_the_draw_reads() -> None:
    e = synthetic_experts(50, seed=3, as_of=AS_OF)[7]
    view = draw_view(e)
    assert "name" not in view and "resident_id" not in view
    again = expert_from_view(view)
    assert draw_view(again) == view


def test_masked_fields_are_salted_commitments_the_draw_never_reads() -> None:
    import dataclasses
    import itertools

    from evalsvc.audit.leaf import field_digest
    from evalsvc.experts.pool import MASKED_FIELDS, masked_commitments, masked_values

    experts = synthetic_experts(60, seed=5, as_of=AS_OF)
    e = experts[3]
    counter = itertools.count()
    salts = lambda: next(counter).to_bytes(16, "big")  # noqa: E731 — distinct, 128 bits
    committed = masked_commitments(e, salts)
    assert set(committed) == set(MASKED_FIELDS)
    for name, (digest, salt) in committed.items():
        assert len(salt) == 16 and digest == field_digest(salt, name, masked_values(e)[name])
    # Another name, ID number, employer name and title change only the commitments (the
    # draw, which reads views, is the same: tests/experts/test_draw.py).
    other = dataclasses.replace(e, name="另一人", resident_id="110101199003077777",
                                employer=dataclasses.replace(e.employer, name="别的单位"),
                                title="正高级工程师")
    view = draw_view(e, {k: d for k, (d, _) in committed.items()})
    view2 = draw_view(other, {k: d for k, (d, _) in masked_commitments(other, salts).items()})
    assert view["masked"] != view2["masked"]
    assert {**view, "masked": None} == {**view2, "masked": None}
    with pytest.raises(ValueError, match="16 bytes"):
        masked_commitments(e, lambda: b"short")


# --------------------------------------------------------------------------- import


def test_synthetic_pool_round_trips_through_json_and_csv() -> None:
    experts = synthetic_experts(300, seed=11, as_of=AS_OF)
    doc = json.dumps(pool_document(experts), ensure_ascii=False).encode()
    got = validated_experts(doc, fmt="json").experts
    assert sorted(got, key=lambda e: e.id) == sorted(experts, key=lambda e: e.id)
    rows = []
    for e in experts:
        j = expert_to_json(e)
        row = {c: str(j[c]) for c in CSV_COLUMNS[:10]}
        row["specialties"] = ";".join(j["specialties"])
        for c in CSV_COLUMNS[10:]:
            row[c] = json.dumps(j[c], ensure_ascii=False) if j[c] else ""
        rows.append(row)
    got_csv = validated_experts(_csv(rows).encode("utf-8"), fmt="csv").experts
    assert sorted(got_csv, key=lambda e: e.id) == sorted(got, key=lambda e: e.id)


def test_gbk_csv_is_detected_and_read() -> None:
    data = _csv([_row(1), _row(2, name="欧阳娜")]).encode("gbk")
    result = validated_experts(data, fmt="csv")
    assert result.report.encoding == "gbk"
    assert [e.name for e in result.experts] == ["李四", "欧阳娜"]


def test_utf8_bom_is_accepted() -> None:
    result = validated_experts(b"\xef\xbb\xbf" + _csv([_row(1)]).encode(), fmt="csv")
    assert result.report.encoding == "utf-8" and len(result.experts) == 1


def test_bad_rows_are_reported_by_line_and_field_and_nothing_is_imported() -> None:
    bad_id = resident_id(3)[:17] + ("0" if resident_id(3)[17] != "0" else "1")
    text = _csv([
        _row(1),
        _row(2, resident_id=bad_id),
        _row(3, specialties="A01.02;Z99"),
        _row(1, name="重复"),
        _row(5, employer_uscc="91310104MA1FL0000X"),
        _row(6, region="BJ", years="abc"),
    ])
    with pytest.raises(ImportRefused) as info:
        validated_experts(text.encode(), fmt="csv")
    problems = [(p.line, p.field) for p in info.value.report.problems]
    assert problems == [
        (3, "resident_id"),
        (4, "specialties"),
        (5, "id"),
        (6, "employer_uscc"),
        (7, "region"),
        (7, "years"),
    ]
    reasons = {p.field: p.reason for p in info.value.report.problems}
    assert "check digit" in reasons["resident_id"] and "GB 11643" in reasons["resident_id"]
    assert "unknown specialty code Z99" in reasons["specialties"]
    assert "duplicate id 'E0001' (first at line 2)" in reasons["id"]
    assert info.value.errors[0].field == "line 3/resident_id"


def test_skip_invalid_imports_the_valid_rows_and_reports_the_rest() -> None:
    text = _csv([_row(1), _row(2, specialties="Q1"), _row(3)])
    result = validated_experts(text.encode(), fmt="csv", skip_invalid=True)
    assert [e.id for e in result.experts] == ["E0001", "E0003"]
    assert result.report.rejected_rows == 1
    assert result.report.to_json()["problems"] == [
        {"row": 2, "line": 3, "field": "specialties", "reason": "unknown specialty code Q1"}
    ]
    assert "specialties" in result.report.to_csv()


def test_multiline_quoted_cells_keep_line_numbers_right() -> None:
    text = _csv([_row(1, title="高级\n工程师"), _row(2, region="XX")])
    result = parse_experts(text.encode(), fmt="csv")
    assert [(p.line, p.field) for p in result.report.problems] == [(4, "region")]


@pytest.mark.parametrize("cut", [-5, -40, -200])
def test_truncated_csv_is_fatal_even_with_skip_invalid(cut: int) -> None:
    text = _csv([_row(n) for n in range(1, 6)]).encode()
    with pytest.raises(ImportRefused) as info:
        validated_experts(text[:cut], fmt="csv", skip_invalid=True)
    assert info.value.report.fatal
    assert info.value.report.accepted == 0
    assert any("truncated" in p.reason for p in info.value.report.problems)


def test_truncated_gbk_in_the_middle_of_a_character_is_fatal() -> None:
    data = _csv([_row(1), _row(2)]).encode("gbk")
    cut = data.rindex("四".encode("gbk")) + 1
    with pytest.raises(ImportRefused) as info:
        validated_experts(data[:cut], fmt="csv", skip_invalid=True)
    assert info.value.report.fatal


def test_truncated_json_is_fatal() -> None:
    doc = json.dumps([expert_to_json(expert(f"E{n}", resident_id=resident_id(n)))
                      for n in range(3)], indent=1).encode()
    with pytest.raises(ImportRefused) as info:
        validated_experts(doc[:-30], fmt="json", skip_invalid=True)
    (problem,) = info.value.report.problems
    assert problem.fatal and "truncated" in problem.reason and problem.line is not None


def test_json_array_problems_carry_the_line_of_their_object() -> None:
    rows = [expert_to_json(expert(f"E{n}", resident_id=resident_id(n))) for n in range(3)]
    rows[2]["region"] = "HK"
    doc = json.dumps(rows, indent=1, ensure_ascii=False).encode()
    result = parse_experts(doc, fmt="json")
    (problem,) = result.report.problems
    assert problem.row == 3 and problem.field == "region"
    assert doc.decode().splitlines()[problem.line - 1].strip() == "{"
    assert doc.decode().splitlines()[problem.line].strip() == '"id": "E2",'


def test_missing_columns_are_fatal() -> None:
    with pytest.raises(ImportRefused, match="file is unusable") as info:
        validated_experts(b"id,name\nE1,x\n", fmt="csv", skip_invalid=True)
    assert "missing columns resident_id" in info.value.report.problems[0].reason


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=400), fmt=st.sampled_from(["csv", "json"]))
def test_any_bytes_give_a_report_never_an_exception(data: bytes, fmt: str) -> None:
    result = parse_experts(data, fmt=fmt)  # type: ignore[arg-type]
    assert result.report.accepted == len(result.experts)


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(1, 2000))
def test_a_cut_csv_is_refused_or_is_a_clean_prefix(cut: int) -> None:
    text = _csv([_row(n) for n in range(1, 8)]).encode("gbk")
    try:
        result = validated_experts(text[:cut], fmt="csv")
    except ImportRefused as exc:
        assert exc.report.problems
        return
    # Accepted only when the cut fell on a row boundary: every row read is whole.
    whole = validated_experts(text, fmt="csv").experts
    assert result.experts == whole[: len(result.experts)]


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(1, 2000))
def test_a_cut_csv_never_half_imports_even_with_skip_invalid(cut: int) -> None:
    text = _csv([_row(n) for n in range(1, 8)]).encode("gbk")
    whole = validated_experts(text, fmt="csv").experts
    try:
        result = validated_experts(text[:cut], fmt="csv", skip_invalid=True)
    except ImportRefused:
        return
    # Accepted only if every row read is whole and valid (a cut on a line break).
    assert not result.report.problems
    assert result.experts == whole[: len(result.experts)]
