"""The e-government services seen from outside, as their users are: a citizen, a business,
employees and a partner agency's system, each through the gateway with the real portal,
and the rows their requests leave in the services' databases."""

from __future__ import annotations

import json
import socket
import uuid

import pytest

from egov.model import Role
from egov.paths import state_dir

from .browser import Browser, Page, tls_context

pytestmark = pytest.mark.lab


def password(uid: str) -> str:
    return (state_dir("lab") / "secrets" / "ldap" / "test" / uid).read_text().strip()


def browser(lab, ca_file, cert: tuple | None = None) -> Browser:
    gateway = lab.stack.nodes_with(Role.gateway)[0]
    return Browser(str(lab.stack.docker_host(gateway).public_address),
                   lab.stack.gateway.https_port, tls_context(ca_file, cert))


def url(lab, service: str, path: str = "/") -> str:
    return lab.stack.public_url(lab.stack.site_of(lab.stack.service(service)).name) + path


def portal_host(lab) -> str:
    return f"auth.{lab.stack.domain}"


def signed_in(lab, ca_file, service: str, uid: str) -> tuple[Browser, Page]:
    b = browser(lab, ca_file)
    page = b.get(url(lab, service))
    assert page.host == portal_host(lab) and page.status == 200, \
        f"{service}: not sent to the portal: {page.status} at {page.url}"
    return b, b.login(page, uid, password(uid))


@pytest.mark.parametrize("service", ["slawe", "sipanse", "eabsen"])
def test_unauthenticated_browsers_are_sent_to_the_portal(lab, ca_file, service):
    page = browser(lab, ca_file).get(url(lab, service))
    assert page.host == portal_host(lab), f"{service} answered {page.status} at {page.url}"
    assert "/oauth2/authorize" in " ".join(page.history), page.history
    assert 'name="password"' in page.text, "no login form at the portal"


def test_a_citizen_files_a_slawe_request_that_lands_in_the_database(lab, ca_file):
    b, page = signed_in(lab, ca_file, "slawe", "warga01")
    assert page.status == 200 and page.host.startswith("slawe."), \
        f"after the portal: {page.status} at {page.url}: {page.text[:300]}"
    note = f"lab-test-{uuid.uuid4().hex}"
    filed = b.request("POST", url(lab, "slawe", "/requests"),
                      json_body=json.dumps({"kind": "birth", "note": note}),
                      headers={"Accept": "application/json"})
    assert filed.status == 201, f"filing answered {filed.status}: {filed.text[:300]}"
    rid = json.loads(filed.body)["id"]
    row = lab.psql("slawe", f"SELECT citizen, kind, status FROM requests WHERE id = {rid} "
                             f"AND note = '{note}'")
    assert row == "warga01|birth|submitted", f"slawe database holds {row!r} for request {rid}"
    mine = json.loads(b.get(url(lab, "slawe"), headers={"Accept": "application/json"}).body)
    assert any(r["id"] == rid and r["status"] == "submitted" for r in mine["requests"])


def test_a_client_supplied_identity_header_is_not_believed(lab, ca_file):
    page = browser(lab, ca_file).get(url(lab, "slawe"), headers={
        "X-Remote-User": "warga01", "Remote-User": "warga01", "X-Forwarded-User": "warga01"})
    assert page.host == portal_host(lab), f"slawe believed a header: {page.url}"


def test_a_business_applies_for_a_licence(lab, ca_file):
    b, page = signed_in(lab, ca_file, "sipanse", "usaha01")
    assert page.status == 200 and page.host.startswith("sipanse."), page.url
    res = b.request("POST", url(lab, "sipanse", "/licences"),
                    json_body=json.dumps({"licence": "nib", "activity": "warung kopi"}),
                    headers={"Accept": "application/json"})
    assert res.status == 201, res.text[:300]
    lid = json.loads(res.body)["id"]
    assert lab.psql("sipanse", f"SELECT business, licence FROM licences WHERE id = {lid}") \
        == "usaha01|nib"


def test_a_citizen_cannot_use_eabsen(lab, ca_file):
    b = browser(lab, ca_file)
    page = b.login(b.get(url(lab, "eabsen")), "warga01", password("warga01"))
    assert not (page.host.startswith("eabsen.") and page.status == 200), \
        f"a citizen reached eabsen: {page.status} at {page.url}"
    again = b.get(url(lab, "eabsen"), headers={"Accept": "application/json"})
    assert not (again.host.startswith("eabsen.") and again.status == 200), again.url


def test_employees_check_in_and_a_supervisor_sees_the_day(lab, ca_file):
    b, page = signed_in(lab, ca_file, "eabsen", "pegawai01")
    assert page.status == 200 and page.host.startswith("eabsen."), page.url
    res = b.request("POST", url(lab, "eabsen", "/check-in"), headers={"Accept": "application/json"})
    assert res.status in (201, 409), res.text[:300]  # 409: already in today (a re-run)
    denied = b.get(url(lab, "eabsen", "/attendance"), headers={"Accept": "application/json"})
    assert denied.status == 403, "an employee sees everyone's attendance"

    boss, page = signed_in(lab, ca_file, "eabsen", "atasan01")
    assert page.status == 200, page.url
    day = json.loads(boss.get(url(lab, "eabsen", "/attendance"),
                              headers={"Accept": "application/json"}).body)
    assert "pegawai01" in [r["employee"] for r in day["attendance"]], day


@pytest.fixture(scope="module")
def partner_cert(lab, tmp_path_factory):
    """The lab partner's client certificate and key, from the CA node."""
    ca_node = lab.stack.nodes_with(Role.pki)[0].name
    folder = tmp_path_factory.mktemp("partner")
    for part in ("crt", "key"):
        res = lab.ssh(ca_node, f"sudo -n cat /var/lib/egov-pki/partners/partner-lab.{part}")
        assert res.returncode == 0, res.stderr
        (folder / f"partner.{part}").write_text(res.stdout)
        (folder / f"partner.{part}").chmod(0o600)
    return str(folder / "partner.crt"), str(folder / "partner.key")


def test_spcp_refuses_requests_without_a_client_certificate(lab, ca_file):
    page = browser(lab, ca_file).get(url(lab, "spcp", "/api/residents/1771010101900001"))
    assert page.status == 400 and "certificate" in page.text.lower(), \
        f"spcp answered {page.status} without a client certificate"


def test_spcp_answers_a_partner_agency_and_logs_the_lookup(lab, ca_file, partner_cert):
    b = browser(lab, ca_file, partner_cert)
    page = b.get(url(lab, "spcp", "/api/residents/1771010101900001"))
    assert page.status == 200, f"spcp answered {page.status}: {page.text[:300]}"
    assert json.loads(page.body)["name"] == "Budi Santoso"
    assert b.get(url(lab, "spcp", "/api/residents/1771999999999999")).status == 404
    count = lab.psql("spcp", "SELECT count(*) FROM lookups WHERE client = 'partner-lab' "
                              "AND nik = '1771010101900001' AND found")
    assert int(count) >= 1


def test_spcp_refuses_a_certificate_that_is_not_a_partners(lab, ca_file, tmp_path):
    # A node's own certificate chains to the same CA but is no partner agency's.
    node = lab.stack.nodes_with(Role.app)[0].name
    for part in ("crt", "key"):
        res = lab.ssh(node, f"sudo -n cat /etc/ssl/egov/node.{part}")
        assert res.returncode == 0, res.stderr
        (tmp_path / f"node.{part}").write_text(res.stdout)
    b = browser(lab, ca_file, (str(tmp_path / "node.crt"), str(tmp_path / "node.key")))
    page = b.get(url(lab, "spcp", "/api/residents/1771010101900001"))
    assert page.status == 403, f"spcp answered {page.status} to a node's certificate"


def test_no_service_port_is_reachable_except_through_the_gateway(lab):
    probe = ("python3 -c 'import socket,sys; s=socket.socket(); s.settimeout(3); "
             "print(s.connect_ex((sys.argv[1], int(sys.argv[2]))))' {} {}")
    database = lab.stack.nodes_with(Role.database)[0].name
    gateway = lab.stack.nodes_with(Role.gateway)[0].name
    for svc in lab.stack.services:
        for ref in svc.nodes:
            address = lab.stack.derived.address[ref]
            via_gateway = lab.ssh(gateway, probe.format(address, svc.port))
            assert via_gateway.stdout.strip() == "0", \
                f"the gateway cannot reach {svc.name} on {ref}:{svc.port}"
            from_data = lab.ssh(database, probe.format(address, svc.port))
            assert from_data.stdout.strip() != "0", \
                f"{database} reaches {svc.name} on {ref}:{svc.port} directly"
            sock = socket.socket()
            sock.settimeout(3)
            try:
                assert sock.connect_ex((address, svc.port)) != 0, \
                    f"this machine reaches {svc.name} on {ref}:{svc.port} directly"
            finally:
                sock.close()
