"""The SQL store under Alembic, the embedded Redis, /healthz and /readyz."""
import redis
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app import create_app
from sync.db import Store
from sync.models import Base
from sync.redis_server import EmbeddedRedis


def test_migrations_build_exactly_the_models(tmp_path, database_url):
    url = database_url if database_url.startswith("postgresql") else f"sqlite:///{tmp_path / 'm.db'}"
    store = Store(url)
    store.migrate()
    store.migrate()  # idempotent
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    store.dispose()


def test_embedded_redis_is_a_real_server_shared_by_processes(tmp_path):
    server = EmbeddedRedis(tmp_path)
    url = server.ensure_running()
    try:
        client = redis.Redis.from_url(url)
        assert client.ping() and client.info("server")["redis_version"]
        again = EmbeddedRedis(tmp_path)  # a second process finds the socket answering
        assert again.ensure_running() == url and again.process is None
    finally:
        server.stop()
    assert not EmbeddedRedis(tmp_path)._answers()


def test_healthz_and_readyz_name_each_dependency(runtime):
    client = create_app(runtime=runtime).test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    body = ready.get_json()
    assert ready.status_code == 200, body
    assert set(body["checks"]) == {"database", "redis", "salesforce", "pardot"}
    assert all(c["ok"] for c in body["checks"].values())


def test_readyz_reports_an_unreachable_pardot_by_name(runtime):
    import dataclasses

    from sync.runtime import Runtime

    broken = Runtime.__new__(Runtime)
    broken.__dict__.update(runtime.__dict__)
    broken.config = dataclasses.replace(runtime.config, pardot_base_url="https://127.0.0.1:9")
    runtime.redis.delete("readyz:pardot")
    client = create_app(runtime=broken).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    checks = ready.get_json()["checks"]
    assert checks["pardot"]["ok"] is False and "unreachable" in checks["pardot"]["detail"]
    assert checks["database"]["ok"] and checks["salesforce"]["ok"]
