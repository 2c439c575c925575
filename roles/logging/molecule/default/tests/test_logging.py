"""The logging role alone on a node that collects and forwards its own logs: the lab's
checks of the collector (tests/nodes/test_logging.py), then TLS and a line sent and kept."""

import time
import uuid

import pytest

from egov import role_test
from tests.nodes.test_logging import (  # noqa: F401 (collected here)
    DEFAULTS,
    PORT,
    REMOTE_DIR,
    listeners,
    test_collector_keeps_and_rotates_received_logs,
    test_rsyslog_runs_and_accepts_its_config,
)


@pytest.fixture
def node(name):
    return role_test.stand_in_node(name, "logging")


def _address(host) -> str:
    return host.interface("eth0").addresses[0]


def test_collector_listens_on_its_leg_only(host, name):
    got = listeners(host, PORT)
    assert got == {_address(host)}, f"{name}: collector :{PORT} listens on {got}, not its leg"


def test_collector_answers_with_tls_and_an_internal_ca_certificate(host, name):
    fqdn = f"{host.check_output('hostname')}.{role_test.DOMAIN}"
    out = host.run(f"openssl s_client -connect {_address(host)}:{PORT} "
                   f"-CAfile {DEFAULTS['logging__ca_file']} -verify_hostname {fqdn} "
                   "-verify_return_error -brief </dev/null")
    assert "Verification: OK" in out.stderr + out.stdout, \
        f"{name}: :{PORT} does not present a certificate for {fqdn} from the internal CA: " \
        f"{out.stderr.strip()[-300:]}"


def test_a_log_line_is_forwarded_and_kept(host, name):
    marker = f"egov-roletest-{uuid.uuid4().hex}"
    host.check_output(f"logger -t egov-roletest {marker}")
    deadline = time.monotonic() + 30  # rsyslog retries a lost connection every 10 s
    while True:
        with host.sudo():
            found = host.run(f"grep -rlF {marker} {REMOTE_DIR}")
        if found.rc == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert found.rc == 0, f"{name}: log line {marker} was not kept under {REMOTE_DIR} in 30 s"
