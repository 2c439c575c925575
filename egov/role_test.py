"""One role on one throwaway node: converge it, converge it again (nothing may change), check it.

The layout is Molecule's default scenario, so a reader who knows the ecosystem finds it:

    roles/<role>/molecule/default/converge.yml      the play that applies the role
    roles/<role>/molecule/default/tests/test_*.py   testinfra checks of the node

The node is a container of the image a node with that role gets in a stack (the same
systemd node the lab runs), reached with Docker's own connection instead of SSH through a
bastion, so a role is tried in minutes without bringing up a stack. Only objects with the
label `<stack label>=roletest` are ever made or removed.

    egov role test package_cache [--keep]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import yaml

from egov import engine, images
from egov.ansible_run import RunResult, run_playbook
from egov.docker_plan import CAPABILITIES, CGROUP_MOUNT, NODE_TMPFS, STOP_SIGNAL
from egov.i18n import _
from egov.model import LABEL_STACK, Role
from egov.node_roles import node_roles
from egov.paths import state_dir

STACK = "roletest"
DOMAIN = f"{STACK}.invalid"
SCENARIO = Path("molecule") / "default"
LAB_FIXTURES = "tests.nodes.conftest"


class RoleTestError(Exception):
    """The role cannot be tried: what to fix is on the caller's side (exit 2)."""


class RoleTestFailure(Exception):
    """The throwaway node could not be made or did not come up (exit 1)."""


@dataclass
class RoleTestReport:
    role: str
    container: str
    first: RunResult | None = None
    second: RunResult | None = None
    checks_rc: int | None = None

    @property
    def ok(self) -> bool:
        return (self.first is not None and self.first.ok and self.second is not None
                and self.second.ok and self.second.changed_count == 0 and self.checks_rc == 0)


def scenario(root: Path, role: str) -> Path:
    return root / "roles" / role / SCENARIO


def roles_with_scenario(root: Path) -> list[str]:
    return sorted(p.parents[2].name for p in root.glob(f"roles/*/{SCENARIO}/converge.yml"))


def container_name(role: str) -> str:
    return f"egov-{STACK}-{role.replace('_', '-')}"


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def _build(image: images.NodeImage) -> None:
    if not images.image_exists(image.tag):
        context = images.write_context(image)
        subprocess.run(["docker", "build", "-q", "-t", image.tag, str(context)], check=True,
                       stdout=subprocess.DEVNULL)


def image_roles(root: Path, role: str) -> frozenset[Role]:
    """The node roles whose nodes get the Ansible role `role` from their play in site.yml
    (itself, when it is a node role); none for a role every node gets (sshd, firewall),
    whose packages every node image carries."""
    return frozenset(Role(name) for name, entry in node_roles(root).items()
                     if name == role or role in entry.play)


def node_image(root: Path, role: str) -> str:
    """The image a node with `role` gets in a stack (built here when missing)."""
    images.build_base_image(root, log=lambda _msg: None)
    wanted = images.role_image(root, image_roles(root, role))
    for image in images.build_order(root, [wanted]):
        _build(image)
    return wanted.tag


@dataclass(frozen=True)
class Leg:
    """The node's one leg, on a network of its own: its zone `test` in the inventory."""
    address: str
    subnet: str
    router: str


def start_node(root: Path, role: str) -> Leg:
    """A fresh systemd node for `role`, running, on a network of its own: a user-defined
    network, as a stack's zones are, so that Docker's resolver (127.0.0.11) answers there."""
    name = container_name(role)
    remove_node(role)
    _docker("network", "create", "--label", f"{LABEL_STACK}={STACK}", name)
    tmpfs = [arg for path, options in NODE_TMPFS.items()
             for arg in ("--tmpfs", f"{path}:{options}" if options else path)]
    # A node role's state folder on a volume, as in a stack (an anonymous one, removed
    # with the node).
    states = [node_roles(root)[r.value].state for r in sorted(image_roles(root, role))]
    volumes = [arg for path in states if path for arg in ("-v", path)]
    _docker("run", "-d", "--name", name, "--hostname", f"{role.replace('_', '-')}-test",
            "--label", f"{LABEL_STACK}={STACK}", "--network", name, *tmpfs, *volumes,
            "-v", f"{CGROUP_MOUNT}:{CGROUP_MOUNT}:ro", "--stop-signal", STOP_SIGNAL,
            *(f"--cap-add={cap}" for cap in CAPABILITIES), node_image(root, role))
    deadline = time.monotonic() + 120
    while True:
        state = _docker("exec", name, "systemctl", "is-system-running", check=False)
        if state.stdout.strip() in ("running", "degraded"):
            break
        if time.monotonic() > deadline:
            raise RoleTestFailure(_("node {name} did not finish booting: {state}").format(
                name=name, state=state.stdout.strip() or state.stderr.strip()))
        time.sleep(1)
    leg = json.loads(_docker("inspect", name).stdout)[0]["NetworkSettings"]["Networks"][name]
    subnet = json.loads(_docker("network", "inspect", name).stdout)[0]["IPAM"]["Config"][0]
    return Leg(leg["IPAddress"], subnet["Subnet"], leg["Gateway"])


def remove_node(role: str) -> None:
    """The node and its network, if they are the harness's (labelled)."""
    name = container_name(role)
    label = f"label={LABEL_STACK}={STACK}"
    found = _docker("ps", "-a", "--filter", f"name=^{name}$", "--filter", label,
                    "--format", "{{.Names}}").stdout.split()
    if name in found:
        _docker("rm", "-f", "-v", name)
    networks = _docker("network", "ls", "--filter", f"name=^{name}$", "--filter", label,
                       "--format", "{{.Name}}").stdout.split()
    if name in networks:
        _docker("network", "rm", name)


def write_inventory(root: Path, role: str, leg: Leg, folder: Path) -> Path:
    """One host reached with Docker's connection, with what a stack's inventory says of a
    node carrying `role`: its own variables, its one zone `test` (the bridge) and its groups
    zone_test and role_<node role>. Variables of the rest of a stack are the scenario's."""
    roles = sorted(r.value for r in image_roles(root, role))
    registry = node_roles(root)
    purpose = registry[roles[0]].purpose if roles else "management"
    name = f"{role}_test"
    host = {
        "ansible_connection": "community.docker.docker",
        "ansible_host": container_name(role),
        "egov_node_address": leg.address,
        "egov_node_addresses": {"test": leg.address},
        "egov_node_fqdn": f"{role.replace('_', '-')}-test.{DOMAIN}",
        "egov_node_zone": "test",
        "egov_node_routers": [leg.router],
        "egov_node_roles": roles,
        "egov_node_package_caches": [],
    }
    groups = {"zone_test": {"hosts": {name: None}},
              **{f"role_{r}": {"hosts": {name: None}} for r in roles}}
    zones = [{"name": "test", "subnet": leg.subnet, "purpose": purpose, "egress": True}]
    path = folder / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"hosts": {name: host}, "children": groups,
                                            "vars": {"egov_zones": zones,
                                                     "egov_state_dir": str(state_dir(STACK))}}}))
    return path


def stand_in_stack(name: str, address: str, **fields) -> SimpleNamespace:
    """The little of a stack the lab's checks (tests/nodes) read, for a scenario whose play
    gives its one node the harness's stack and domain: so that a scenario collects those
    checks instead of copying them. `fields` adds or overrides (environment)."""
    return SimpleNamespace(**{
        "name": STACK, "domain": DOMAIN, "environment": STACK,
        "directory_suffix": ",".join(f"dc={part}" for part in DOMAIN.split(".")),
        "derived": SimpleNamespace(address={name: address}), **fields})


def stand_in_node(name: str, *roles: str) -> SimpleNamespace:
    """The node as the lab's checks read it: its name and its node roles."""
    return SimpleNamespace(name=name, roles=[Role(r) for r in roles])


def run(root: Path, role: str, keep: bool = False, show: bool = True,
        log=print) -> RoleTestReport:
    folder = scenario(root, role)
    if not (folder / "converge.yml").is_file():
        raise RoleTestError(_(
            "role {role} has no scenario: write {path} (and its tests/), as the "
            "package_cache role does").format(role=role, path=folder / "converge.yml"))
    engine.ensure_engine(log=log)
    report = RoleTestReport(role, container_name(role))
    logs = state_dir(STACK) / role
    playbook = str((folder / "converge.yml").relative_to(root))
    try:
        log(_("starting a throwaway node for role {role}").format(role=role))
        leg = start_node(root, role)
        with tempfile.TemporaryDirectory(prefix="egov-roletest-") as tmp:
            inventory = write_inventory(root, role, leg, Path(tmp))
            for attempt in ("first", "second"):
                res = run_playbook(root, playbook, inventory=inventory, log_dir=logs / attempt,
                                   progress_label=f"{role}: converge ({attempt})", show=show)
                setattr(report, attempt, res)
                if not res.ok:
                    return report
            report.checks_rc = subprocess.run(
                # The lab's fixtures (name, evidence), so that a scenario imports the
                # lab's checks of tests/nodes that need no stack instead of copying them.
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 "-p", LAB_FIXTURES,
                 f"--hosts=docker://{container_name(role)}", str(folder / "tests")],
                cwd=root).returncode
        return report
    finally:
        if not keep:
            remove_node(role)
