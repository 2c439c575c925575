"""node-exporter alone: the lab's checks (tests/nodes/test_monitoring.py), then the
collectors a container must not run."""

import pytest

from egov import role_test
from tests.nodes.test_monitoring import (  # noqa: F401 (collected here)
    EXPORTER_PORT,
    http_get,
    test_node_exporter_listens_on_the_home_address_only,
    test_node_exporter_reports_systemd_units,
    test_node_exporter_runs_on_every_node,
)


@pytest.fixture
def stack(host, name):
    return role_test.stand_in_stack(name, host.interface("eth0").addresses[0])


def test_no_collector_of_host_hardware(host, name, stack):
    metrics = http_get(host, f"http://{stack.derived.address[name]}:{EXPORTER_PORT}/metrics")
    assert 'collector="hwmon"' not in metrics, \
        f"{name}: the hwmon collector is on in a container"
