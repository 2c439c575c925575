"""The shared services seen from outside, as a citizen's browser or an auditor would:
the SSO portal through the gateway over HTTPS with the internal CA."""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse

import pytest

from egov.model import Role
from egov.paths import state_dir

from .browser import PublicName, tls_context

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def tls(ca_file):
    return tls_context(ca_file)


def _https(lab, tls, host: str, method: str, path: str, body: str | None = None,
           headers: dict | None = None) -> http.client.HTTPResponse:
    gateway = lab.stack.nodes_with(Role.gateway)[0]
    address = str(lab.stack.docker_host(gateway).public_address)
    conn = PublicName(host, address, lab.stack.gateway.https_port, tls, timeout=30)
    conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
    return conn.getresponse()


def test_oidc_discovery_through_the_gateway(lab, tls):
    portal = f"auth.{lab.stack.domain}"
    res = _https(lab, tls, portal, "GET", "/.well-known/openid-configuration")
    assert res.status == 200, f"discovery answered {res.status}"
    doc = json.loads(res.read())
    assert doc["issuer"] == f"https://{portal}", doc["issuer"]
    assert doc["jwks_uri"].startswith(f"https://{portal}/"), doc["jwks_uri"]
    assert res.getheader("Strict-Transport-Security", "").startswith("max-age="), \
        "no HSTS header from the gateway"


def test_lab_account_authenticates_at_the_portal_through_the_gateway(lab, tls):
    portal = f"auth.{lab.stack.domain}"
    form = _https(lab, tls, portal, "GET", "/").read().decode()
    marker = 'name="token" value="'
    token = form.split(marker, 1)[1].split('"', 1)[0] if marker in form else ""
    password = (state_dir("lab") / "secrets" / "ldap" / "test" / "pegawai01").read_text().strip()
    body = urllib.parse.urlencode({"user": "pegawai01", "password": password, "token": token})
    res = _https(lab, tls, portal, "POST", "/", body=body,
                 headers={"Content-Type": "application/x-www-form-urlencoded",
                          "Accept": "application/json"})
    cookies = [c for c in res.headers.get_all("Set-Cookie") or [] if c.startswith("lemonldap=")]
    assert cookies and not cookies[0].startswith("lemonldap=;"), \
        f"no SSO session for pegawai01 (status {res.status})"


def test_unknown_names_are_refused_by_the_gateway(lab, tls):
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
        _https(lab, tls, f"nobody.{lab.stack.domain}", "GET", "/").read()
