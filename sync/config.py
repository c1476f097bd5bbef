"""Configuration from the environment (DESIGN.md §2).

Every problem is reported as one ConfigError naming the variable, so start-up
fails with a single clear line instead of a traceback."""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

BU_RE = re.compile(r"^0Uv[0-9A-Za-z]{15}$")
API_VERSION_RE = re.compile(r"^\d{2,3}\.0$")
MIN_POLL_INTERVAL = 10


class ConfigError(Exception):
    """A missing or wrong setting; the message names the variable."""

    def __init__(self, variable: str, problem: str):
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str
    redis_url: str | None  # None: start the embedded redis-server
    salesforce_login_url: str
    salesforce_consumer_key: str
    salesforce_username: str
    salesforce_private_key_file: Path
    salesforce_api_version: str
    pardot_base_url: str
    pardot_business_unit_id: str
    poll_interval: int
    slack_api_url: str
    slack_notify_channel: str | None = None
    ca_bundle: str | None = None  # sandbox CA; None means the system trust store
    sandbox_control_url: str | None = None
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    metrics_token: str | None = field(default=None, repr=False)  # /metrics needs it as a bearer token when set

    def __repr__(self) -> str:
        # Config objects end up in logs and tracebacks: never show a password from a URL.
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        shown["database_url"] = _hide_password(self.database_url)
        shown["redis_url"] = _hide_password(self.redis_url)
        return f"Config({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    @property
    def uses_sandbox(self) -> bool:
        return self.sandbox_control_url is not None

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token)

    @property
    def tls_verify(self) -> str | bool:
        return self.ca_bundle or True

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Config":
        """Each step raises the ConfigError of its first problem, in this order."""
        get = _getter(dict(os.environ if env is None else env))
        data_dir = Path(get("CONNECTOR_DATA_DIR") or "./.connector").resolve()
        database_url = get("DATABASE_URL") or f"sqlite:///{data_dir / 'connector.db'}"
        check_database_url(database_url)
        redis_url = get("REDIS_URL")
        if redis_url and urlparse(redis_url).scheme not in ("redis", "rediss", "unix"):
            raise ConfigError("REDIS_URL", "must start with redis://, rediss:// or unix://")
        sandbox = _sandbox_or_credentials(get, data_dir)
        api_version = get("SALESFORCE_API_VERSION") or "59.0"
        if not API_VERSION_RE.match(api_version):
            raise ConfigError("SALESFORCE_API_VERSION", f"{api_version!r} is not a version like 59.0")
        org = _org(get, sandbox)
        poll_interval = _poll_interval(get)
        bot_token, secret, app_token, slack_api_url = _slack(get)
        return cls(
            data_dir=data_dir, database_url=database_url, redis_url=redis_url,
            salesforce_login_url=org["login_url"].rstrip("/"), salesforce_consumer_key=org["consumer_key"],
            salesforce_username=org["username"], salesforce_private_key_file=org["key_file"],
            salesforce_api_version=api_version, pardot_base_url=org["pardot_url"].rstrip("/"),
            pardot_business_unit_id=org["bu"], poll_interval=poll_interval, slack_api_url=slack_api_url,
            slack_notify_channel=get("SLACK_NOTIFY_CHANNEL"), ca_bundle=org["ca_bundle"],
            sandbox_control_url=org["control"], slack_bot_token=bot_token,
            slack_signing_secret=secret, slack_app_token=app_token, metrics_token=get("METRICS_TOKEN"),
        )


def _getter(env: dict[str, str]):
    def get(name: str) -> str | None:
        return (env.get(name) or "").strip() or None

    return get


def _sandbox_or_credentials(get, data_dir: Path) -> dict | None:
    """The sandbox's connection details when no Salesforce credential is set; None when all are."""
    sf_vars = ("SALESFORCE_CONSUMER_KEY", "SALESFORCE_USERNAME", "SALESFORCE_PRIVATE_KEY_FILE")
    given = [v for v in sf_vars if get(v)]
    if given and len(given) < len(sf_vars):
        missing = next(v for v in sf_vars if not get(v))
        raise ConfigError(missing, f"is required when {given[0]} is set (JWT bearer flow)")
    if given:
        return None
    sandbox = _sandbox_info(data_dir, get("SANDBOX_INFO"))
    for var in ("SALESFORCE_LOGIN_URL", "PARDOT_BASE_URL", "PARDOT_BUSINESS_UNIT_ID"):
        if get(var):
            raise ConfigError(var, "is set but the Salesforce credentials "
                                   "(SALESFORCE_CONSUMER_KEY, …) are not; set all or none")
    return sandbox


def _org(get, sandbox: dict | None) -> dict:
    """The Salesforce org and Pardot business unit: the sandbox's, or the variables'."""
    if sandbox:
        org = {"login_url": sandbox["login_url"], "consumer_key": sandbox["consumer_key"],
               "username": sandbox["username"], "key_file": Path(sandbox["private_key_path"]),
               "pardot_url": sandbox["pardot_base_url"], "bu": sandbox["business_unit_id"],
               "ca_bundle": sandbox["ca_path"], "control": sandbox["control_url"]}
    else:
        login_url = _https_url("SALESFORCE_LOGIN_URL", get("SALESFORCE_LOGIN_URL") or "https://login.salesforce.com")
        key_file = Path(get("SALESFORCE_PRIVATE_KEY_FILE"))
        if not key_file.is_file() or not os.access(key_file, os.R_OK):
            raise ConfigError("SALESFORCE_PRIVATE_KEY_FILE", f"{key_file} is not a readable file")
        org = {"login_url": login_url, "consumer_key": get("SALESFORCE_CONSUMER_KEY"),
               "username": get("SALESFORCE_USERNAME"), "key_file": key_file,
               "pardot_url": _https_url("PARDOT_BASE_URL", get("PARDOT_BASE_URL") or ""),
               "bu": get("PARDOT_BUSINESS_UNIT_ID") or "", "ca_bundle": get("REQUESTS_CA_BUNDLE"), "control": None}
    if not BU_RE.match(org["bu"]):
        raise ConfigError("PARDOT_BUSINESS_UNIT_ID", "must be the 18-character id starting with 0Uv")
    return org


def _poll_interval(get) -> int:
    poll = get("SYNC_POLL_INTERVAL") or "120"
    try:
        poll_interval = int(poll)
    except ValueError:
        raise ConfigError("SYNC_POLL_INTERVAL", f"{poll!r} is not a whole number of seconds") from None
    if poll_interval < MIN_POLL_INTERVAL:
        raise ConfigError("SYNC_POLL_INTERVAL", f"must be at least {MIN_POLL_INTERVAL} seconds")
    return poll_interval


def _slack(get) -> tuple[str | None, str | None, str | None, str]:
    """(bot token, signing secret, app token, API URL): HTTP mode, Socket Mode or off."""
    bot_token, secret, app_token = get("SLACK_BOT_TOKEN"), get("SLACK_SIGNING_SECRET"), get("SLACK_APP_TOKEN")
    if bot_token and not (secret or app_token):
        raise ConfigError("SLACK_SIGNING_SECRET", "is required with SLACK_BOT_TOKEN in HTTP mode "
                                                  "(or set SLACK_APP_TOKEN for Socket Mode)")
    if (secret or app_token) and not bot_token:
        raise ConfigError("SLACK_BOT_TOKEN", "is required when SLACK_SIGNING_SECRET or SLACK_APP_TOKEN is set")
    if bot_token and not bot_token.startswith("xoxb-"):
        raise ConfigError("SLACK_BOT_TOKEN", "must be a bot token starting with xoxb-")
    if app_token and not app_token.startswith("xapp-"):
        raise ConfigError("SLACK_APP_TOKEN", "must be an app-level token starting with xapp-")
    slack_api_url = get("SLACK_API_URL") or "https://slack.com/api/"
    if urlparse(slack_api_url).scheme not in ("http", "https"):
        raise ConfigError("SLACK_API_URL", "must be an http(s) URL")
    if not slack_api_url.endswith("/"):
        slack_api_url += "/"
    return bot_token, secret, app_token, slack_api_url

def _hide_password(url: str | None) -> str | None:
    if not url:
        return url
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    netloc = parsed.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return urlunparse(parsed._replace(netloc=f"{user}:***@{netloc[2]}"))


def check_database_url(url: str) -> None:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("DATABASE_URL", "is not a SQLAlchemy URL (e.g. postgresql+psycopg://host/db)") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError("DATABASE_URL", f"backend {parsed.get_backend_name()!r} is not supported "
                                          "(use sqlite or postgresql)")


def _https_url(variable: str, value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme != "https" or not parsed.netloc:
        raise ConfigError(variable, f"{value!r} is not an https:// URL")
    return value


def _sandbox_info(data_dir: Path, explicit: str | None) -> dict:
    path = Path(explicit) if explicit else data_dir / "sandbox" / "sandbox.json"
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError("SALESFORCE_CONSUMER_KEY", "is not set and no sandbox is running "
                          f"(no {path}); start one with `python -m sandbox --data-dir {path.parent}` "
                          "or configure a real org") from None
    except (OSError, ValueError) as exc:
        raise ConfigError("SANDBOX_INFO", f"{path} is unreadable: {exc}") from None
    needed = ("login_url", "consumer_key", "username", "private_key_path", "pardot_base_url",
              "business_unit_id", "ca_path", "control_url")
    missing = [k for k in needed if not info.get(k)]
    if missing:
        raise ConfigError("SANDBOX_INFO", f"{path} lacks {', '.join(missing)}")
    return info
