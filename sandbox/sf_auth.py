"""OAuth 2.0 JWT bearer flow: connected apps (consumer key -> public key) and access tokens."""
from __future__ import annotations

import secrets
import threading
import time

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_EXP_AHEAD_S = 180
LEEWAY_S = 30
STANDARD_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


class GrantError(Exception):
    """invalid_grant (or another OAuth error) with a reason safe to show (no secrets)."""

    def __init__(self, description: str, error: str = "invalid_grant"):
        super().__init__(description)
        self.error = error
        self.description = description


def load_public_key(pem: str | bytes):
    data = pem.encode() if isinstance(pem, str) else pem
    if b"BEGIN CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return serialization.load_pem_public_key(data)


class AuthService:
    def __init__(self, org, login_url: str, instance_url: str):
        self.org = org
        self.login_url = login_url.rstrip("/")
        self.instance_url = instance_url.rstrip("/")
        self._lock = threading.Lock()
        self._apps: dict[str, object] = {}
        self._demo_key: str | None = None
        self._tokens: dict[str, dict] = {}

    def set_demo_app(self, consumer_key: str, public_key) -> None:
        with self._lock:
            self._demo_key = consumer_key
            self._apps[consumer_key] = public_key

    def register_app(self, consumer_key: str, pem: str) -> None:
        if not isinstance(consumer_key, str) or not consumer_key.strip():
            raise ValueError("consumer_key must be a non-empty string")
        try:
            key = load_public_key(pem)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"certificate_pem/public_key_pem is not a PEM certificate or public key: {exc}") from None
        with self._lock:
            self._apps[consumer_key] = key

    def reset(self) -> None:
        """Keep only the demo app; drop tokens of users that no longer exist."""
        with self._lock:
            self._apps = {k: v for k, v in self._apps.items() if k == self._demo_key}
            live_users = self.org.live["User"]
            self._tokens = {t: i for t, i in self._tokens.items() if i["user_id"] in live_users}

    def _audiences(self) -> set[str]:
        auds = {self.login_url, self.instance_url, *STANDARD_AUDIENCES}
        return auds | {a + "/" for a in auds}

    def exchange(self, grant_type: str | None, assertion: str | None) -> dict:
        if grant_type != JWT_GRANT:
            raise GrantError("grant type not supported", "unsupported_grant_type")
        if not assertion:
            raise GrantError("assertion is missing")
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise GrantError("invalid assertion: not a well-formed JWT") from None
        if header.get("alg") != "RS256":
            raise GrantError(f"invalid assertion: algorithm {header.get('alg')!r} is not RS256")
        with self._lock:
            key = self._apps.get(claims.get("iss"))
        if key is None:
            raise GrantError("invalid client credentials: unknown consumer key (iss)", "invalid_client_id")
        try:
            claims = jwt.decode(assertion, key, algorithms=["RS256"], audience=sorted(self._audiences()),
                                leeway=LEEWAY_S, options={"require": ["exp", "iss", "sub", "aud"]})
        except jwt.ExpiredSignatureError:
            raise GrantError("expired assertion: exp is in the past") from None
        except jwt.InvalidAudienceError:
            raise GrantError("audience is invalid: aud must be the login URL") from None
        except jwt.InvalidSignatureError:
            raise GrantError("invalid assertion signature: the key does not match the connected app's certificate") from None
        except jwt.MissingRequiredClaimError as exc:
            raise GrantError(f"invalid assertion: missing claim {exc.claim}") from None
        except jwt.PyJWTError as exc:
            raise GrantError(f"invalid assertion: {exc}") from None
        if claims["exp"] > time.time() + MAX_EXP_AHEAD_S + LEEWAY_S:
            raise GrantError("invalid assertion: exp is more than 3 minutes in the future")
        username = claims["sub"]
        with self.org.lock:
            user = next((u for u in self.org.live["User"].values()
                         if (u["Username"] or "").lower() == str(username).lower()), None)
        if user is None:
            raise GrantError("user hasn't approved this consumer: no such user (sub)")
        if not user["IsActive"]:
            raise GrantError("user is inactive")
        token = f"{self.org.org_id[:15]}!{secrets.token_urlsafe(48)}"
        info = {"user_id": user["Id"], "username": user["Username"], "org_id": self.org.org_id,
                "issued_at": time.time()}
        with self._lock:
            self._tokens[token] = info
        return {
            "access_token": token, "scope": "api web", "instance_url": self.instance_url,
            "id": f"{self.login_url}/id/{self.org.org_id}/{user['Id']}", "token_type": "Bearer",
            "issued_at": str(int(info["issued_at"] * 1000)),
        }

    def token_info(self, token: str | None) -> dict | None:
        if not token:
            return None
        with self._lock:
            info = self._tokens.get(token)
        if info is None:
            return None
        if time.time() - info["issued_at"] >= self.org.settings["token_lifetime_s"]:
            with self._lock:
                self._tokens.pop(token, None)
            return None
        return dict(info)
