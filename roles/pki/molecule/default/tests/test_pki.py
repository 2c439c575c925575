"""The pki role alone on a node that holds the CA and serves the public names: the lab's
certificate checks (tests/nodes/test_pki.py) on the node's and the sites' certificates."""

import re

from tests.nodes.test_pki import (  # noqa: F401 (collected here)
    CA_DIR,
    DIR,
    check_certificate,
    test_node_key_is_private_to_root_and_ssl_cert,
)

STACK = "roletest"
SITES = ("auth.roletest.invalid", "portal.roletest.invalid")


def test_ca_key_is_root_only(host, name):
    with host.sudo():
        folder, key = host.file(CA_DIR), host.file(f"{CA_DIR}/ca.key")
        assert folder.is_directory and folder.mode == 0o700 and folder.user == "root", \
            f"{name}: {CA_DIR} is not a root-only folder ({oct(folder.mode)})"
        assert key.exists and key.mode == 0o600 and key.user == "root", \
            f"{name}: CA key {key.path} missing or not 0600 root"
    assert not host.file(f"{DIR}/ca.key").exists, f"{name}: the CA key is in {DIR}"


def test_ca_is_trusted_system_wide(host, name):
    text = host.check_output(f"openssl x509 -in {DIR}/ca.crt -noout -subject")
    assert f"Internal CA {STACK}" in text, f"{name}: {DIR}/ca.crt is not the stack's CA ({text})"
    trusted = host.file(f"/usr/local/share/ca-certificates/egov-{STACK}-ca.crt")
    assert trusted.exists, f"{name}: the CA is not in the system trust store's sources"


def test_node_certificate_names_the_node(host, name):
    address = host.interface("eth0").addresses[0]
    want = {f"DNS:{host.check_output('hostname')}.{STACK}.invalid", "DNS:pki_test",
            f"IP:{address}"}
    check_certificate(host, name, f"{DIR}/node.crt", f"{DIR}/node.key", want)


def test_a_certificate_per_public_name(host, name):
    for site in SITES:
        crt, key = f"{DIR}/sites/{site}.crt", f"{DIR}/sites/{site}.key"
        k = host.file(key)
        assert k.exists and k.mode == 0o640 and k.group == "ssl-cert", \
            f"{name}: {key} missing or not 0640 root:ssl-cert"
        check_certificate(host, name, crt, key, {f"DNS:{site}"})


def test_certificates_name_a_revocation_list_signed_by_the_ca(host, name):
    cdp = host.check_output(f"openssl x509 -in {DIR}/node.crt -noout -ext crlDistributionPoints")
    want = f"http://auth.roletest.invalid/pki/egov-{STACK}-ca.crl"
    assert re.findall(r"URI:(\S+)", cdp) == [want], \
        f"{name}: node.crt names {cdp.strip()!r}, not {want}"
    check = host.run(f"openssl crl -in {DIR}/ca.crl -CAfile {DIR}/ca.crt -noout")
    assert check.rc == 0 and "verify OK" in check.stdout + check.stderr, \
        f"{name}: {DIR}/ca.crl is not signed by the CA: {check.stdout}{check.stderr}"


def test_partner_client_certificate_is_issued_for_client_use(host, name):
    with host.sudo():
        crt = f"{CA_DIR}/partners/partner-lab.crt"
        usage = host.run(f"openssl x509 -in {crt} -noout -ext extendedKeyUsage")
        chain = host.run(f"openssl verify -CAfile {DIR}/ca.crt {crt}")
    assert chain.rc == 0, f"{name}: {crt} does not chain to the CA: {chain.stdout}{chain.stderr}"
    assert "TLS Web Client Authentication" in usage.stdout, \
        f"{name}: {crt} is not for client authentication ({usage.stdout.strip()})"
