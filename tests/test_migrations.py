"""A database created by 3df28e2 (schema 1) upgrades with its data, and its audit log
still verifies (tests/data/schema-v1/README.md says where the database comes from)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import Harness

from evalsvc.app import create_app
from evalsvc.audit.merkle import leaf_hash, root_hash
from evalsvc.audit.note import open_note, parse_checkpoint
from evalsvc.audit.service import log_keys
from evalsvc.config import Settings
from evalsvc.db import SCHEMA_VERSION, ensure_schema, make_engine, upgrade_schema
from evalsvc.errors import SchemaMismatch
from evalsvc.keys import load_or_create_secret
from evalsvc.schema import METADATA, MIGRATIONS

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


async def test_a_schema_1_database_upgrades_with_its_data_and_log(
    aiohttp_client: Any, settings: Settings
) -> None:
    engine = make_engine(settings.database)
    try:
        rows = _load_v1(engine)
        with pytest.raises(SchemaMismatch, match="evalsvc db upgrade"):
            ensure_schema(engine, METADATA)
        assert upgrade_schema(engine, METADATA, MIGRATIONS) == (1, SCHEMA_VERSION)
        ensure_schema(engine, METADATA)
        # The log as stored: every leaf, the latest signed checkpoint over them.
        with engine.connect() as conn:
            leaves = [
                bytes(r[0])
                for r in conn.exec_driver_sql("SELECT data FROM audit_leaf ORDER BY idx")
            ]
            notes = [
                str(r[0])
                for r in conn.exec_driver_sql("SELECT note FROM audit_checkpoint ORDER BY size")
            ]
    finally:
        engine.dispose()
    master = load_or_create_secret(V1 / "audit-log.key")
    assert len(notes) == len(rows["audit_checkpoint"]) == 2
    for note in notes:
        origin = note.split("\n", 1)[0]
        opened = open_note(note, [log_keys(master, origin)[1]])
        cp = parse_checkpoint(opened.text)
        assert cp.root == root_hash([leaf_hash(x) for x in leaves[: cp.size]])

    # The upgraded database serves: the session as it was, its events, and a new sheet
    # from the one expert still to score, sealed and appended to the same log.
    api = Harness(await aiohttp_client(create_app(settings)), settings)
    session = json.loads(rows["session"][0]["doc"])
    sid = session["id"]
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
