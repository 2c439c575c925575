"""Every node forwards its logs to the collectors; the collectors keep one folder per node."""

import time
import uuid
from pathlib import Path

import pytest
import yaml

from egov.model import Role

pytestmark = pytest.mark.control("EGOV-LOGGING")

ROLES = Path(__file__).resolve().parents[2] / "roles"
DEFAULTS = yaml.safe_load((ROLES / "logging" / "defaults" / "main.yml").read_text())
PORT = DEFAULTS["logging__port"]
REMOTE_DIR = DEFAULTS["logging__remote_dir"]


def listeners(host, port: int) -> set[str]:
    out = host.check_output(f"ss -ltnH 'sport = :{port}'")
    return {line.split()[3].rsplit(":", 1)[0] for line in out.splitlines() if line.strip()}


@pytest.fixture
def collectors(node_hosts, stack):
    nodes = stack.nodes_with(Role.logging)
    if not nodes:
        pytest.skip(f"stack {stack.name} has no logging node")
    return {n.name: node_hosts[n.name] for n in nodes}


def test_rsyslog_runs_and_accepts_its_config(host, name):
    svc = host.service("rsyslog")
    assert svc.is_running and svc.is_enabled, f"{name}: rsyslog is not running and enabled"
    with host.sudo():
        check = host.run("rsyslogd -N1")
    assert check.rc == 0, f"{name}: rsyslogd -N1 fails: {check.stderr}"


def test_collector_listens_on_its_legs_only(host, name, node, stack):
    got = listeners(host, PORT)
    if Role.logging in node.roles:
        legs = {a.address for a in stack.derived.attachments[name]}
        assert got == legs, f"{name}: collector :{PORT} listens on {got}, not on its legs {legs}"
    else:
        assert got == set(), f"{name}: listens on :{PORT} ({got}) without the logging role"


def test_collector_keeps_and_rotates_received_logs(host, name, node):
    if Role.logging not in node.roles:
        pytest.skip(f"{name} has no logging role")
    with host.sudo():
        folder = host.file(REMOTE_DIR)
        assert folder.is_directory and folder.mode == 0o750, \
            f"{name}: {REMOTE_DIR} missing or mode {oct(folder.mode)}"
        rotate = host.file("/etc/logrotate.d/egov-remote").content_string
        check = host.run("logrotate --debug /etc/logrotate.d/egov-remote")
    days = DEFAULTS["logging__retention_days"]
    assert f"{REMOTE_DIR}/*/*.log" in rotate and f"rotate {days}" in rotate, \
        f"{name}: logrotate does not keep {REMOTE_DIR} for {days} days"
    assert check.rc == 0, f"{name}: logrotate rejects egov-remote: {check.stderr}"
    assert host.service("logrotate.timer").is_enabled, f"{name}: logrotate.timer not enabled"


def test_forwarder_is_connected_to_every_collector(host, name, node, stack):
    want = {a.address for c in stack.nodes_with(Role.logging)
            for a in stack.derived.attachments[c.name] if a.zone == node.zone}
    deadline = time.monotonic() + 30  # rsyslog retries a lost connection every 10 s
    while True:
        out = host.check_output(f"ss -tnH state established 'dport = :{PORT}'")
        peers = {line.split()[-1].rsplit(":", 1)[0] for line in out.splitlines() if line.strip()}
        if want <= peers or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert want <= peers, f"{name}: no connection to the collectors {want - peers} on :{PORT}"


@pytest.mark.control("SPBE-33-TLS")
def test_collectors_answer_with_tls_and_an_internal_ca_certificate(host, name, node, stack):
    if not DEFAULTS["logging__tls"]:
        pytest.skip("log forwarding without TLS")
    ca = DEFAULTS["logging__ca_file"]
    for collector in stack.nodes_with(Role.logging):
        legs = {a.zone: a.address for a in stack.derived.attachments[collector.name]}
        address, fqdn = legs[node.zone], stack.fqdn(collector)
        out = host.run(f"openssl s_client -connect {address}:{PORT} -CAfile {ca} "
                       f"-verify_hostname {fqdn} -verify_return_error -brief </dev/null")
        assert "Verification: OK" in out.stderr + out.stdout, \
            f"{name}: {collector.name} at {address}:{PORT} does not present a certificate " \
            f"for {fqdn} from the internal CA: {out.stderr.strip()[-300:]}"


def test_log_line_arrives_at_every_collector(host, name, collectors):
    marker = f"egov-verify-{name}-{uuid.uuid4().hex}"
    host.check_output(f"logger -t egov-verify {marker}")
    for cname, collector in collectors.items():
        path = f"{REMOTE_DIR}/{name}/syslog.log"
        deadline = time.monotonic() + 20
        while True:
            with collector.sudo():
                found = collector.run(f"grep -qF {marker} {path}").rc == 0
            if found or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert found, f"{name}: log line {marker} did not reach {cname}:{path} within 20 s"
