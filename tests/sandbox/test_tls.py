"""The sandbox's TLS material (sandbox/tls.py, trustme since issue 12): one CA per data dir,
reused across restarts, and a server certificate that clients trusting only ca.pem accept
for localhost and 127.0.0.1."""
from __future__ import annotations

import socket
import ssl
import threading

import pytest

from sandbox.tls import ensure_ca, server_ssl_context


def test_ca_is_created_once_and_reused(tmp_path):
    cert_path, key_path = ensure_ca(str(tmp_path))
    first = (tmp_path / "ca.pem").read_bytes(), (tmp_path / "ca-key.pem").read_bytes()
    server_ssl_context(str(tmp_path))  # a restart issues a new server cert under the same CA
    assert ensure_ca(str(tmp_path)) == (cert_path, key_path)
    assert ((tmp_path / "ca.pem").read_bytes(), (tmp_path / "ca-key.pem").read_bytes()) == first
    assert oct((tmp_path / "ca-key.pem").stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "server-key.pem").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("server_name", ["localhost", "127.0.0.1"])
def test_client_trusting_ca_pem_accepts_the_server(tmp_path, server_name):
    server_ctx = server_ssl_context(str(tmp_path))
    ca_path, _ = ensure_ca(str(tmp_path))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve():
            conn, _ = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"ok")

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        client_ctx = ssl.create_default_context(cafile=ca_path)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as raw, \
                client_ctx.wrap_socket(raw, server_hostname=server_name) as tls:
            assert tls.recv(2) == b"ok"
        thread.join(timeout=30)


def test_client_without_the_ca_refuses_the_server(tmp_path):
    server_ctx = server_ssl_context(str(tmp_path))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve():
            conn, _ = listener.accept()
            try:
                server_ctx.wrap_socket(conn, server_side=True).close()
            except (ssl.SSLError, OSError):
                pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as raw, \
                pytest.raises(ssl.SSLCertVerificationError):
            ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")
        thread.join(timeout=30)
