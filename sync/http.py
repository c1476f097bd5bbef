"""HTTP sessions for the Salesforce and Pardot clients."""
from __future__ import annotations

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
