"""INSERT … ON CONFLICT DO UPDATE for SQLite and PostgreSQL alike."""
from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def upsert(s: Session, model, rows: list[dict], keys: tuple[str, ...]) -> None:
    if not rows:
        return
    dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(model.__table__).values(rows)
    columns = [c for c in rows[0] if c not in keys]
    if columns:
        stmt = stmt.on_conflict_do_update(index_elements=list(keys),
                                          set_={c: stmt.excluded[c] for c in columns})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    s.execute(stmt)
