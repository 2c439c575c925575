"""Services: every e-government service on every node its manifest names runs as its own
user from its own environment under systemd, on the node's home address only, with its
secrets readable by that user alone, and answers its health check and metrics."""

import json
import time
from pathlib import Path

import pytest
import yaml

from egov.model import Role

pytestmark = pytest.mark.control("EGOV-SERVICES")

ROLES = Path(__file__).resolve().parents[2] / "roles"
PROMETHEUS_PORT = yaml.safe_load(
    (ROLES / "monitoring" / "defaults" / "main.yml").read_text())["monitoring__port"]
SERVICE_ROOT = "/opt/egov"
CONFIG_DIR = "/etc/egov"


@pytest.fixture
def services(node, stack):
    mine = [s for s in stack.services if node.name in s.nodes]
    if not mine:
        pytest.skip(f"{node.name} runs no service")
    return mine


def http_get(host, url: str) -> tuple[int, str]:
    script = ("import sys, urllib.request, urllib.error\n"
              "try:\n    r = urllib.request.urlopen(sys.argv[1], timeout=10)\n"
              "    print(r.status); print(r.read().decode())\n"
              "except urllib.error.HTTPError as e:\n    print(e.code); print(e.read().decode())\n")
    out = host.check_output(f"python3 -c '{script}' {url}")
    status, _, body = out.partition("\n")
    return int(status), body


def test_each_service_runs_as_its_own_user_from_its_own_environment(host, name, services):
    for svc in services:
        user = host.user(f"egov-{svc.name}")
        assert user.exists and user.shell == "/usr/sbin/nologin", \
            f"{name}: {svc.name} has no system user of its own"
        unit = host.service(f"egov-{svc.name}")
        assert unit.is_running and unit.is_enabled, f"{name}: egov-{svc.name} not running+enabled"
        with host.sudo():  # the service's folder is closed to everyone but its user
            venv = host.file(f"{SERVICE_ROOT}/{svc.name}/venv/bin/python").exists
            home = host.file(f"{SERVICE_ROOT}/{svc.name}")
            assert venv, f"{name}: {svc.name} has no virtual environment"
            assert home.mode == 0o750 and home.group == f"egov-{svc.name}", \
                f"{name}: {home.path} is {oct(home.mode)} {home.user}:{home.group}"
        pids = host.check_output(f"systemctl show -p MainPID --value egov-{svc.name}").strip()
        owner = host.check_output(f"ps -o user= -p {pids}").strip()
        assert owner == f"egov-{svc.name}", f"{name}: {svc.name} runs as {owner}"


@pytest.mark.control("SPBE-33-PORTS")
def test_each_service_listens_on_the_home_address_only(host, name, node, stack, services):
    address = stack.derived.address[node.name]
    for svc in services:
        assert host.socket(f"tcp://{address}:{svc.port}").is_listening, \
            f"{name}: {svc.name} does not listen on {address}:{svc.port}"
        assert not host.socket(f"tcp://0.0.0.0:{svc.port}").is_listening, \
            f"{name}: {svc.name} listens on every address"


def test_secrets_are_readable_by_the_service_user_only(host, name, services):
    for svc in services:
        wanted = ["session.secret"] + (["database.password"] if svc.database else []) \
            + (["oidc-client.secret"] if svc.access.login == "sso" else [])
        with host.sudo():
            for secret in wanted:
                f = host.file(f"{CONFIG_DIR}/{svc.name}/{secret}")
                assert f.exists and f.mode == 0o600 and f.user == f"egov-{svc.name}", \
                    f"{name}: {svc.name}'s {secret} is not 0600 egov-{svc.name}"
            config = json.loads(host.file(f"{CONFIG_DIR}/{svc.name}/config.json").content_string)
        assert config["login"] == svc.access.login and config["relation"] == svc.relation.value
        for value in json.dumps(config).split('"'):
            assert not value.startswith("-----BEGIN"), f"{name}: a key in {svc.name}'s config"


def test_each_service_answers_health_and_metrics(host, name, node, stack, services):
    address = stack.derived.address[node.name]
    for svc in services:
        status, body = http_get(host, f"http://{address}:{svc.port}{svc.health_path}")
        assert status == 200 and json.loads(body)["status"] == "ok", \
            f"{name}: {svc.name} health answers {status} {body[:200]}"
        status, body = http_get(host, f"http://{address}:{svc.port}/metrics")
        assert status == 200 and f'egov_service_up{{service="{svc.name}"}} 1' in body \
            and f'egov_service_database_up{{service="{svc.name}"}} 1' in body, \
            f"{name}: {svc.name} metrics: {status} {body[:200]}"


@pytest.mark.control("EGOV-MONITORING")
def test_prometheus_scrapes_every_service(host, name, node, stack):
    if Role.monitoring not in node.roles:
        pytest.skip(f"{name} has no monitoring role")
    if not stack.services:
        pytest.skip(f"stack {stack.name} has no service")
    url = f"http://{stack.derived.address[node.name]}:{PROMETHEUS_PORT}/api/v1/targets?state=active"
    want = {f"{stack.derived.address[ref]}:{svc.port}": svc.name
            for svc in stack.services for ref in svc.nodes}
    deadline = time.monotonic() + 60  # a fresh target is scraped within 15 s
    while True:
        status, body = http_get(host, url)
        assert status == 200, body[:200]
        health = {t["labels"].get("instance"): t["health"]
                  for t in json.loads(body)["data"]["activeTargets"]
                  if t["labels"].get("service")}
        down = {f"{svc} {inst}": health.get(inst, "missing")
                for inst, svc in want.items() if health.get(inst) != "up"}
        if not down or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert not down, f"{name}: service targets not up in Prometheus: {down}"
