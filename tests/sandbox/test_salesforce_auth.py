"""OAuth 2.0 JWT bearer flow and access-token lifetime of the Salesforce emulator."""
from __future__ import annotations

import datetime as dt
import time

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from simple_salesforce.exceptions import SalesforceExpiredSession

from tests.sandbox.conftest import make_assertion, make_sf_client, make_sf_token, trusting_session

GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def key_pair():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key, private_pem, public_pem


def self_signed(key) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "connector")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def exchange(sandbox, assertion):
    return trusting_session(sandbox.info).post(sandbox.info["login_url"] + "/services/oauth2/token",
                                               data={"grant_type": GRANT, "assertion": assertion}, timeout=30)


@pytest.fixture(scope="module")
def keys():
    return key_pair(), key_pair()


def test_demo_app_token_response(fresh):
    resp = exchange(fresh, make_assertion(fresh.info))
    assert resp.status_code == 200
    body = resp.json()
    assert body["instance_url"] == fresh.info["instance_url"] and body["token_type"] == "Bearer"
    assert body["access_token"].startswith(fresh.info["org_id"][:15] + "!")
    assert body["id"].endswith("/" + fresh.info["org_id"] + "/" + body["id"].rsplit("/", 1)[1])
    me = make_sf_client(fresh, body["access_token"]).query("SELECT Username FROM User")["records"]
    assert fresh.info["username"] in [u["Username"] for u in me]


@pytest.mark.parametrize("form", ["public_key_pem", "certificate_pem"])
def test_registered_connected_app_with_fresh_key_pair(fresh, control, keys, form):
    (key, private_pem, public_pem), (_, wrong_private, _) = keys
    pem = public_pem if form == "public_key_pem" else self_signed(key)
    control.post("salesforce/connected-apps", {"consumer_key": "my-app", form: pem})
    token = make_sf_token(fresh, consumer_key="my-app", private_key_pem=private_pem)
    assert make_sf_client(fresh, token).query("SELECT COUNT() FROM Lead")["totalSize"] == 0
    refused = exchange(fresh, make_assertion(fresh.info, consumer_key="my-app", private_key_pem=wrong_private))
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant" and "signature" in refused.json()["error_description"]


def test_reset_forgets_extra_connected_apps(fresh, control, keys):
    (_, private_pem, public_pem), _ = keys
    control.post("salesforce/connected-apps", {"consumer_key": "temp-app", "public_key_pem": public_pem})
    control.post("reset")
    refused = exchange(fresh, make_assertion(fresh.info, consumer_key="temp-app", private_key_pem=private_pem))
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_client_id"


def test_bad_connected_app_registration(fresh, control):
    err = control.request("POST", "salesforce/connected-apps", expect=400,
                          json={"consumer_key": "x", "public_key_pem": "not a pem"})
    assert "PEM" in err["message"]


def claims_assertion(info, **overrides):
    with open(info["private_key_path"], "rb") as fh:
        pem = fh.read()
    claims = {"iss": info["consumer_key"], "sub": info["username"], "aud": info["login_url"],
              "exp": int(time.time()) + 120}
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, pem, algorithm="RS256")


@pytest.mark.parametrize("overrides, error, reason", [
    ({"aud": "https://evil.example.com"}, "invalid_grant", "audience"),
    ({"exp": int(time.time()) - 3600}, "invalid_grant", "expired"),
    ({"exp": int(time.time()) + 3600}, "invalid_grant", "3 minutes"),
    ({"sub": "nobody@sandbox.example"}, "invalid_grant", "no such user"),
    ({"iss": "unknown-consumer"}, "invalid_client_id", "consumer key"),
    ({"sub": None}, "invalid_grant", "sub"),
])
def test_refused_assertions(fresh, overrides, error, reason):
    resp = exchange(fresh, claims_assertion(fresh.info, **overrides))
    assert resp.status_code == 400
    assert resp.json()["error"] == error and reason in resp.json()["error_description"]


def test_audience_variants_are_accepted(fresh):
    for aud in (fresh.info["login_url"] + "/", "https://login.salesforce.com", "https://test.salesforce.com"):
        assert exchange(fresh, claims_assertion(fresh.info, aud=aud)).status_code == 200


def test_garbage_assertion_and_grant_type(fresh):
    assert exchange(fresh, "not.a.jwt").json()["error"] == "invalid_grant"
    resp = trusting_session(fresh.info).post(fresh.info["login_url"] + "/services/oauth2/token",
                                             data={"grant_type": "password"}, timeout=30)
    assert resp.status_code == 400 and resp.json()["error"] == "unsupported_grant_type"


def test_inactive_user_is_refused(fresh, control):
    control.post("records/salesforce/User", {"records": [
        {"Username": "gone@sandbox.example", "Email": "gone@sandbox.example", "LastName": "Gone", "IsActive": False}]})
    resp = exchange(fresh, claims_assertion(fresh.info, sub="gone@sandbox.example"))
    assert resp.status_code == 400 and "inactive" in resp.json()["error_description"]


def test_expired_and_invalid_tokens_get_invalid_session_id(sf_client, control, fresh):
    sf_client.query("SELECT COUNT() FROM Lead")
    control.patch("salesforce/settings", {"token_lifetime_s": 0})   # every issued token is now past its lifetime
    with pytest.raises(SalesforceExpiredSession) as exc:
        sf_client.query("SELECT COUNT() FROM Lead")
    assert exc.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    control.patch("salesforce/settings", {"token_lifetime_s": 7200})
    with pytest.raises(SalesforceExpiredSession):   # an expired token stays expired
        sf_client.query("SELECT COUNT() FROM Lead")
    with pytest.raises(SalesforceExpiredSession):
        make_sf_client(fresh, "00Dbogus!token").query("SELECT COUNT() FROM Lead")
    assert make_sf_client(fresh, make_sf_token(fresh)).query("SELECT COUNT() FROM Lead")["totalSize"] == 0


def test_token_info_for_the_pardot_side(fresh):
    token = make_sf_token(fresh)
    info = fresh.runtime.token_info(token)
    assert info["username"] == fresh.info["username"] and info["org_id"] == fresh.info["org_id"]
    assert info["user_id"].startswith("005") and isinstance(info["issued_at"], float)
    assert fresh.runtime.token_info("nope") is None and fresh.runtime.token_info(None) is None
