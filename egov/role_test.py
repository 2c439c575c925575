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

import yaml

from egov import engine, images
from egov.ansible_run import RunResult, run_playbook
from egov.docker_plan import CAPABILITIES, CGROUP_MOUNT, NODE_TMPFS, STOP_SIGNAL
from egov.i18n import _
from egov.model import LABEL_STACK, Role
from egov.paths import state_dir

STACK = "roletest"
SCENARIO = Path("molecule") / "default"


class RoleTestError(Exception):
    pass


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


def node_image(root: Path, role: str) -> str:
    """The image a node with `role` gets in a stack (built here when missing)."""
    images.build_base_image(root, log=lambda _msg: None)
    wanted = images.role_image(root, frozenset({Role(role)}))
    for image in images.build_order(root, [wanted]):
        _build(image)
    return wanted.tag


def start_node(root: Path, role: str) -> str:
    """A fresh systemd node for `role`, running; its address on Docker's default bridge."""
    name = container_name(role)
    remove_node(role)
    tmpfs = [arg for path, options in NODE_TMPFS.items()
             for arg in ("--tmpfs", f"{path}:{options}" if options else path)]
    _docker("run", "-d", "--name", name, "--hostname", f"{role.replace('_', '-')}-test",
            "--label", f"{LABEL_STACK}={STACK}", *tmpfs,
            "-v", f"{CGROUP_MOUNT}:{CGROUP_MOUNT}:ro", "--stop-signal", STOP_SIGNAL,
            *(f"--cap-add={cap}" for cap in CAPABILITIES), node_image(root, role))
    deadline = time.monotonic() + 120
    while True:
        state = _docker("exec", name, "systemctl", "is-system-running", check=False)
        if state.stdout.strip() in ("running", "degraded"):
            break
        if time.monotonic() > deadline:
            raise RoleTestError(_("node {name} did not finish booting: {state}").format(
                name=name, state=state.stdout.strip() or state.stderr.strip()))
        time.sleep(1)
    info = json.loads(_docker("inspect", name).stdout)[0]
    return info["NetworkSettings"]["IPAddress"]


def remove_node(role: str) -> None:
    name = container_name(role)
    found = _docker("ps", "-a", "--filter", f"name=^{name}$", "--filter",
                    f"label={LABEL_STACK}={STACK}", "--format", "{{.Names}}").stdout.split()
    if name in found:
        _docker("rm", "-f", "-v", name)


def write_inventory(role: str, address: str, folder: Path) -> Path:
    """One host reached with Docker's connection, with the variables every role reads
    from a stack's inventory that concern the node itself."""
    host = {
        "ansible_connection": "community.docker.docker",
        "ansible_host": container_name(role),
        "egov_node_address": address,
        "egov_node_addresses": {"test": address},
        "egov_node_fqdn": f"{role.replace('_', '-')}-test.{STACK}.invalid",
    }
    path = folder / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"hosts": {f"{role}_test": host}}}))
    return path


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
        address = start_node(root, role)
        with tempfile.TemporaryDirectory(prefix="egov-roletest-") as tmp:
            inventory = write_inventory(role, address, Path(tmp))
            for attempt in ("first", "second"):
                res = run_playbook(root, playbook, inventory=inventory, log_dir=logs / attempt,
                                   progress_label=f"{role}: converge ({attempt})", show=show)
                setattr(report, attempt, res)
                if not res.ok:
                    return report
            report.checks_rc = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 f"--hosts=docker://{container_name(role)}", str(folder / "tests")],
                cwd=root).returncode
        return report
    finally:
        if not keep:
            remove_node(role)
