"""Opaque, tamper-proof next-page tokens (v5 `nextPageToken`).

A token carries the whole query state (object, order, filters, last key seen, records served
so far, expiry) so that a next-page request needs nothing else; an HMAC makes it tamper-proof.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets

from sandbox.pardot_errors import (
    PAGE_TOKEN_EXPIRED,
    PAGE_TOKEN_INVALID,
    bad_request,
)

TOKEN_TTL_SECONDS = 4 * 3600          # documented: tokens are valid for 4 hours


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    def __init__(self, secret: bytes | None = None):
        self._secret = secret or secrets.token_bytes(32)

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:18]

    def encode(self, state: dict) -> str:
        payload = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(self, token: str, obj: str, now: float) -> dict:
        """Verified state of `token`, else 211 (invalid) / 210 (expired)."""
        try:
            body, mac = token.split(".")
            payload = _unb64(body)
            valid = hmac.compare_digest(_unb64(mac), self._mac(payload))
            state = json.loads(payload) if valid else None
        except (ValueError, UnicodeDecodeError):
            state = None
        if not isinstance(state, dict) or state.get("obj") != obj:
            raise bad_request(PAGE_TOKEN_INVALID, "Page token is invalid.")
        if now >= state["exp"]:
            raise bad_request(PAGE_TOKEN_EXPIRED, "Page token has expired.")
        return state
