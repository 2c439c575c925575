"""`egov service new`: a new agency's service from the service template, in a throwaway
copy of the project's stacks; only the stack file and the service's own card change."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from egov.cli import app
from egov.model import ACCESS_POLICIES, Relation, load_stack

ROOT = Path(__file__).resolve().parents[2]
NEW = ["--title", "Izin Reklame Online", "--agency", "Dinas Penanaman Modal dan PTSP"]


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    for item in ("Pulumi.yaml", "stacks", "templates"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp_path / item)
    monkeypatch.setenv("EGOV_ROOT", str(tmp_path))
    monkeypatch.setenv("EGOV_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def new(*args: str):
    return CliRunner().invoke(app, ["service", "new", *args])


def test_a_new_service_is_added_with_its_card_and_nothing_else(root):
    before = tree(root)
    old_text = (root / "stacks" / "Pulumi.lab.yaml").read_text()
    res = new("reklame", "--relation", "G2B", *NEW)
    assert res.exit_code == 0, res.output
    after = tree(root)
    changed = {k for k in before.keys() & after.keys() if before[k] != after[k]}
    assert changed == {"stacks/Pulumi.lab.yaml"}
    assert set(after) - set(before) == {"services/reklame/README.md"}
    assert not set(before) - set(after)

    text = (root / "stacks" / "Pulumi.lab.yaml").read_text()
    assert text.startswith(old_text), "the stack file's existing text (comments too) changed"
    stack = load_stack(root, "lab")
    svc = stack.services[-1]
    app_nodes = [n.name for n in stack.nodes if "app" in [r.value for r in n.roles]]
    assert (svc.name, svc.relation, svc.nodes, svc.database) == \
        ("reklame", Relation.G2B, app_nodes, True)
    assert svc.title == "Izin Reklame Online"
    # The first port the gateway may open on those nodes that no service uses yet.
    used = {s.port for s in stack.services[:-1]}
    assert svc.port not in used and svc.port == min(
        {a.port for a in stack.derived.matrix["dmz"]["app"]} - used)
    assert svc.access == ACCESS_POLICIES[Relation.G2B]
    site = next(s for s in stack.derived.sites if s.service == "reklame")
    assert site.name == "reklame.lab.bengkulukota.go.id"
    card = (root / "services" / "reklame" / "README.md").read_text()
    for fact in ("Izin Reklame Online", "Dinas Penanaman Modal dan PTSP", "G2B",
                 "business accounts, through SSO", site.name, "services[4]"):
        assert fact in card, f"the service card lacks {fact!r}"


def test_options_reach_the_manifest(root):
    res = new("pajak", "-r", "g2g", *NEW, "--node", "app2", "--port", "8003",
              "--no-database", "--backup-schedule", "weekly", "--hostname",
              "pajak.bengkulukota.go.id", "--artifact", "pajak-2.1-py3-none-any.whl")
    # Port 8003 is eabsen's on app2 in the lab: refused, nothing written.
    assert res.exit_code == 2, res.output
    assert "services[4].port: port 8003 on node 'app2' is already used by service 'eabsen'" \
        in res.output
    res = new("pajak", "-r", "g2g", *NEW, "--node", "app2", "--port", "8004",
              "--no-database", "--backup-schedule", "weekly", "--hostname",
              "pajak.bengkulukota.go.id", "--artifact", "pajak-2.1-py3-none-any.whl")
    assert res.exit_code == 0, res.output
    svc = load_stack(root, "lab").services[-1]
    assert (svc.relation, svc.nodes, svc.port, svc.database, svc.backup_schedule,
            svc.hostname, svc.artifact) == (Relation.G2G, ["app2"], 8004, False, "weekly",
                                            "pajak.bengkulukota.go.id",
                                            "pajak-2.1-py3-none-any.whl")
    assert svc.access.login == "mtls"


@pytest.mark.parametrize("args, field, fix", [
    (["eabsen", "-r", "G2E"], "services[4].name", "choose another name"),
    (["app1", "-r", "G2E"], "services[4].name", "choose another name"),
    (["Bad_Name", "-r", "G2E"], "services[4].name", "lower-case letters"),
    (["x1", "-r", "G2X"], "services[4].relation", "G2C, G2B, G2G, G2E"),
    (["x1", "-r", "G2C", "--node", "database"], "services[4].nodes[0]", "role 'app'"),
    (["x1", "-r", "G2C", "--node", "nowhere"], "services[4].nodes[0]", "name a node"),
    (["x1", "-r", "G2C", "--port", "9090"], "services[4].port",
     "add 9090 to the ports of the flow from dmz to app"),
    (["x1", "-r", "G2C", "--artifact", "x1-1.0.tar.gz"], "services[4].artifact",
     "x1-1.0-py3-none-any.whl"),
])
def test_bad_input_is_refused_with_exit_2_and_changes_nothing(root, args, field, fix):
    before = tree(root)
    res = new(*args, *NEW)
    assert res.exit_code == 2, res.output
    assert f"stacks/Pulumi.lab.yaml: egov-dc:{field}:" in res.output, res.output
    assert fix in res.output, res.output
    assert "Traceback" not in res.output
    assert tree(root) == before


def test_when_every_allowed_port_is_taken_the_fix_names_the_flow(root):
    assert new("one", "-r", "G2C", *NEW).exit_code == 0  # takes 8004, the last one
    before = tree(root)
    res = new("two", "-r", "G2C", *NEW)
    assert res.exit_code == 2, res.output
    assert "no port from the gateway zone into app is free" in res.output
    assert "add a port to the egov-dc:flows entry from dmz to app" in res.output
    assert tree(root) == before


def test_a_stack_without_services_gets_the_list(root):
    path = root / "stacks" / "Pulumi.lab.yaml"
    doc = yaml.safe_load(path.read_text())
    del doc["config"]["egov-dc:services"]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    res = new("first", "-r", "G2C", *NEW)
    assert res.exit_code == 0, res.output
    assert [s.name for s in load_stack(root, "lab").services] == ["first"]
