"""Engine, sessions and migrations for the durable store."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")
ANALYZE_FIRST = 5000  # rows a table grows by before its first ANALYZE (Store.grew)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # WAL lets the web process read while a worker writes a batch.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if parsed.drivername == "postgresql":  # prefer psycopg 3, the driver we ship
        url = parsed.set(drivername="postgresql+psycopg")
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


MIGRATE_COMMAND = "python app.py migrate"


class SchemaNotCurrent(Exception):
    """The database is not at this release's schema; the message is one line for the operator."""


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent). A release step, run once per
    deploy (`python app.py migrate`, Procfile `release:`): processes only check (issue 9 item 11)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def schema_revisions(engine: Engine) -> tuple[set[str], set[str]]:
    """(the revisions the database is at, the heads this release ships). Reads only."""
    heads = set(ScriptDirectory.from_config(alembic_config(str(engine.url))).get_heads())
    quiet = logging.getLogger("alembic.runtime.migration")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # "Context impl …" at every process start says nothing
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    finally:
        quiet.setLevel(level)
    return current, heads


def check_schema(engine: Engine) -> None:
    """Raise SchemaNotCurrent unless the database is at this release's head revision."""
    current, heads = schema_revisions(engine)
    if current == heads:
        return
    at = ", ".join(sorted(current)) or "no schema"
    raise SchemaNotCurrent(f"the database schema is not current (at {at}, this release needs "
                           f"{', '.join(sorted(heads))}); run `{MIGRATE_COMMAND}` first")


class Store:
    """The SQL store: one engine and a session factory."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._grown: dict[str, int] = {}
        self._analyze_at: dict[str, int] = {}

    def grew(self, rows: int, *tables: str) -> None:
        """PostgreSQL plans from statistics autovacuum refreshes about once a minute; a first
        sync that fills a mirror inside that minute is planned as for an empty table, a scan per
        lookup (quadratic: issue 11). Each time a table has grown twofold through this process,
        it is analyzed: a few times a sync, log N in all. SQLite plans by its indexes."""
        if self.engine.dialect.name != "postgresql" or rows <= 0:
            return
        due = []
        for table in tables:
            grown = self._grown[table] = self._grown.get(table, 0) + rows
            if grown >= self._analyze_at.get(table, ANALYZE_FIRST):
                self._analyze_at[table] = grown * 2
                due.append(table)
        if due:
            with self.engine.connect() as conn:
                conn.execute(text(f"ANALYZE {', '.join(due)}"))
                conn.commit()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back on error."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def migrate(self) -> None:
        migrate(self.engine)

    def check_schema(self) -> None:
        check_schema(self.engine)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        self.engine.dispose()
