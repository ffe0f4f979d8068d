"""A database created by 3df28e2 (schema 1) upgrades with ``evalsvc db upgrade``, keeps
its data, ends with exactly the tables a fresh database gets, and its audit log still
verifies (``evalsvc audit export`` + ``evalsvc audit verify``). tests/data/schema-v1/
README.md says where the database comes from. Runs on SQLite and, with
``EVALSVC_TEST_DATABASE``, on PostgreSQL (the ``db`` marker)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import Harness

from evalsvc.app import create_app
from evalsvc.audit.merkle import leaf_hash, root_hash
from evalsvc.audit.note import open_note, parse_checkpoint
from evalsvc.audit.service import log_keys
from evalsvc.cli import main
from evalsvc.config import DatabaseSettings, Settings
from evalsvc.db import make_engine
from evalsvc.errors import SchemaMismatch
from evalsvc.keys import load_or_create_secret
from evalsvc.schema import HEAD, METADATA, ensure_schema, schema_status, upgrade_schema

V1 = Path(__file__).parent / "data" / "schema-v1"


def _load_v1(engine: sa.Engine) -> dict[str, list[dict[str, Any]]]:
    ddl = json.loads((V1 / "ddl.json").read_text(encoding="utf-8"))[engine.dialect.name]
    rows = json.loads((V1 / "rows.json").read_text(encoding="utf-8"))
    with engine.begin() as conn:
        for statement in ddl:
            conn.exec_driver_sql(statement)
        meta = sa.MetaData()
        meta.reflect(conn)
        for table in meta.sorted_tables:
            values = [
                {k: bytes.fromhex(v["hex"]) if isinstance(v, dict) else v for k, v in r.items()}
                for r in rows[table.name]
            ]
            if values:
                conn.execute(sa.insert(table), values)
            serial = engine.dialect.name == "postgresql" and "id" in table.c and values
            if serial and isinstance(values[0]["id"], int):
                # As a server that inserted them would have left it: past the rows' ids.
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"(SELECT max(id) FROM {table.name}))"
                )
    return dict(rows)


def _schema_diff(engine: sa.Engine) -> list[Any]:
    """What differs between the database's tables and the ones this code declares."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return [
            d for d in compare_metadata(ctx, METADATA)
            # evalsvc_meta is the adapter's own table (evalsvc.db), not on METADATA.
            if not (d[0] == "remove_table" and d[1].name == "evalsvc_meta")
        ]


# Tables created by the revisions after 0002 (r0003: signing_crl, pool_commitment).
_ADDED_AFTER_0002 = frozenset({"signing_crl", "pool_commitment"})


def _driver_url(url: str) -> str:
    # `audit export` takes a SQLAlchemy URL as it is (psycopg 3 is the driver we ship).
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


async def test_a_schema_1_database_upgrades_with_its_data_and_log(
    aiohttp_client: Any, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = settings.database.url
    engine = make_engine(settings.database)
    try:
        rows = _load_v1(engine)
        # A server does not start on it, and says what to run.
        with pytest.raises(SchemaMismatch, match="evalsvc db upgrade") as refused:
            ensure_schema(engine)
        assert "结构版本 0001" in refused.value.message
        assert schema_status(engine).kind == "behind"
    finally:
        engine.dispose()

    assert main(["db", "upgrade", "--database", url]) == 0
    assert f"结构版本 0001 → {HEAD}，升级完成" in capsys.readouterr().out

    engine = make_engine(settings.database)
    try:
        ensure_schema(engine)  # the server would start now
        # Exactly the tables, columns, types and indexes a fresh database gets.
        assert _schema_diff(engine) == []
        with engine.connect() as conn:
            for table, stored in rows.items():
                if table == "evalsvc_meta":
                    continue
                n = conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
                assert n == len(stored), table
            left = conn.exec_driver_sql(
                "SELECT count(*) FROM evalsvc_meta WHERE key = 'schema_version'"
            ).scalar_one()
            assert left == 0  # alembic_version is the one record of the revision now
            # The log as stored: every leaf, the latest signed checkpoint over them.
            leaves = [
                bytes(r[0])
                for r in conn.exec_driver_sql("SELECT data FROM audit_leaf ORDER BY idx")
            ]
            notes = [
                str(r[0])
                for r in conn.exec_driver_sql("SELECT note FROM audit_checkpoint ORDER BY size")
            ]
        # A seat keeps one row per version (revision 0004: the unique index that replaced
        # the constraint refuses a second; the rows above kept their ids).
        with engine.connect() as conn:
            ids = {r[0] for r in conn.exec_driver_sql("SELECT id FROM score_sheet")}
        assert ids == {r["id"] for r in rows["score_sheet"]}
        cols = ("session_id", "seat", "stage", "version", "expert_id", "doc", "sha256", "seq",
                "submitted_ms")
        again = sa.text(f"INSERT INTO score_sheet ({', '.join(cols)}) "
                        f"VALUES ({', '.join(':' + c for c in cols)})")
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(again, {c: rows["score_sheet"][0][c] for c in cols})
        assert upgrade_schema(engine) == (HEAD, HEAD)  # a second run does nothing
    finally:
        engine.dispose()
    master = load_or_create_secret(V1 / "audit-log.key")
    assert len(notes) == len(rows["audit_checkpoint"]) == 2
    for note in notes:
        origin = note.split("\n", 1)[0]
        opened = open_note(note, [log_keys(master, origin)[1]])
        cp = parse_checkpoint(opened.text)
        assert cp.root == root_hash([leaf_hash(x) for x in leaves[: cp.size]])

    # Offline, as a supervisor would: export the session's bundle, verify it.
    session = json.loads(rows["session"][0]["doc"])
    sid = session["id"]
    origin = notes[-1].split("\n", 1)[0]
    bundle = tmp_path / "bundle"
    assert main([
        "audit", "export", sid, "--out", str(bundle), "--database", _driver_url(url),
        "--origin", origin, "--log-vkey", log_keys(master, origin)[1],
    ]) == 0
    capsys.readouterr()
    main(["audit", "verify", str(bundle), "--json"])
    report = json.loads(capsys.readouterr().out)
    checks = report["checks"]
    # The log, its checkpoints and their signatures verify as they did at 3df28e2.
    assert checks["log"]["ok"] and checks["witnesses"]["ok"], checks
    # What that version never recorded is named, not waved through: its committee was
    # seated by hand (no draw), its sheets carried plain digests (no commitment openings).
    assert not checks["draw"]["ok"] and "E-SH-0107" in checks["draw"]["detail"], checks
    assert not checks["sheets"]["ok"] and not report["ok"], checks

    # The upgraded database serves: the session as it was, its events, and a new sheet
    # from the one expert still to score, sealed and appended to the same log.
    api = Harness(await aiohttp_client(create_app(settings)), settings)
    status, body = await api.call("GET", f"/api/sessions/{sid}", api.sup)
    assert status == 200 and (body["state"], body["stage"]) == ("evaluating", "scoring"), body
    events = await api.events(sid)
    assert len(events) == len(rows["event"])
    scored = {r["seat"] for r in rows["score_sheet"] if r["stage"] == "scoring"}
    (last,) = [x for x in session["seats"] if x["index"] not in scored]
    token = api.expert(last["expert_id"], last["venue_id"])
    scored_by_hand = [
        c["id"] for c in session["criteria"] if c["category"] in ("technical", "commercial")
    ]
    sheet = {
        "stage": "scoring",
        "bids": {b: {c: "1" for c in scored_by_hand} for b in session["qualified"]},
    }
    status, ack = await api.submit(sid, token, sheet, key="after-upgrade-1")
    assert status == 201, ack
    assert ack["seq"] == len(events) + 1 and len(ack["commitment"]) == 64


def test_a_fresh_database_gets_the_head_directly(db_url: str) -> None:
    engine = make_engine(DatabaseSettings(url=db_url))
    try:
        ensure_schema(engine)  # what `evalsvc serve` does on an empty database
        assert schema_status(engine).kind == "current"
        assert _schema_diff(engine) == []
        with engine.connect() as conn:
            rev = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
        assert rev == HEAD
    finally:
        engine.dispose()


def test_a_schema_2_database_from_before_alembic_is_stamped_not_rebuilt(db_url: str) -> None:
    engine = make_engine(DatabaseSettings(url=db_url))
    try:
        # As the hand-written migrations left it: the tables of schema 2 (today's, less
        # those revisions after 0002 create), schema_version 2.
        with engine.begin() as conn:
            METADATA.create_all(conn, tables=[t for t in METADATA.sorted_tables
                                              if t.name not in _ADDED_AFTER_0002])
            conn.exec_driver_sql(
                "CREATE TABLE evalsvc_meta (key VARCHAR(64) PRIMARY KEY, value VARCHAR(200))"
            )
            conn.exec_driver_sql(
                "INSERT INTO evalsvc_meta (key, value) VALUES ('schema_version', '2')"
            )
        if HEAD == "0002":
            ensure_schema(engine)  # at the head already: servers keep starting on it
        else:
            with pytest.raises(SchemaMismatch, match="evalsvc db upgrade"):
                ensure_schema(engine)
        assert upgrade_schema(engine) == ("0002", HEAD)
        ensure_schema(engine)
        with engine.connect() as conn:
            rev = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
            legacy = conn.exec_driver_sql("SELECT count(*) FROM evalsvc_meta").scalar_one()
        assert (rev, legacy) == (HEAD, 0)
        assert _schema_diff(engine) == []
    finally:
        engine.dispose()
