"""Experts and the expert pool (评标专家库). Pure: no I/O, bytes in, objects out.

:class:`Expert` is the full record of one expert. :class:`Pool` holds many of them in a
columnar form (one small integer per expert for region, status, employer and specialty
set; the rare penalties, relationships, collaborations and evaluation histories in a
sparse table) with the inverted indexes the draw needs, and materialises an
:class:`Expert` only when asked. Experts are kept sorted by id, so a pool *index* order is
the id order that the draw specification relies on (see ``docs/draw.md``).

:func:`parse_experts` reads CSV (UTF-8 or GBK/GB 18030, detected) or JSON and returns the
valid experts with a row-level :class:`ImportReport`; :func:`validated_experts` is the
all-or-nothing entry point that the ``import`` command and the database store share.
"""

from __future__ import annotations

__all__ = [
    "CSV_COLUMNS",
    "MASKED_FIELDS",
    "POOL_FORMAT",
    "REGIONS",
    "REGION_NAMES",
    "STATUSES",
    "Collaboration",
    "Evaluation",
    "Expert",
    "ImportRefused",
    "ImportReport",
    "ImportResult",
    "Organisation",
    "Penalty",
    "Pool",
    "Relationship",
    "RowProblem",
    "draw_view",
    "expert_from_view",
    "expert_to_json",
    "masked_commitments",
    "masked_values",
    "parse_experts",
    "pool_document",
    "validated_experts",
]

import contextlib
import csv
import datetime as _dt
import hashlib
import io
import json
import re
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from evalsvc.canonical import canonical_texts
from evalsvc.errors import FieldError, InvalidInput
from evalsvc.experts.specialties import SPECIALTIES, ancestors
from evalsvc.ids import validate_resident_id, validate_uscc

Region = Literal["SH", "JS", "ZJ", "AH"]
Status = Literal["active", "suspended", "retired"]

REGIONS: tuple[Region, ...] = ("SH", "JS", "ZJ", "AH")
REGION_NAMES: Mapping[str, str] = {"SH": "上海", "JS": "江苏", "ZJ": "浙江", "AH": "安徽"}
STATUSES: tuple[Status, ...] = ("active", "suspended", "retired")
POOL_FORMAT = "evalsvc.expert-pool.v1"

# Expert ids are ASCII so that "sorted by id" means the same in every language.
_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True, slots=True)
class Organisation:
    """An organisation identified by its unified social credit code (USCC)."""

    name: str
    uscc: str


@dataclass(frozen=True, slots=True)
class Penalty:
    """An administrative or criminal penalty (行政处罚/刑事处罚) and the date it was imposed."""

    date: _dt.date
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Relationship:
    """A declared relationship to an organisation (by USCC) or a person (by name)."""

    kind: Literal["organisation", "person"]
    name: str
    uscc: str = ""
    relation: str = ""


@dataclass(frozen=True, slots=True)
class Collaboration:
    """Recent work with or for an organisation (e.g. a consulting contract), with its date."""

    uscc: str
    date: _dt.date
    name: str = ""


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One past evaluation the expert sat on, by the tenderer's USCC and date."""

    tenderer_uscc: str
    date: _dt.date


@dataclass(frozen=True, slots=True)
class Expert:
    """One expert of the pool, with everything the recusal and composition rules read."""

    id: str
    name: str
    resident_id: str
    region: Region
    employer: Organisation
    specialties: tuple[str, ...]
    title: str = ""
    years: int = 0
    status: Status = "active"
    penalties: tuple[Penalty, ...] = ()
    relationships: tuple[Relationship, ...] = ()
    collaborations: tuple[Collaboration, ...] = ()
    evaluations: tuple[Evaluation, ...] = ()


@dataclass(frozen=True, slots=True)
class _Extras:
    penalties: tuple[Penalty, ...]
    relationships: tuple[Relationship, ...]
    collaborations: tuple[Collaboration, ...]
    evaluations: tuple[Evaluation, ...]


class Pool:
    """An immutable, id-sorted collection of experts with the indexes the draw uses.

    Index ``i`` (0-based) is the position in id order. Build with :meth:`from_experts`.
    """

    __slots__ = (
        "_by_employer",
        "_by_region_specialty",
        "_by_related_org",
        "_by_related_person",
        "_collaborations",
        "_employer",
        "_employers",
        "_evaluations",
        "_extras",
        "_inactive",
        "_names",
        "_penalised",
        "_region",
        "_resident_ids",
        "_spec_sets",
        "_specialty",
        "_status",
        "_title",
        "_titles",
        "_years",
        "ids",
    )

    def __init__(self) -> None:
        # Use Pool.from_experts; the constructor only creates empty columns.
        self.ids: list[str] = []
        self._names: list[str] = []
        self._resident_ids: list[str] = []
        self._region = bytearray()
        self._status = bytearray()
        self._years = bytearray()
        self._employer = array("I")
        self._specialty = array("I")
        self._title = array("H")
        self._employers: list[Organisation] = []
        self._spec_sets: list[tuple[str, ...]] = []
        self._titles: list[str] = []
        self._extras: dict[int, _Extras] = {}
        self._by_region_specialty: dict[tuple[int, str], array[int]] = {}
        self._by_employer: dict[str, array[int]] = {}
        self._by_related_org: dict[str, array[int]] = {}
        self._by_related_person: dict[str, array[int]] = {}
        # (indexes, proleptic ordinals of dates): two flat arrays instead of tuples.
        self._collaborations: dict[str, tuple[array[int], array[int]]] = {}
        self._evaluations: dict[str, tuple[array[int], array[int]]] = {}
        self._penalised: tuple[array[int], array[int]] = (array("I"), array("I"))
        self._inactive = array("I")

    @classmethod
    def from_experts(cls, experts: Iterable[Expert]) -> Pool:
        """A pool of ``experts`` (any order); raises :class:`InvalidInput` on a duplicate id."""
        ordered = sorted(experts, key=lambda e: e.id)
        pool = cls()
        employers: dict[tuple[str, str], int] = {}
        spec_sets: dict[tuple[str, ...], int] = {}
        titles: dict[str, int] = {}
        region_ix = {r: n for n, r in enumerate(REGIONS)}
        status_ix = {s: n for n, s in enumerate(STATUSES)}
        rs: dict[tuple[int, str], list[int]] = {}
        by_emp: dict[str, list[int]] = {}
        by_org: dict[str, list[int]] = {}
        by_person: dict[str, list[int]] = {}
        previous = None
        for i, e in enumerate(ordered):
            if e.id == previous:
                raise InvalidInput(f"duplicate expert id {e.id!r}", field="id")
            previous = e.id
            pool.ids.append(e.id)
            pool._names.append(e.name)
            pool._resident_ids.append(e.resident_id)
            r = region_ix[e.region]
            pool._region.append(r)
            pool._status.append(status_ix[e.status])
            pool._years.append(max(0, min(e.years, 255)))
            emp_key = (e.employer.name, e.employer.uscc)
            if emp_key not in employers:
                employers[emp_key] = len(pool._employers)
                pool._employers.append(e.employer)
            pool._employer.append(employers[emp_key])
            if e.specialties not in spec_sets:
                spec_sets[e.specialties] = len(pool._spec_sets)
                pool._spec_sets.append(e.specialties)
            pool._specialty.append(spec_sets[e.specialties])
            if e.title not in titles:
                titles[e.title] = len(pool._titles)
                pool._titles.append(e.title)
            pool._title.append(titles[e.title])
            prefixes = {p for code in e.specialties for p in ancestors(code)}
            for p in sorted(prefixes):
                rs.setdefault((r, p), []).append(i)
            by_emp.setdefault(e.employer.uscc, []).append(i)
            if e.status != "active":
                pool._inactive.append(i)
            if e.penalties or e.relationships or e.collaborations or e.evaluations:
                pool._extras[i] = _Extras(
                    e.penalties, e.relationships, e.collaborations, e.evaluations
                )
                for pen in e.penalties:
                    pool._penalised[0].append(i)
                    pool._penalised[1].append(pen.date.toordinal())
                for rel in e.relationships:
                    if rel.kind == "organisation" and rel.uscc:
                        lst = by_org.setdefault(rel.uscc, [])
                        if not lst or lst[-1] != i:
                            lst.append(i)
                    elif rel.kind == "person":
                        lst = by_person.setdefault(rel.name, [])
                        if not lst or lst[-1] != i:
                            lst.append(i)
                for col in e.collaborations:
                    _add_dated(pool._collaborations, col.uscc, i, col.date)
                for ev in e.evaluations:
                    _add_dated(pool._evaluations, ev.tenderer_uscc, i, ev.date)
        pool._by_region_specialty = {k: array("I", v) for k, v in rs.items()}
        pool._by_employer = {k: array("I", v) for k, v in by_emp.items()}
        pool._by_related_org = {k: array("I", v) for k, v in by_org.items()}
        pool._by_related_person = {k: array("I", v) for k, v in by_person.items()}
        return pool

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[Expert]:
        return (self.expert(i) for i in range(len(self.ids)))

    def expert(self, i: int) -> Expert:
        """The full record of the expert at index ``i``."""
        extras = self._extras.get(i)
        return Expert(
            id=self.ids[i],
            name=self._names[i],
            resident_id=self._resident_ids[i],
            region=REGIONS[self._region[i]],
            employer=self._employers[self._employer[i]],
            specialties=self._spec_sets[self._specialty[i]],
            title=self._titles[self._title[i]],
            years=self._years[i],
            status=STATUSES[self._status[i]],
            penalties=extras.penalties if extras else (),
            relationships=extras.relationships if extras else (),
            collaborations=extras.collaborations if extras else (),
            evaluations=extras.evaluations if extras else (),
        )

    def index_of(self, expert_id: str) -> int:
        """The index of the expert with ``expert_id``; raises :class:`KeyError` if absent."""
        i = bisect_left(self.ids, expert_id)
        if i == len(self.ids) or self.ids[i] != expert_id:
            raise KeyError(expert_id)
        return i

    def region_of(self, i: int) -> Region:
        """The region of the expert at index ``i``."""
        return REGIONS[self._region[i]]

    def specialties_of(self, i: int) -> tuple[str, ...]:
        """The specialty codes of the expert at index ``i``."""
        return self._spec_sets[self._specialty[i]]

    def candidates(self, region: str, prefix: str) -> Sequence[int]:
        """Indexes (ascending) of experts of ``region`` holding a code under ``prefix``."""
        return self._by_region_specialty.get((REGIONS.index(region), prefix), array("I"))

    def employed_by(self, uscc: str) -> Sequence[int]:
        """Indexes of experts whose employer has ``uscc``."""
        return self._by_employer.get(uscc, ())

    def related_to_organisation(self, uscc: str) -> Sequence[int]:
        """Indexes of experts who declared a relationship to the organisation ``uscc``."""
        return self._by_related_org.get(uscc, ())

    def related_to_person(self, name: str) -> Sequence[int]:
        """Indexes of experts who declared a relationship to a person named ``name``."""
        return self._by_related_person.get(name, ())

    def collaborated_after(self, uscc: str, cutoff: _dt.date) -> list[int]:
        """Indexes of experts with a collaboration with ``uscc`` dated after ``cutoff``."""
        return _after(self._collaborations.get(uscc), cutoff)

    def evaluations_after(self, tenderer_uscc: str, cutoff: _dt.date) -> list[int]:
        """One index per evaluation for ``tenderer_uscc`` dated after ``cutoff`` (repeats)."""
        return _after(self._evaluations.get(tenderer_uscc), cutoff)

    def penalised_after(self, cutoff: _dt.date | None) -> list[int]:
        """Indexes of experts with a penalty dated after ``cutoff`` (``None``: any penalty)."""
        return _after(self._penalised, cutoff)

    def inactive(self) -> Sequence[int]:
        """Indexes of experts who are suspended or retired."""
        return self._inactive


def _add_dated(
    table: dict[str, tuple[array[int], array[int]]], key: str, i: int, day: _dt.date
) -> None:
    entry = table.get(key)
    if entry is None:
        entry = table[key] = (array("I"), array("I"))
    entry[0].append(i)
    entry[1].append(day.toordinal())


def _after(entry: tuple[array[int], array[int]] | None, cutoff: _dt.date | None) -> list[int]:
    if entry is None:
        return []
    if cutoff is None:
        return list(entry[0])
    limit = cutoff.toordinal()
    return [i for i, d in zip(entry[0], entry[1], strict=True) if d > limit]


# --------------------------------------------------------------------------- JSON shapes


def _date_str(d: _dt.date) -> str:
    return d.isoformat()


def expert_to_json(e: Expert) -> dict[str, Any]:
    """The full JSON record of an expert (the import and pool-file format)."""
    return {
        "id": e.id,
        "name": e.name,
        "resident_id": e.resident_id,
        "region": e.region,
        "employer_name": e.employer.name,
        "employer_uscc": e.employer.uscc,
        "specialties": list(e.specialties),
        "title": e.title,
        "years": e.years,
        "status": e.status,
        "penalties": [{"date": _date_str(p.date), "reason": p.reason} for p in e.penalties],
        "relationships": [
            {"kind": r.kind, "name": r.name, "uscc": r.uscc, "relation": r.relation}
            for r in e.relationships
        ],
        "collaborations": [
            {"uscc": c.uscc, "name": c.name, "date": _date_str(c.date)} for c in e.collaborations
        ],
        "evaluations": [
            {"tenderer_uscc": v.tenderer_uscc, "date": _date_str(v.date)} for v in e.evaluations
        ],
    }


# The personal fields a draw view leaves out, each replaced by a salted commitment
# (docs/audit.md "Masked personal data"): the draw decides on none of them.
MASKED_FIELDS = ("name", "resident_id", "employer", "title")


def masked_values(e: Expert) -> dict[str, str]:
    """The values of :data:`MASKED_FIELDS` of ``e`` (``employer``: its name; the draw
    reads the employer's USCC, which the view shows)."""
    return {"name": e.name, "resident_id": e.resident_id, "employer": e.employer.name,
            "title": e.title}


def masked_commitments(e: Expert, salt: Callable[[], bytes]) -> dict[str, tuple[str, bytes]]:
    """For each masked field: (its commitment, the salt). The commitment is
    SHA-256(salt ‖ RFC 8785 bytes of [field, value]) over a fresh 16-byte salt — the
    digest of an audit leaf's field (:func:`evalsvc.audit.leaf.field_digest`, which
    :func:`evalsvc.audit.rederive.check_openings` recomputes)."""
    values = masked_values(e)
    # One canonical walk for the four [field, value] pairs (field_digest's bytes).
    texts = canonical_texts([[name, value] for name, value in values.items()])
    out: dict[str, tuple[str, bytes]] = {}
    for name, text in zip(values, texts, strict=True):
        s = salt()
        if len(s) < 16:
            raise ValueError("a masked field's salt must be at least 16 bytes")
        out[name] = (hashlib.sha256(s + text.encode("utf-8")).hexdigest(), s)
    return out


def draw_view(e: Expert, masked: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What the draw reads of an expert, and nothing personal it does not need.

    Name, resident ID number, employer name and title are left out: this view goes into
    the audit record (``docs/draw.md``), which supervisors may read long after the fact.
    ``masked`` (field → commitment, :func:`masked_commitments`) commits to them instead,
    so that the primary can open one of them later without revealing the others.
    """
    return {
        **({"masked": dict(sorted(masked.items()))} if masked is not None else {}),
        "id": e.id,
        "region": e.region,
        "status": e.status,
        "employer_uscc": e.employer.uscc,
        "specialties": list(e.specialties),
        "penalties": sorted(_date_str(p.date) for p in e.penalties),
        "relationships": sorted(
            [{"kind": r.kind, "uscc": r.uscc, "name": r.name if r.kind == "person" else ""}
             for r in e.relationships],
            key=lambda r: (r["kind"], r["uscc"], r["name"]),
        ),
        "collaborations": sorted(
            [{"uscc": c.uscc, "date": _date_str(c.date)} for c in e.collaborations],
            key=lambda c: (c["uscc"], c["date"]),
        ),
        "evaluations": sorted(
            [{"tenderer_uscc": v.tenderer_uscc, "date": _date_str(v.date)}
             for v in e.evaluations],
            key=lambda v: (v["tenderer_uscc"], v["date"]),
        ),
    }


def expert_from_view(view: Mapping[str, Any]) -> Expert:
    """An expert rebuilt from :func:`draw_view` (name and resident ID left empty)."""
    try:
        return Expert(
            id=str(view["id"]),
            name="",
            resident_id="",
            region=view["region"],
            employer=Organisation("", str(view["employer_uscc"])),
            specialties=tuple(view["specialties"]),
            status=view["status"],
            penalties=tuple(Penalty(_dt.date.fromisoformat(d)) for d in view["penalties"]),
            relationships=tuple(
                Relationship(kind=r["kind"], name=r["name"], uscc=r["uscc"])
                for r in view["relationships"]
            ),
            collaborations=tuple(
                Collaboration(uscc=c["uscc"], date=_dt.date.fromisoformat(c["date"]))
                for c in view["collaborations"]
            ),
            evaluations=tuple(
                Evaluation(v["tenderer_uscc"], _dt.date.fromisoformat(v["date"]))
                for v in view["evaluations"]
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"bad draw view of expert: {exc}", field="pool") from exc


def pool_document(experts: Iterable[Expert]) -> dict[str, Any]:
    """The pool file written by ``evalsvc experts import`` and ``synth`` (ids ascending)."""
    return {
        "format": POOL_FORMAT,
        "experts": [expert_to_json(e) for e in sorted(experts, key=lambda e: e.id)],
    }


# --------------------------------------------------------------------------- import

CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "resident_id",
    "region",
    "employer_name",
    "employer_uscc",
    "specialties",
    "title",
    "years",
    "status",
    "penalties",
    "relationships",
    "collaborations",
    "evaluations",
)
_REQUIRED = CSV_COLUMNS[:10]
# CSV cells holding lists: specialties are ';'-separated, the rest are JSON arrays.
_JSON_CELLS = ("penalties", "relationships", "collaborations", "evaluations")


@dataclass(frozen=True)
class RowProblem:
    """One problem of one input row. ``line`` is the 1-based line where the row starts."""

    row: int
    line: int | None
    field: str
    reason: str
    fatal: bool = False

    def to_json(self) -> dict[str, Any]:
        """JSON form for the report file."""
        return {"row": self.row, "line": self.line, "field": self.field, "reason": self.reason}


@dataclass(frozen=True)
class ImportReport:
    """The row-level outcome of reading one file."""

    encoding: str
    rows: int
    accepted: int
    problems: tuple[RowProblem, ...]

    @property
    def fatal(self) -> bool:
        """Whether the file as a whole is unusable (truncated, undecodable, bad structure)."""
        return any(p.fatal for p in self.problems)

    @property
    def rejected_rows(self) -> int:
        """How many rows had at least one problem."""
        return len({p.row for p in self.problems if not p.fatal})

    def to_json(self) -> dict[str, Any]:
        """JSON form for ``--report``."""
        return {
            "encoding": self.encoding,
            "rows": self.rows,
            "accepted": self.accepted,
            "rejected_rows": self.rejected_rows,
            "fatal": self.fatal,
            "problems": [p.to_json() for p in self.problems],
        }

    def to_csv(self) -> str:
        """CSV form for ``--report`` (opens in a spreadsheet)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["row", "line", "field", "reason"])
        for p in self.problems:
            w.writerow([p.row, "" if p.line is None else p.line, p.field, p.reason])
        return buf.getvalue()


@dataclass(frozen=True)
class ImportResult:
    """Valid experts read from a file, with the report of what was rejected."""

    experts: tuple[Expert, ...]
    report: ImportReport


def _decode(data: bytes) -> tuple[str, str] | RowProblem:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as utf8_exc:
        try:
            # GB 18030 is a superset of GBK, so GBK files decode the same.
            return data.decode("gb18030"), "gbk"
        except UnicodeDecodeError:
            line = data.count(b"\n", 0, utf8_exc.start) + 1
            return RowProblem(
                0,
                line,
                "",
                f"file is neither UTF-8 nor GBK (bad byte at offset {utf8_exc.start};"
                " truncated in the middle of a character?)",
                fatal=True,
            )


def _json_rows(text: str) -> Iterator[tuple[int | None, Any]] | RowProblem:
    """Rows of a JSON array (with the line each starts on) or a pool file."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return RowProblem(
            0, exc.lineno, "", f"not valid JSON (truncated?): {exc.msg} at column {exc.colno}",
            fatal=True,
        )
    if isinstance(doc, dict) and isinstance(doc.get("experts"), list):
        return ((None, row) for row in doc["experts"])
    if not isinstance(doc, list):
        return RowProblem(0, 1, "", "expected a JSON array of experts or {\"experts\": [...]}",
                          fatal=True)
    # Re-scan the array to learn on which line each element starts.
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    out: list[tuple[int | None, Any]] = []
    ws = re.compile(r"[\s,]*")
    for _ in doc:
        m = ws.match(text, pos)
        pos = m.end() if m else pos
        value, end = decoder.raw_decode(text, pos)
        out.append((text.count("\n", 0, pos) + 1, value))
        pos = end
    return iter(out)


def _csv_rows(text: str) -> tuple[list[tuple[int | None, Any]], list[RowProblem]]:
    problems: list[RowProblem] = []
    rows: list[tuple[int | None, Any]] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return rows, [RowProblem(0, 1, "", "empty file: expected a header row", fatal=True)]
    except csv.Error as exc:
        return rows, [RowProblem(0, 1, "", f"bad CSV header: {exc}", fatal=True)]
    header = [h.strip() for h in header]
    missing = [c for c in _REQUIRED if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if missing or unknown:
        reason = []
        if missing:
            reason.append(f"missing columns {', '.join(missing)}")
        if unknown:
            reason.append(f"unknown columns {', '.join(unknown)}")
        return rows, [RowProblem(0, 1, "", "; ".join(reason), fatal=True)]
    line = reader.line_num + 1
    n = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(
                RowProblem(n + 1, line, "",
                           f"unreadable CSV (unterminated quote, truncated?): {exc}", fatal=True)
            )
            break
        start, line = line, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        n += 1
        if len(cells) != len(header):
            problems.append(
                RowProblem(n, start, "",
                           f"row has {len(cells)} fields, expected {len(header)} (truncated?)")
            )
            rows.append((start, None))
            continue
        rows.append((start, dict(zip(header, cells, strict=True))))
    return rows, problems


class _RowError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _str(row: Mapping[str, Any], key: str, *, max_len: int = 200, required: bool = True) -> str:
    value = row.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _RowError(key, f"must be text, got {type(value).__name__}")
    value = str(value).strip()
    if required and not value:
        raise _RowError(key, "is empty")
    if len(value) > max_len:
        raise _RowError(key, f"longer than {max_len} characters")
    return value


def _list(row: Mapping[str, Any], key: str, *, csv_cell: bool) -> list[Any]:
    value = row.get(key)
    if value is None or value == "":
        return []
    if csv_cell and isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise _RowError(key, f"must be a JSON array: {exc.msg}") from exc
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _RowError(key, "must be an array of objects")
    return value


def _date(value: Any, key: str) -> _dt.date:
    if not isinstance(value, str):
        raise _RowError(key, "date must be text YYYY-MM-DD")
    try:
        return _dt.date.fromisoformat(value)
    except ValueError as exc:
        raise _RowError(key, f"{value!r} is not a date YYYY-MM-DD") from exc


def _uscc(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise _RowError(key, "USCC must be text")
    code = str(value).strip().upper()
    reason = validate_uscc(code)
    if reason:
        raise _RowError(key, f"unified social credit code {code!r} {reason}")
    return code


def _row_to_expert(
    row: Mapping[str, Any], *, csv_cell: bool
) -> tuple[Expert | None, list[_RowError]]:
    errs: list[_RowError] = []

    def take(fn: Any, *a: Any, **kw: Any) -> Any:
        try:
            return fn(*a, **kw)
        except _RowError as exc:
            errs.append(exc)
            return None

    expert_id = take(_str, row, "id", max_len=64)
    if expert_id is not None and not _ID_RE.fullmatch(expert_id):
        errs.append(_RowError("id", f"{expert_id!r} must be 1-64 of A-Z a-z 0-9 . _ -"))
    name = take(_str, row, "name", max_len=50)
    rid = take(_str, row, "resident_id", max_len=18)
    if rid is not None:
        rid = rid.upper()
        reason = validate_resident_id(rid)
        if reason:
            errs.append(_RowError("resident_id", f"resident ID number {reason}"))
    region = take(_str, row, "region", max_len=2)
    if region is not None and region not in REGIONS:
        errs.append(_RowError("region", f"{region!r} is not one of {', '.join(REGIONS)}"))
    employer_name = take(_str, row, "employer_name")
    employer_uscc = take(lambda: _uscc(row.get("employer_uscc", ""), "employer_uscc"))
    raw_specs = row.get("specialties", "")
    specs: tuple[str, ...] = ()
    if isinstance(raw_specs, str):
        specs = tuple(s.strip() for s in raw_specs.split(";") if s.strip())
    elif isinstance(raw_specs, list) and all(isinstance(s, str) for s in raw_specs):
        specs = tuple(s.strip() for s in raw_specs)
    else:
        errs.append(_RowError("specialties", "must be a list of codes"))
    if not specs and not any(e.field == "specialties" for e in errs):
        errs.append(_RowError("specialties", "is empty: at least one specialty code"))
    unknown = [s for s in specs if s not in SPECIALTIES]
    if unknown:
        errs.append(_RowError("specialties", f"unknown specialty code {', '.join(unknown)}"))
    specs = tuple(dict.fromkeys(specs))
    title = take(_str, row, "title", max_len=50)
    years_raw = row.get("years", "")
    years = None
    with contextlib.suppress(ValueError):
        years = int(str(years_raw).strip()) if not isinstance(years_raw, bool) else None
    if years is None or not 0 <= years <= 70:
        errs.append(_RowError("years", f"{years_raw!r} is not a number of years 0-70"))
    status = take(_str, row, "status", max_len=20)
    if status is not None and status not in STATUSES:
        errs.append(_RowError("status", f"{status!r} is not one of {', '.join(STATUSES)}"))

    def items(key: str, build: Any) -> tuple[Any, ...]:
        try:
            return tuple(build(item) for item in _list(row, key, csv_cell=csv_cell))
        except _RowError as exc:
            errs.append(exc)
        except (KeyError, TypeError) as exc:
            errs.append(_RowError(key, f"item lacks {exc}"))
        return ()

    penalties = items("penalties", lambda p: Penalty(_date(p["date"], "penalties"),
                                                     str(p.get("reason", ""))))

    def rel(r: Mapping[str, Any]) -> Relationship:
        kind = r.get("kind")
        if kind not in ("organisation", "person"):
            raise _RowError("relationships", f"kind {kind!r} is not organisation or person")
        nm = str(r.get("name", "")).strip()
        uscc = _uscc(r["uscc"], "relationships") if kind == "organisation" else ""
        if kind == "person" and not nm:
            raise _RowError("relationships", "a person relationship needs a name")
        return Relationship(kind=kind, name=nm, uscc=uscc, relation=str(r.get("relation", "")))

    relationships = items("relationships", rel)
    collaborations = items(
        "collaborations",
        lambda c: Collaboration(_uscc(c["uscc"], "collaborations"),
                                _date(c["date"], "collaborations"), str(c.get("name", ""))),
    )
    evaluations = items(
        "evaluations",
        lambda v: Evaluation(_uscc(v["tenderer_uscc"], "evaluations"),
                             _date(v["date"], "evaluations")),
    )
    if errs or years is None:
        return None, errs
    return (
        Expert(
            id=expert_id,
            name=name,
            resident_id=rid,
            region=region,
            employer=Organisation(employer_name, employer_uscc),
            specialties=specs,
            title=title,
            years=years,
            status=status,
            penalties=penalties,
            relationships=relationships,
            collaborations=collaborations,
            evaluations=evaluations,
        ),
        [],
    )


def parse_experts(data: bytes, *, fmt: Literal["csv", "json"]) -> ImportResult:
    """Read experts from CSV or JSON bytes; every problem is in the report, nothing raised.

    CSV may be UTF-8 (with or without BOM) or GBK; the encoding is detected and reported.
    """
    decoded = _decode(data)
    if isinstance(decoded, RowProblem):
        return ImportResult((), ImportReport("unknown", 0, 0, (decoded,)))
    text, encoding = decoded
    problems: list[RowProblem] = []
    if fmt == "json":
        rows_or = _json_rows(text)
        if isinstance(rows_or, RowProblem):
            return ImportResult((), ImportReport(encoding, 0, 0, (rows_or,)))
        rows = list(rows_or)
    else:
        rows, problems = _csv_rows(text)
    experts: list[Expert] = []
    first_line: dict[str, int | None] = {}
    first_row: dict[str, int] = {}
    for n, (line, row) in enumerate(rows, start=1):
        if row is None:
            continue  # already reported (wrong field count)
        if not isinstance(row, dict):
            problems.append(RowProblem(n, line, "", "expected an object"))
            continue
        expert, errs = _row_to_expert(row, csv_cell=fmt == "csv")
        for err in errs:
            problems.append(RowProblem(n, line, err.field, err.reason))
        if expert is None:
            continue
        if expert.id in first_row:
            where = first_line[expert.id]
            at = f"line {where}" if where is not None else f"row {first_row[expert.id]}"
            problems.append(
                RowProblem(n, line, "id", f"duplicate id {expert.id!r} (first at {at})")
            )
            continue
        first_row[expert.id] = n
        first_line[expert.id] = line
        experts.append(expert)
    if (fmt == "csv" and rows and not text.endswith(("\n", "\r"))
            and any(p.row == len(rows) for p in problems)):
        # The last row is invalid and the file stops mid-line: it was most likely cut
        # short, and what is missing after it cannot be known. (A cut exactly at a line
        # break is indistinguishable from a shorter file.)
        problems.append(RowProblem(
            len(rows), rows[-1][0], "",
            "file ends without a line break and its last row is invalid: it looks truncated",
            fatal=True,
        ))
    problems.sort(key=lambda p: (p.row, p.field))
    fatal = any(p.fatal for p in problems)
    report = ImportReport(encoding, len(rows), 0 if fatal else len(experts), tuple(problems))
    if report.fatal:
        return ImportResult((), report)
    return ImportResult(tuple(experts), report)


class ImportRefused(InvalidInput):
    """An import refused as a whole; ``report`` holds the row-level problems."""

    def __init__(self, message: str, *, report: ImportReport) -> None:
        errors = tuple(
            FieldError(
                f"line {p.line}/{p.field}" if p.line is not None else f"row {p.row}/{p.field}",
                p.reason,
            )
            for p in report.problems
        )
        super().__init__(message, errors=errors)
        self.report = report


def validated_experts(
    data: bytes, *, fmt: Literal["csv", "json"], skip_invalid: bool = False
) -> ImportResult:
    """The experts of a file, all or nothing unless ``skip_invalid``.

    Raises :class:`ImportRefused` (an :class:`InvalidInput` with one :class:`FieldError`
    per problem, field ``line N/column``, and the report) if the file is unusable, or if
    any row is invalid and ``skip_invalid`` is false. This is the function a store calls
    before writing.
    """
    result = parse_experts(data, fmt=fmt)
    report = result.report
    if report.fatal or (report.problems and not skip_invalid):
        what = "file is unusable" if report.fatal else f"{report.rejected_rows} invalid rows"
        raise ImportRefused(f"expert import refused: {what}; nothing imported", report=report)
    return result

