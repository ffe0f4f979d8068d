"""Every table of evalsvc on one metadata, and the schema's version by alembic.

The database adapter (:mod:`evalsvc.db`) knows no feature's tables; this module gathers
them (:data:`METADATA`) and keeps the schema at the revision this code needs:

- :func:`ensure_schema` (``evalsvc serve``, the app, the commands): an empty database
  gets the current tables at once (``create_all``) and is stamped with the head
  revision; a database at the head passes; one behind is **refused** with a message
  naming ``evalsvc db upgrade`` (an upgrade is an operator's decision, taken after a
  backup, never a side effect of starting a server); a newer or a foreign one is refused.
- :func:`upgrade_schema` (``evalsvc db upgrade``): runs the alembic revisions of
  :mod:`evalsvc.migrations` from the stored revision to the head, in one transaction.
- :func:`schema_status` (``evalsvc db status``): reads, never writes.

Databases from before alembic carry ``evalsvc_meta.schema_version`` (1: commit 3df28e2,
2: the hand-written migration's target) and no ``alembic_version``: they are read as
revisions ``0001`` and ``0002``, and the upgrade stamps them so and removes that row.
"""

from __future__ import annotations

__all__ = [
    "HEAD",
    "LEGACY_REVISIONS",
    "METADATA",
    "SchemaState",
    "ensure_schema",
    "head_revision",
    "new_revision",
    "schema_status",
    "upgrade_schema",
]

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

# Imported for their side effect: each declares its tables on SQLModel.metadata.
import evalsvc.audit.tables
import evalsvc.experts.tables
import evalsvc.pki.tables
import evalsvc.sessions.tables
import evalsvc.tokens
from evalsvc.db import META_TABLE
from evalsvc.errors import SchemaMismatch

log = logging.getLogger(__name__)

METADATA = SQLModel.metadata
# Named, so that no tool takes the imports above for unused ones and drops them.
TABLE_MODULES = (
    evalsvc.audit.tables,
    evalsvc.experts.tables,
    evalsvc.pki.tables,
    evalsvc.sessions.tables,
    evalsvc.tokens,
)
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# evalsvc_meta.schema_version of the databases made before alembic → their revision.
LEGACY_REVISIONS: dict[int, str] = {1: "0001", 2: "0002"}

Kind = Literal["empty", "current", "behind", "ahead", "foreign"]


@dataclass(frozen=True)
class SchemaState:
    """What a database holds: ``kind`` and its revision (None: empty or foreign)."""

    kind: Kind
    revision: str | None
    head: str
    legacy: bool = False  # read from evalsvc_meta.schema_version (before alembic)

    def describe(self) -> str:
        """One line in Chinese for operators (``evalsvc db status``)."""
        if self.kind == "empty":
            return (
                "为空，尚未建表（`evalsvc db upgrade` 或 `evalsvc serve` "
                f"将直接建到结构版本 {self.head}）"
            )
        if self.kind == "foreign":
            return "已有其他表，却没有 evalsvc 的结构版本：是其他应用的数据库吗？"
        if self.kind == "current":
            return f"结构版本 {self.revision}（最新）"
        if self.kind == "behind":
            return (
                f"结构版本 {self.revision}，本版本 evalsvc 需要 {self.head}："
                "请先备份数据库，再运行 `evalsvc db upgrade`"
            )
        return (
            f"结构版本 {self.revision}，比本版本 evalsvc（{self.head}）更新或未知："
            "请升级 evalsvc"
        )


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # r0003_slug.py: a file name that is also a valid module name (mypy, ruff).
    cfg.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
    cfg.attributes["connection"] = connection
    return cfg


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The revision this code needs (the one head of :mod:`evalsvc.migrations`)."""
    heads = _scripts().get_heads()
    if len(heads) != 1:
        # Two branches each added a revision after the same one: when merging, point the
        # later one's down_revision at the other (docs/architecture.md "Schema").
        raise RuntimeError(
            f"evalsvc/migrations has {len(heads)} heads {sorted(heads)}: "
            "renumber one revision so that they form one chain"
        )
    return str(heads[0])


HEAD = head_revision()


def _inspect(conn: Connection) -> SchemaState:
    tables = set(sa.inspect(conn).get_table_names())
    if "alembic_version" in tables:
        rows = [str(r[0]) for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")]
        rev = rows[0] if len(rows) == 1 else None
        return _state(rev, legacy=False)
    if "evalsvc_meta" in tables:
        row = conn.execute(
            sa.select(META_TABLE.c.value).where(META_TABLE.c.key == "schema_version")
        ).first()
        if row is not None:
            version = int(row[0])
            rev = LEGACY_REVISIONS.get(version, f"schema_version {version}")
            return _state(rev, legacy=True)
    if not tables:
        return SchemaState("empty", None, HEAD)
    return SchemaState("foreign", None, HEAD)


def _state(rev: str | None, *, legacy: bool) -> SchemaState:
    if rev == HEAD:
        return SchemaState("current", rev, HEAD, legacy)
    known = rev is not None and _known(rev)
    return SchemaState("behind" if known else "ahead", rev, HEAD, legacy)


def _known(rev: str) -> bool:
    try:
        return _scripts().get_revision(rev) is not None
    except Exception:  # alembic raises several kinds for an id it does not have
        return False


def _create_head(conn: Connection) -> None:
    METADATA.create_all(conn)
    META_TABLE.create(conn, checkfirst=True)
    MigrationContext.configure(conn).stamp(_scripts(), HEAD)


def schema_status(engine: Engine) -> SchemaState:
    """The database's schema state; reads only."""
    with engine.connect() as conn:
        return _inspect(conn)


def ensure_schema(engine: Engine) -> None:
    """Create the head schema in an empty database; refuse any database not at the head
    (:class:`~evalsvc.errors.SchemaMismatch`, its message says what to do)."""
    with engine.begin() as conn:
        state = _inspect(conn)
        if state.kind == "empty":
            _create_head(conn)
            log.info("created database schema at revision %s", HEAD)
            return
    if state.kind != "current":
        raise SchemaMismatch(f"数据库{state.describe()}")


def upgrade_schema(engine: Engine) -> tuple[str | None, str]:
    """Take the database to the head revision in one transaction; returns (revision
    before, after). An empty database gets the head schema directly."""
    with engine.begin() as conn:
        state = _inspect(conn)
        if state.kind == "empty":
            _create_head(conn)
            return (None, HEAD)
        if state.kind in ("foreign", "ahead"):
            raise SchemaMismatch(f"数据库{state.describe()}")
        if state.kind == "current" and not state.legacy:
            return (state.revision, HEAD)
        assert state.revision is not None
        if state.legacy:
            # From here on alembic_version is the one record of the schema's revision.
            MigrationContext.configure(conn).stamp(_scripts(), state.revision)
            conn.execute(sa.delete(META_TABLE).where(META_TABLE.c.key == "schema_version"))
        command.upgrade(_config(conn), "head")
        log.info("upgraded database schema %s → %s", state.revision, HEAD)
        return (state.revision, HEAD)


def new_revision(message: str) -> Path:
    """Write a new, empty revision after the head into ``evalsvc/migrations/versions``
    (for developers; ``evalsvc db revision -m``); returns its path."""
    number = int(HEAD) + 1 if HEAD.isdigit() else None
    rev_id = f"{number:04d}" if number is not None else None
    script = command.revision(_config(), message=message, rev_id=rev_id)
    if script is None or isinstance(script, list):
        raise SchemaMismatch("alembic did not write one revision")
    _scripts.cache_clear()
    return Path(script.path)
