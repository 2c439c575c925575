"""Onboarding a new agency's service: `egov service new` in a throwaway copy of the project,
then `egov up lab` from that copy deploys it with its database, SSO client, route,
certificate, monitoring target, backup entry and checks, a second converge of all five
services changes nothing, and a new build of the reference service replaces the installed
one. It changes the running lab, so it runs with the destructive drills, before the lab is
taken down."""

from __future__ import annotations

import json
import socket
import ssl

import pytest

from egov.artifacts import build_wheel
from egov.model import Role, load_stack
from egov.onboarding import DEFAULT_ARTIFACT
from egov.paths import state_dir

from .browser import Browser, tls_context
from .conftest import copy_project, egov
from .test_services import password

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

NEW = "pengaduan"


@pytest.fixture(scope="module")
def onboarded(lab, tmp_path_factory):
    root = copy_project(lab.root, tmp_path_factory.mktemp("project"))
    env = {"EGOV_ROOT": str(root)}
    res = egov("service", "new", NEW, "--relation", "G2C", "--title", "Layanan Pengaduan Warga",
               "--agency", "Inspektorat Kota Bengkulu", root=root, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    up = egov("up", "lab", root=root, env=env, timeout=3600)
    assert up.returncode == 0, f"egov up lab with {NEW}:\n{up.stdout[-6000:]}\n{up.stderr[-3000:]}"
    return root, env, up


def test_the_new_service_is_deployed_and_verified(lab, onboarded):
    root, _, _ = onboarded
    # `egov up` succeeded only because every node check passed, those of tests/nodes/
    # test_services.py on the nodes that run the new service included.
    stack = load_stack(root, "lab")
    svc = stack.service(NEW)
    assert svc.access.group == "citizens"
    for ref in svc.nodes:
        res = lab.ssh(ref, f"systemctl is-active egov-{NEW}")
        assert res.stdout.strip() == "active", f"{ref}: egov-{NEW} is {res.stdout.strip()}"
    db = lab.ssh("database", f"sudo -n -u postgres psql -XqtA -d {NEW} -c 'SELECT 1'")
    assert db.stdout.strip() == "1", f"no database {NEW}: {db.stderr}"
    units = lab.ssh("backup", "systemctl list-timers --all --no-pager "
                              f"'egov-backup-database@{NEW}*'")
    assert f"egov-backup-database@{NEW}" in units.stdout, units.stdout


def test_a_citizen_uses_the_new_service_through_the_portal(lab, onboarded, ca_file):
    root, _, _ = onboarded
    stack = load_stack(root, "lab")
    gateway = stack.nodes_with(Role.gateway)[0]
    b = Browser(str(stack.docker_host(gateway).public_address), stack.gateway.https_port,
                tls_context(ca_file))
    site = stack.public_url(stack.site_of(stack.service(NEW)).name)
    page = b.get(site + "/")
    assert page.host == f"auth.{stack.domain}", f"{NEW} did not send to the portal: {page.url}"
    page = b.login(page, "warga01", password("warga01"))
    assert page.status == 200 and page.host.startswith(f"{NEW}."), page.url
    res = b.request("POST", site + "/records", json_body=json.dumps({"body": "jalan berlubang"}),
                    headers={"Accept": "application/json"})
    assert res.status == 201, res.text[:300]


def test_a_second_converge_with_five_services_changes_nothing(lab, onboarded):
    root, env, _ = onboarded
    res = egov("up", "lab", "--no-verify", root=root, env=env, timeout=3600)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads((state_dir("lab") / "last-up.json").read_text())
    assert report["converge"]["changed"] == {}, \
        f"converge changed on re-run (node: tasks): {report['converge']['changed']}"


def _unit_state(lab, node: str, service: str) -> dict[str, str]:
    """Whether the service's unit is active and when its main process started."""
    out = lab.ssh(node, "systemctl show -p ActiveState -p ExecMainStartTimestampMonotonic "
                        f"egov-{service}").stdout
    return dict(line.split("=", 1) for line in out.split())


def test_a_new_build_of_the_reference_service_replaces_the_installed_one(lab, onboarded,
                                                                        tmp_path):
    """A change to the reference service's source gives a wheel of a new version (it carries
    a hash of the source): the next converge installs it in the environment of every service
    that runs it, in place of the old one, and restarts those services."""
    root, env, _ = onboarded
    source = root / "apps" / DEFAULT_ARTIFACT
    package = DEFAULT_ARTIFACT.replace("-", "_")
    old = build_wheel(source, tmp_path / "old").name.split("-")[1]
    with open(source / package / "__init__.py", "a") as f:
        f.write("# a later build\n")
    new = build_wheel(source, tmp_path / "new").name.split("-")[1]
    assert new != old
    stack = load_stack(root, "lab")
    running = [(ref, svc.name) for svc in stack.services if svc.artifact == DEFAULT_ARTIFACT
               for ref in svc.nodes]
    started = {(ref, name): _unit_state(lab, ref, name)["ExecMainStartTimestampMonotonic"]
               for ref, name in running}
    res = egov("up", "lab", "--no-verify", root=root, env=env, timeout=3600)
    assert res.returncode == 0, f"egov up lab:\n{res.stdout[-6000:]}\n{res.stderr[-3000:]}"
    for ref, name in running:
        found = lab.ssh(ref, f"sudo -n sh -c 'ls -d /opt/egov/{name}/venv/lib/python3*/"
                             f"site-packages/{package}-*.dist-info'")
        versions = sorted(line.removesuffix(".dist-info").rsplit("-", 1)[1]
                          for line in found.stdout.split())
        assert versions == [new], f"{ref}: {name} has {versions}, not only {new}"
        state = _unit_state(lab, ref, name)
        assert state["ActiveState"] == "active" \
            and state["ExecMainStartTimestampMonotonic"] != started[(ref, name)], \
            f"{ref}: egov-{name} was not restarted onto {new} ({state})"


def test_taking_the_service_out_of_the_stack_removes_it_from_the_nodes(lab, onboarded, ca_file):
    """`egov up lab` from the project without the new service takes it off every node (unit,
    configuration, secrets, user, route, certificate, SSO client, backup timer), locks its
    database role (no login, no password) and keeps its data: the database stays. The later
    drills start from the stack as defined."""
    root, _, _ = onboarded
    stack = load_stack(root, "lab")
    svc = stack.service(NEW)
    site = stack.site_of(svc).name
    gateway = stack.nodes_with(Role.gateway)[0]
    serial = lab.ssh(gateway.name, "sudo -n openssl x509 -noout -serial "
                                   f"-in /etc/ssl/egov/sites/{site}.crt")
    assert serial.returncode == 0 and "serial=" in serial.stdout, serial.stderr
    res = egov("up", "lab", timeout=3600)
    assert res.returncode == 0, \
        f"egov up lab without {NEW}:\n{res.stdout[-6000:]}\n{res.stderr[-3000:]}"
    for ref in svc.nodes:
        left = lab.ssh(ref, f"systemctl list-unit-files --no-legend 'egov-{NEW}*'; "
                            f"ls -d /etc/egov/{NEW} /opt/egov/{NEW} 2>/dev/null; "
                            f"getent passwd egov-{NEW}")
        assert left.stdout.strip() == "", f"{ref}: {NEW} left behind:\n{left.stdout}"
    left = lab.ssh(gateway.name, "sudo -n ls /etc/ssl/egov/sites/ /etc/nginx/sites-enabled/")
    assert site not in left.stdout, f"{gateway.name}: {site} left behind:\n{left.stdout}"
    revoked = lab.ssh(gateway.name, "openssl crl -noout -text -in /etc/ssl/egov/ca.crl")
    number = serial.stdout.strip().partition("=")[2]
    assert f"Serial Number: {number}" in revoked.stdout, \
        f"{gateway.name}: the certificate of {site} ({number}) is not in the revocation list"
    with pytest.raises(ssl.SSLError):
        with socket.create_connection((str(stack.docker_host(gateway).public_address),
                                       stack.gateway.https_port), timeout=5) as raw:
            with tls_context(ca_file).wrap_socket(raw, server_hostname=site):
                pass
    backup = stack.nodes_with(Role.backup)[0]
    timers = lab.ssh(backup.name, "systemctl list-unit-files --no-legend "
                                  f"'egov-backup-database@{NEW}*'")
    assert timers.stdout.strip() == "", f"{backup.name}: backup timer left:\n{timers.stdout}"
    identity = stack.nodes_with(Role.identity)[0]
    clients = lab.ssh(identity.name, "sudo -n /usr/share/lemonldap-ng/bin/lemonldap-ng-cli "
                                     "get oidcRPMetaDataOptions")
    assert clients.returncode == 0, clients.stderr
    assert NEW not in clients.stdout, f"{identity.name}: SSO client {NEW} left:\n{clients.stdout}"
    assert lab.psql(NEW, "SELECT current_database()") == NEW, "the service's data was dropped"
    flags = lab.psql("postgres", "SELECT rolcanlogin, rolpassword IS NULL FROM pg_authid "
                                 f"WHERE rolname = '{NEW}'")
    assert flags == "f|t", \
        f"the database role {NEW} can still log in or keeps its password ({flags!r})"
