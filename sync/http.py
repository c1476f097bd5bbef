"""HTTP sessions for the Salesforce and Pardot clients."""
from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import requests
from requests.adapters import HTTPAdapter


class Session(requests.Session):
    """Keeps `verify` as set on the session.

    Plain requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's
    own CA (psf/requests#3829), which would silently drop the sandbox CA."""

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None:
            settings["verify"] = self.verify
        return settings


def make_session(verify: str | bool, pool_size: int = 16) -> Session:
    session = Session()
    session.verify = verify
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def retry_after(response: requests.Response) -> float | None:
    """Seconds a 429/503 answer asks us to wait (Retry-After: delta-seconds or an HTTP date)."""
    if response.status_code not in (429, 503):
        return None
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
