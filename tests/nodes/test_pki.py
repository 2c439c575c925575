"""Internal CA: its key only on the CA node; every node's certificate chains to it, carries
the node's names and addresses, and the CA is trusted system-wide. Gateways hold a
certificate for every public name."""

import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from egov.model import Role
from egov.paths import role_defaults

pytestmark = pytest.mark.control("EGOV-PKI")

PKI = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "roles" / "pki" / "defaults" / "main.yml").read_text()
)
CA_DIR = PKI["pki__ca_dir"]
DIR = PKI["pki__dir"]
RENEW_DAYS = PKI["pki__renew_days"]


def ca_node(stack):
    nodes = stack.nodes_with(Role.pki)
    if not nodes:
        pytest.skip(f"stack {stack.name} has no pki node")
    return nodes[0].name


def test_ca_key_is_on_the_ca_node_only(host, name, stack):
    with host.sudo():
        folder = host.file(CA_DIR)
        key = host.file(f"{CA_DIR}/ca.key")
        if name == ca_node(stack):
            assert folder.is_directory and folder.mode == 0o700 and folder.user == "root", \
                f"{name}: {CA_DIR} is not a root-only folder ({oct(folder.mode)})"
            assert key.exists, f"{name}: CA key {key.path} missing"
            assert key.mode == 0o600 and key.user == "root" and key.group == "root", \
                f"{name}: CA key {key.path} is {oct(key.mode)} {key.user}:{key.group}"
            text = host.check_output(f"openssl pkey -in {key.path} -noout -text")
            assert "ASN1 OID" in text, f"{name}: CA key {key.path} is not an EC key"
        else:
            assert not key.exists, \
                f"{name}: holds a CA key at {key.path}, only {ca_node(stack)} may"


def test_only_the_nodes_own_keys_are_on_it(host, name, node, stack):
    want = {f"{DIR}/node.key"}
    if Role.gateway in node.roles:
        want |= {f"{DIR}/sites/{site.name}.key" for site in stack.derived.sites}
    with host.sudo():
        found = host.run(f"grep -rl 'PRIVATE KEY' {DIR} /usr/local/share/ca-certificates")
    got = set(found.stdout.split())
    assert got == want, f"{name}: private keys {sorted(got)}, expected only {sorted(want)}"


def test_ca_certificate_is_installed_and_trusted(host, name, stack):
    ca = host.file(f"{DIR}/ca.crt")
    assert ca.exists and ca.mode == 0o644, f"{name}: {ca.path} missing or not 0644"
    text = host.check_output(f"openssl x509 -in {ca.path} -noout -subject -ext basicConstraints")
    assert f"Internal CA {stack.name}" in text, f"{name}: {ca.path} is not the stack's CA ({text})"
    assert "CA:TRUE" in text, f"{name}: {ca.path} is not a CA certificate"
    trusted = host.file(f"/usr/local/share/ca-certificates/egov-{stack.name}-ca.crt")
    assert trusted.exists and trusted.content_string == ca.content_string, \
        f"{name}: {trusted.path} missing or different from {ca.path}"
    body = "".join(ca.content_string.strip().splitlines()[1:-1])
    bundle = "".join(host.file("/etc/ssl/certs/ca-certificates.crt").content_string.split())
    assert body in bundle, f"{name}: the CA is not in /etc/ssl/certs/ca-certificates.crt"
    if name == ca_node(stack):
        with host.sudo():
            own = host.file(f"{CA_DIR}/ca.crt").content_string
        assert own == ca.content_string, f"{name}: {ca.path} differs from the CA's own certificate"


def test_node_key_is_private_to_root_and_ssl_cert(host, name):
    key = host.file(f"{DIR}/node.key")
    assert key.exists, f"{name}: {key.path} missing"
    assert key.mode == 0o640 and key.user == "root" and key.group == "ssl-cert", \
        f"{name}: {key.path} is {oct(key.mode)} {key.user}:{key.group}, not 0640 root:ssl-cert"


# Every fact check_certificate needs from the node, in one run as root (the key is
# root's): one line per fact, then the names and both public keys.
CERT_FACTS = """
openssl verify -CAfile {ca} {crt} >/dev/null 2>&1; echo "chain $?"
openssl verify {crt} >/dev/null 2>&1; echo "system $?"
openssl x509 -in {crt} -noout -checkend {seconds} >/dev/null; echo "fresh $?"
echo "-- san"; openssl x509 -in {crt} -noout -ext subjectAltName | tail -n 1
echo "-- cert"; openssl x509 -in {crt} -noout -pubkey
echo "-- key"; openssl pkey -in {key} -pubout
"""


def check_certificate(host, name, crt: str, key: str, want: set[str]):
    with host.sudo():
        out = host.check_output(CERT_FACTS.format(ca=f"{DIR}/ca.crt", crt=crt, key=key,
                                                  seconds=RENEW_DAYS * 86400))
    head, _, rest = out.partition("-- san\n")
    facts = dict(line.split() for line in head.splitlines() if line.strip())
    names, _, rest = rest.partition("-- cert\n")
    cert_pub, _, key_pub = rest.partition("-- key\n")
    assert facts.get("chain") == "0", f"{name}: {crt} does not chain to the CA"
    assert facts.get("system") == "0", f"{name}: {crt} is not trusted through the system store"
    got = {n.strip().replace("IP Address:", "IP:") for n in names.strip().split(",")}
    assert got == want, f"{name}: {crt} names {sorted(got)}, expected {sorted(want)}"
    assert facts.get("fresh") == "0", \
        f"{name}: {crt} ends within {RENEW_DAYS} days and was not renewed"
    assert cert_pub.strip() and cert_pub.strip() == key_pub.strip(), \
        f"{name}: {crt} does not match its key {key}"


def test_node_certificate_names_the_node(host, name, stack):
    want = {f"DNS:{stack.fqdn(name)}", f"DNS:{name}"}
    want |= {f"IP:{leg.address}" for leg in stack.derived.attachments[name]}
    check_certificate(host, name, f"{DIR}/node.crt", f"{DIR}/node.key", want)


@pytest.mark.slow
def test_gateway_holds_a_certificate_per_public_name(host, name, node, stack):
    if Role.gateway not in node.roles:
        pytest.skip(f"{name} has no gateway role")
    assert stack.derived.sites, f"{name}: the stack has no public sites"
    for site in stack.derived.sites:
        crt, key = f"{DIR}/sites/{site.name}.crt", f"{DIR}/sites/{site.name}.key"
        k = host.file(key)
        assert k.exists and k.mode == 0o640 and k.group == "ssl-cert", \
            f"{name}: {key} missing or not 0640 root:ssl-cert"
        check_certificate(host, name, crt, key, {f"DNS:{site.name}"})


def test_every_certificate_names_the_revocation_list_every_node_holds(host, name, stack):
    cdp = host.check_output(f"openssl x509 -in {DIR}/node.crt -noout -ext crlDistributionPoints")
    urls = re.findall(r"URI:(\S+)", cdp)
    assert urls and urls[0].startswith("http://") and urls[0].endswith(
        f"/egov-{stack.name}-ca.crl"), f"{name}: node.crt names no revocation list ({cdp})"
    crl = host.file(f"{DIR}/ca.crl")
    assert crl.exists and crl.mode == 0o644, f"{name}: {crl.path} missing or not 0644"
    check = host.run(f"openssl crl -in {crl.path} -CAfile {DIR}/ca.crt -noout -nextupdate")
    assert check.rc == 0 and "verify OK" in check.stdout + check.stderr, \
        f"{name}: {crl.path} is not signed by the CA: {check.stdout}{check.stderr}"
    fresh = host.run(f"test \"$(date -u -d \"$(openssl crl -in {crl.path} -noout -nextupdate"
                     f" | cut -d= -f2)\" +%s)\" -gt \"$(date -u +%s)\"")
    assert fresh.rc == 0, f"{name}: {crl.path} is past its next update ({check.stdout})"


def test_gateway_serves_the_revocation_list_over_http(host, name, node, stack):
    if Role.gateway not in node.roles:
        pytest.skip(f"{name} has no gateway role")
    cdp = host.check_output(f"openssl x509 -in {DIR}/node.crt -noout -ext crlDistributionPoints")
    url = urlsplit(re.findall(r"URI:(\S+)", cdp)[0])
    port = role_defaults("gateway")["gateway__http_port"]
    fetch = ("import http.client,sys; "
             f"c=http.client.HTTPConnection('127.0.0.1', {port}, timeout=10); "
             f"c.request('GET', {url.path!r}, headers={{'Host': {url.hostname!r}}}); "
             "r=c.getresponse(); sys.stdout.buffer.write(r.read()) if r.status == 200 "
             "else sys.exit(r.status)")
    served = host.run(f"python3 -c {shlex.quote(fetch)} | openssl crl -inform PEM -noout -hash")
    local = host.check_output(f"openssl crl -in {DIR}/ca.crl -noout -hash")
    assert served.rc == 0 and served.stdout.strip() == local, \
        f"{name}: {url.geturl()} does not serve {DIR}/ca.crl: {served.stderr}"
