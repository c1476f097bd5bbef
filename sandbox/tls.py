"""Local CA (created once per data dir, then reused) and a loopback server certificate, by trustme.

The CA persists as ca.pem / ca-key.pem so that clients started before a sandbox restart (the
connector in `make demo`, REQUESTS_CA_BUNDLE) keep trusting it."""
from __future__ import annotations

import datetime as dt
import os
import ssl

import trustme

SERVER_IDENTITIES = ("localhost", "127.0.0.1", "::1")
SERVER_CERT_DAYS = 825   # the longest server-certificate lifetime clients accept


def _write(path: str, data: bytes, private: bool = False) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _paths(data_dir: str) -> tuple[str, str]:
    return os.path.join(data_dir, "ca.pem"), os.path.join(data_dir, "ca-key.pem")


def ensure_ca(data_dir: str) -> tuple[str, str]:
    """Return (ca.pem, ca-key.pem) paths, generating the CA on first use."""
    cert_path, key_path = _paths(data_dir)
    if not (os.path.exists(cert_path) and os.path.exists(key_path)):
        ca = trustme.CA(organization_name="pardot-connector sandbox",
                        organization_unit_name="pardot-connector sandbox CA")
        _write(key_path, ca.private_key_pem.bytes(), private=True)
        _write(cert_path, ca.cert_pem.bytes())
    return cert_path, key_path


def issue_server_cert(data_dir: str) -> tuple[str, str]:
    """Issue (server.pem, server-key.pem) for 127.0.0.1/localhost/::1, signed by the local CA."""
    ca_cert_path, ca_key_path = ensure_ca(data_dir)
    with open(ca_cert_path, "rb") as cert_fh, open(ca_key_path, "rb") as key_fh:
        ca = trustme.CA.from_pem(cert_fh.read(), key_fh.read())
    now = dt.datetime.now(dt.timezone.utc)
    leaf = ca.issue_cert(*SERVER_IDENTITIES, common_name="localhost",
                         not_before=now - dt.timedelta(days=1),
                         not_after=now + dt.timedelta(days=SERVER_CERT_DAYS))
    cert_path = os.path.join(data_dir, "server.pem")
    key_path = os.path.join(data_dir, "server-key.pem")
    _write(key_path, leaf.private_key_pem.bytes(), private=True)
    # leaf then CA, as before: a client holding only an intermediate store still sees the chain
    _write(cert_path, b"".join(b.bytes() for b in leaf.cert_chain_pems) + ca.cert_pem.bytes())
    return cert_path, key_path


def server_ssl_context(data_dir: str) -> ssl.SSLContext:
    cert_path, key_path = issue_server_cert(data_dir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_path, key_path)
    return ctx
