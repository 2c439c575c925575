"""Identity nodes: the LemonLDAP::NG portal and OIDC provider answers on the node, signs with
its own key and lets a lab account sign in (checked on the node with curl, Host auth.<domain>)."""

import json
import shlex

import pytest

from egov.paths import state_dir

pytestmark = pytest.mark.control("EGOV-IDENTITY", "EGOV-SSO")


@pytest.fixture
def identity(node, name):
    if "identity" not in [r.value for r in node.roles]:
        pytest.skip(f"{name} has no identity role")
    return node


def _portal(stack):
    return f"auth.{stack.domain}"


def _curl(host, stack, name, path, *args):
    address = stack.derived.address[name]
    # curl 8.14 refuses a blank argument: the extra options are written in only when given.
    extra = "".join(f" {shlex.quote(a)}" for a in args)
    return host.run(f"curl -sS -m 20 -H %s{extra} http://%s%s", f"Host: {_portal(stack)}",
                    address, path)


def test_portal_services_run(host, name, identity):
    for unit in ("nginx", "lemonldap-ng-fastcgi-server"):
        svc = host.service(unit)
        assert svc.is_running and svc.is_enabled, f"{name}: {unit} not running and enabled"


def test_portal_answers_on_the_node_address_only(host, name, identity, stack):
    address = stack.derived.address[name]
    assert host.socket(f"tcp://{address}:80").is_listening, \
        f"{name}: portal not on {address}:80"
    assert not host.socket("tcp://0.0.0.0:80").is_listening, \
        f"{name}: port 80 open on every address"
    assert not host.file("/etc/nginx/sites-enabled/manager-nginx.conf").exists, \
        f"{name}: the LemonLDAP::NG manager is enabled"


def test_oidc_discovery_names_the_public_issuer(host, name, identity, stack):
    out = _curl(host, stack, name, "/.well-known/openid-configuration")
    assert out.rc == 0, f"{name}: discovery request failed: {out.stderr}"
    doc = json.loads(out.stdout)
    assert doc["issuer"] == f"https://{_portal(stack)}", f"{name}: issuer is {doc['issuer']}"
    assert doc["jwks_uri"].startswith(f"https://{_portal(stack)}/"), \
        f"{name}: jwks_uri {doc['jwks_uri']}"


def test_jwks_has_a_signing_key(host, name, identity, stack):
    out = _curl(host, stack, name, "/oauth2/jwks")
    keys = json.loads(out.stdout).get("keys", [])
    assert any(k.get("use") == "sig" and k.get("n") for k in keys), \
        f"{name}: JWKS has no RSA signing key"


def test_lab_account_signs_in_at_the_portal(host, name, identity, stack):
    if stack.environment != "lab":
        pytest.skip(f"{name}: test accounts exist only in the lab")
    secret = state_dir(stack.name) / "secrets" / "ldap" / "test" / "pegawai01"
    password = secret.read_text().strip()
    form = _curl(host, stack, name, "/")
    marker = 'name="token" value="'
    token = form.stdout.split(marker, 1)[1].split('"', 1)[0] if marker in form.stdout else ""
    # curl reads the form from stdin, so the password is not among its arguments.
    address = stack.derived.address[name]
    body = f"user=pegawai01&password={password}&token={token}"
    out = host.run(f"printf %s {shlex.quote(body)} | curl -sS -m 20 -o /dev/null -D - "
                   f"-H {shlex.quote('Host: ' + _portal(stack))} -H 'Accept: application/json' "
                   f"--data-binary @- http://{address}/")
    assert out.rc == 0, f"{name}: sign-in request failed: {out.stderr}"
    cookies = [line for line in out.stdout.splitlines()
               if line.lower().startswith("set-cookie: lemonldap=")]
    assert cookies and "lemonldap=;" not in cookies[0], \
        f"{name}: pegawai01 got no lemonldap session cookie"
