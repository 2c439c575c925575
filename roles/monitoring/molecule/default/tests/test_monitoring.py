"""The monitoring role alone on a node that scrapes itself: the lab's checks of Prometheus
(tests/nodes/test_monitoring.py), then the node's own target."""

import json
import time

import pytest

from egov import role_test
from tests.nodes.test_monitoring import (  # noqa: F401 (collected here)
    EXPORTER_PORT,
    PROMETHEUS_PORT,
    http_get,
    test_prometheus_listens_on_the_management_address_only,
    test_prometheus_only_on_monitoring_nodes,
    test_prometheus_retention_and_alert_rules,
    test_promtool_accepts_config_and_rules,
)


@pytest.fixture
def node(name):
    return role_test.stand_in_node(name, "monitoring")


@pytest.fixture
def stack(host, name):
    return role_test.stand_in_stack(name, host.interface("eth0").addresses[0])


def test_the_node_exporter_target_is_up(host, name, stack):
    address = stack.derived.address[name]
    url = f"http://{address}:{PROMETHEUS_PORT}/api/v1/targets?state=active"
    deadline = time.monotonic() + 60  # a fresh Prometheus scrapes every 15 s
    while True:
        targets = [t for t in json.loads(http_get(host, url))["data"]["activeTargets"]
                   if t["labels"].get("job") == "node"]
        if [t["health"] for t in targets] == ["up"] or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert [t["health"] for t in targets] == ["up"], \
        f"{name}: prometheus's node targets are {[(t['scrapeUrl'], t['health']) for t in targets]}"
    home = f"http://{address}:{EXPORTER_PORT}/"
    assert targets[0]["scrapeUrl"].startswith(home) and targets[0]["labels"]["zone"] == "test", \
        f"{name}: the node is scraped at {targets[0]['scrapeUrl']} with {targets[0]['labels']}"
