"""Exit 0 when the PostgreSQL URL answers (creating the database if asked), else 1."""
from __future__ import annotations

import sys

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError


def check(raw_url: str, create: bool = True) -> str | None:
    """None when the server at the URL answers (its database created when `create`), else why not."""
    url = make_url(raw_url).set(drivername="postgresql+psycopg")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database})
            if not exists and create:
                conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    except OperationalError as exc:
        return str(exc.orig or exc).strip().splitlines()[0]
    finally:
        admin.dispose()
    return None


def main(argv: list[str]) -> int:
    return 0 if check(argv[0]) is None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
