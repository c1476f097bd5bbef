"""DESIGN §2: configuration from the environment; a bad value fails with one line naming it."""
import os
import subprocess
import sys

import pytest

from sync.config import Config, ConfigError


@pytest.fixture
def sandbox_env(sandbox, tmp_path):
    return {"CONNECTOR_DATA_DIR": str(tmp_path), "SANDBOX_INFO": os.path.join(sandbox.data_dir, "sandbox.json")}


def test_defaults_use_the_sandbox_sqlite_and_embedded_redis(sandbox_env, sandbox, tmp_path):
    config = Config.from_env(sandbox_env)
    assert config.uses_sandbox and config.ca_bundle == sandbox.info["ca_path"]
    assert config.database_url == f"sqlite:///{tmp_path / 'connector.db'}"
    assert config.redis_url is None and config.poll_interval == 120
    assert config.salesforce_api_version == "59.0" and not config.slack_enabled
    assert config.pardot_business_unit_id == sandbox.info["business_unit_id"]


@pytest.mark.parametrize("changes, variable", [
    ({"SALESFORCE_CONSUMER_KEY": "3MVG9abc"}, "SALESFORCE_USERNAME"),
    ({"SYNC_POLL_INTERVAL": "soon"}, "SYNC_POLL_INTERVAL"),
    ({"SYNC_POLL_INTERVAL": "5"}, "SYNC_POLL_INTERVAL"),
    ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
    ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
    ({"REDIS_URL": "http://x"}, "REDIS_URL"),
    ({"SALESFORCE_API_VERSION": "v59"}, "SALESFORCE_API_VERSION"),
    ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
    ({"SLACK_SIGNING_SECRET": "abc"}, "SLACK_BOT_TOKEN"),
    ({"SLACK_BOT_TOKEN": "xoxp-1", "SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN"),
    ({"PARDOT_BUSINESS_UNIT_ID": "0Uv123"}, "PARDOT_BUSINESS_UNIT_ID"),
])
def test_each_bad_value_names_its_variable(sandbox_env, changes, variable):
    with pytest.raises(ConfigError) as info:
        Config.from_env({**sandbox_env, **changes})
    assert info.value.variable == variable and str(info.value).startswith(variable)


def test_real_org_settings_are_checked(tmp_path):
    key = tmp_path / "key.pem"
    base = {"CONNECTOR_DATA_DIR": str(tmp_path), "SALESFORCE_CONSUMER_KEY": "3MVG9abc",
            "SALESFORCE_USERNAME": "connector@example.com", "SALESFORCE_PRIVATE_KEY_FILE": str(key),
            "PARDOT_BASE_URL": "https://pi.pardot.com", "PARDOT_BUSINESS_UNIT_ID": "0Uv000000000001AAA"}
    with pytest.raises(ConfigError, match="SALESFORCE_PRIVATE_KEY_FILE"):
        Config.from_env(base)
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match="PARDOT_BASE_URL"):
        Config.from_env({**base, "PARDOT_BASE_URL": "http://pi.pardot.com"})
    config = Config.from_env(base)
    assert not config.uses_sandbox and config.salesforce_login_url == "https://login.salesforce.com"


def test_no_credentials_and_no_sandbox_is_one_clear_line(tmp_path):
    with pytest.raises(ConfigError, match="no sandbox is running"):
        Config.from_env({"CONNECTOR_DATA_DIR": str(tmp_path)})


def test_secrets_never_show_in_the_config_repr(sandbox_env):
    config = Config.from_env({**sandbox_env, "SLACK_BOT_TOKEN": "xoxb-very-secret", "SLACK_SIGNING_SECRET": "shh"})
    assert "very-secret" not in repr(config) and "shh" not in repr(config)


def test_passwords_inside_database_and_redis_urls_never_show_in_the_repr(sandbox_env):
    """Issue 9 item 12: the repr ends up in logs and tracebacks."""
    config = Config.from_env({**sandbox_env, "DATABASE_URL": "postgresql+psycopg://sync:pg-pa55word@db:5432/c",
                              "REDIS_URL": "redis://:redis-pa55word@cache:6379/0", "METRICS_TOKEN": "scrape-me"})
    shown = repr(config)
    assert "pa55word" not in shown and "scrape-me" not in shown
    # Still useful: the rest of each URL shows, and the fields keep their real values.
    assert "postgresql+psycopg://sync:***@db:5432/c" in shown and "redis://:***@cache:6379/0" in shown
    assert config.database_url.endswith("pg-pa55word@db:5432/c") and config.metrics_token == "scrape-me"
    plain = Config.from_env({**sandbox_env, "REDIS_URL": "redis://cache:6379/0"})
    assert "redis://cache:6379/0" in repr(plain)


def test_processes_fail_at_start_with_one_line_and_no_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALESFORCE_", "PARDOT_", "SLACK_"))}
    env.update({"CONNECTOR_DATA_DIR": str(tmp_path), "SYNC_POLL_INTERVAL": "often"})
    out = subprocess.run([sys.executable, "app.py", "worker"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert lines[0].startswith("configuration error: ")
