"""node-exporter on every node; Prometheus on the monitoring nodes, scraping them all."""

import json
import time
from pathlib import Path

import pytest
import yaml

from egov.model import Role

pytestmark = pytest.mark.control("EGOV-MONITORING")

ROLES = Path(__file__).resolve().parents[2] / "roles"
EXPORTER = yaml.safe_load((ROLES / "node_exporter" / "defaults" / "main.yml").read_text())
MONITORING = yaml.safe_load((ROLES / "monitoring" / "defaults" / "main.yml").read_text())
EXPORTER_PORT = EXPORTER["node_exporter__port"]
PROMETHEUS_PORT = MONITORING["monitoring__port"]
ALERTS = {"NodeDown", "NodeDiskFilling", "NodeDiskFullIn24h", "NodeSystemdUnitFailed"}


def listeners(host, port: int) -> set[str]:
    """Local addresses of the TCP sockets listening on `port`."""
    out = host.check_output(f"ss -ltnH 'sport = :{port}'")
    return {line.split()[3].rsplit(":", 1)[0] for line in out.splitlines() if line.strip()}


def http_get(host, url: str) -> str:
    """Body of an HTTP GET made on the node itself (python3 is on every node, curl is not)."""
    return host.check_output(
        "python3 -c 'import sys, urllib.request; "
        "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' %s",
        url)


def monitoring_only(node):
    if Role.monitoring not in node.roles:
        pytest.skip(f"{node.name} has no monitoring role")


def test_node_exporter_runs_on_every_node(host, name):
    svc = host.service("prometheus-node-exporter")
    assert svc.is_running, f"{name}: prometheus-node-exporter is not running"
    assert svc.is_enabled, f"{name}: prometheus-node-exporter is not enabled"


def test_node_exporter_listens_on_the_home_address_only(host, name, stack):
    home = stack.derived.address[name]
    got = listeners(host, EXPORTER_PORT)
    assert got == {home}, \
        f"{name}: node-exporter :{EXPORTER_PORT} listens on {got}, not only {home}"


def test_node_exporter_reports_systemd_units(host, name, stack):
    metrics = http_get(host, f"http://{stack.derived.address[name]}:{EXPORTER_PORT}/metrics")
    assert 'node_systemd_unit_state{name="ssh.service"' in metrics, \
        f"{name}: node-exporter's systemd collector reports no unit states"
    assert 'node_scrape_collector_success{collector="systemd"} 1' in metrics, \
        f"{name}: node-exporter's systemd collector fails"


def test_prometheus_only_on_monitoring_nodes(host, name, node):
    if Role.monitoring in node.roles:
        svc = host.service("prometheus")
        assert svc.is_running and svc.is_enabled, f"{name}: prometheus is not running and enabled"
    else:
        assert not host.package("prometheus").is_installed, f"{name}: prometheus installed here"
        assert listeners(host, PROMETHEUS_PORT) == set(), \
            f"{name}: something listens on :{PROMETHEUS_PORT}"


def test_prometheus_listens_on_the_management_address_only(host, name, node, stack):
    monitoring_only(node)
    home = stack.derived.address[name]
    got = listeners(host, PROMETHEUS_PORT)
    assert got == {home}, f"{name}: prometheus :{PROMETHEUS_PORT} listens on {got}, not only {home}"


def test_promtool_accepts_config_and_rules(host, name, node):
    monitoring_only(node)
    with host.sudo():
        config = host.run("promtool check config /etc/prometheus/prometheus.yml")
        rules = host.run("sh -c 'promtool check rules /etc/prometheus/rules/*.yml'")
    assert config.rc == 0, f"{name}: promtool check config fails: {config.stdout}{config.stderr}"
    assert rules.rc == 0, f"{name}: promtool check rules fails: {rules.stdout}{rules.stderr}"


def test_prometheus_retention_and_alert_rules(host, name, node, stack):
    monitoring_only(node)
    base = f"http://{stack.derived.address[name]}:{PROMETHEUS_PORT}/api/v1"
    flags = json.loads(http_get(host, f"{base}/status/flags"))["data"]
    want = MONITORING["monitoring__retention"]
    assert flags["storage.tsdb.retention.time"] == want, \
        f"{name}: prometheus retention is {flags['storage.tsdb.retention.time']}, not {want}"
    groups = json.loads(http_get(host, f"{base}/rules"))["data"]["groups"]
    loaded = {r["name"] for g in groups for r in g["rules"]}
    assert ALERTS <= loaded, f"{name}: prometheus lacks alert rules {ALERTS - loaded}"


def test_every_node_exporter_target_is_up(host, name, node, stack):
    monitoring_only(node)
    url = f"http://{stack.derived.address[name]}:{PROMETHEUS_PORT}/api/v1/targets?state=active"
    want = {n.name for n in stack.nodes}
    deadline = time.monotonic() + 60  # a fresh Prometheus scrapes every 15 s
    while True:
        targets = [t for t in json.loads(http_get(host, url))["data"]["activeTargets"]
                   if t["labels"].get("job") == "node"]
        health = {t["labels"].get("node"): t["health"] for t in targets}
        down = {n: health.get(n, "missing") for n in want if health.get(n) != "up"}
        if not down or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert not down, f"{name}: node-exporter targets not up in prometheus: {down}"
    assert set(health) == want, f"{name}: prometheus scrapes {set(health)}, the stack has {want}"
    for t in targets:
        n, labels = stack.node(t["labels"]["node"]), t["labels"]
        assert labels.get("zone") == n.zone, \
            f"{name}: target {n.name} has zone {labels.get('zone')}"
        assert labels.get("roles") == ",".join(r.value for r in n.roles), \
            f"{name}: target {n.name} has roles {labels.get('roles')}"
        home = f"http://{stack.derived.address[n.name]}:{EXPORTER_PORT}/"
        assert t["scrapeUrl"].startswith(home), \
            f"{name}: target {n.name} is scraped at {t['scrapeUrl']}, not at {home}"
