"""INSERT … ON CONFLICT DO UPDATE for SQLite and PostgreSQL alike."""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


@lru_cache(maxsize=64)
def _statement(dialect_name: str, table, keys: tuple[str, ...], columns: tuple[str, ...]):
    # One statement per shape, executed with many parameter sets: SQLAlchemy compiles it once
    # instead of once per multi-row VALUES literal (the cost of a big first sync).
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    if columns:
        excluded = stmt.excluded
        return stmt.on_conflict_do_update(index_elements=list(keys), set_={c: excluded[c] for c in columns})
    return stmt.on_conflict_do_nothing(index_elements=list(keys))


def upsert(s: Session, model, rows: list[dict], keys: tuple[str, ...]) -> None:
    if not rows:
        return
    columns = tuple(c for c in rows[0] if c not in keys)
    s.execute(_statement(s.get_bind().dialect.name, model.__table__, tuple(keys), columns), rows)
