"""Integration tests: the lab stack really running on the local Docker engine.

The lab is brought up once per test run (session fixture) and shared; tests marked
`destructive` run after every other test.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from egov.model import LABEL_STACK, Role, Stack, load_stack
from egov.node_ssh import ssh_argv
from egov.paths import PACKAGE_ROOT, state_dir

EGOV = [sys.executable, "-m", "egov"]


def pytest_collection_modifyitems(config, items):
    # Destructive drills last, in file order among themselves.
    items.sort(key=lambda item: item.get_closest_marker("destructive") is not None)


def egov(*args: str, root: Path = PACKAGE_ROOT, env: dict | None = None,
         timeout: int = 1800) -> subprocess.CompletedProcess:
    # English output whatever the machine's locale: tests read the command's messages.
    return subprocess.run([*EGOV, *args], cwd=root, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "200",
                                                "LC_ALL": "C.UTF-8", **(env or {})})


# What a throwaway copy of the project needs to bring up, converge and verify a stack.
PROJECT_FILES = ("Pulumi.yaml", "ansible.cfg", "site.yml", "provision.yml", "teardown.yml",
                 "roles", "plugins", "templates", "stacks", "inventory", "apps", "tests",
                 "infra")


def copy_project(source: Path, root: Path) -> Path:
    """Copy the project's PROJECT_FILES from `source` into `root`; returns `root`."""
    for item in PROJECT_FILES:
        src = source / item
        if src.is_dir():
            shutil.copytree(src, root / item, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, root / item)
    return root


def labelled_objects() -> dict[str, list[str]]:
    """Every Docker object of any stack, by kind: what the project has created."""
    out = {}
    for kind, cmd, fmt in (("container", ["ps", "-a"], "{{.Names}}"),
                           ("network", ["network", "ls"], "{{.Name}}"),
                           ("volume", ["volume", "ls"], "{{.Name}}")):
        res = subprocess.run(["docker", *cmd, "--filter", f"label={LABEL_STACK}",
                              "--format", fmt], capture_output=True, text=True, check=True)
        out[kind] = sorted(res.stdout.split())
    return out


@dataclass
class Lab:
    stack: Stack
    root: Path
    up: subprocess.CompletedProcess
    report: dict

    @property
    def ssh_config(self) -> Path:
        return state_dir(self.stack.name) / "ssh" / "ssh_config"

    def psql(self, database: str, sql: str) -> str:
        """Run SQL as postgres on the stack's database node; its output, stripped."""
        node = self.stack.nodes_with(Role.database)[0].name
        res = self.ssh(node, f"sudo -n -u postgres psql -XqtA -v ON_ERROR_STOP=1 "
                             f"-d {database} -c {shlex.quote(sql)}")
        assert res.returncode == 0, f"{node}: psql on {database} failed: {res.stderr}"
        return res.stdout.strip()

    def tables(self) -> dict[str, dict[str, tuple[int, str]]]:
        """database -> table -> (rows, checksum of its rows) for every service database."""
        from egov import backup

        out = {}
        for db in (s.name for s in self.stack.services if s.database):
            sums = backup.checksums(self.stack, db)
            out[db] = {t: (int(self.psql(db, f"SELECT count(*) FROM {t}")), s)
                       for t, s in sums.items()}
        return out

    def ldap(self, command: str, stdin: str | None = None, check: bool = True) -> str:
        """An LDAP tool as root over ldapi (SASL EXTERNAL) on the directory node."""
        node = self.stack.nodes_with(Role.directory)[0].name
        res = self.ssh(node, f"sudo -n {command} -Q -Y EXTERNAL -H ldapi:///", stdin=stdin)
        assert res.returncode == 0 or not check, f"{node}: {command} failed: {res.stderr}"
        return res.stdout

    def directory_entries(self, *attributes: str) -> dict[str, list[str]]:
        """dn -> sorted attribute lines of every entry under the suffix: the user
        attributes, and the operational ones named."""
        wanted = " ".join(shlex.quote(a) for a in ("*", *attributes))
        out = self.ldap(f"ldapsearch -LLL -o ldif-wrap=no -b "
                        f"{shlex.quote(self.stack.directory_suffix)} '(objectClass=*)' {wanted}")
        entries = {}
        for block in out.strip().split("\n\n"):
            lines = block.splitlines()
            entries[lines[0]] = sorted(lines[1:])
        return entries

    def ssh(self, node: str, command: str, user: str | None = None,
            extra: tuple[str, ...] = (), stdin: str | None = None) -> subprocess.CompletedProcess:
        """Run a shell line on a node, as written (pipes and quotes are the caller's)."""
        login = ["-l", user] if user else []
        return subprocess.run(ssh_argv(self.ssh_config, node, command, options=[*login, *extra]),
                              input=stdin, capture_output=True, text=True, timeout=120)


def _fail_with_output(what: str, res: subprocess.CompletedProcess) -> None:
    pytest.fail(f"{what} exited {res.returncode}\n--- stdout\n{res.stdout[-4000:]}\n"
                f"--- stderr\n{res.stderr[-4000:]}", pytrace=False)


@pytest.fixture(scope="session")
def lab() -> Lab:
    if os.environ.get("EGOV_REUSE_LAB") == "1":
        # A sysadmin iterating on tests against a lab already up (never set in CI).
        res = subprocess.CompletedProcess(["egov", "up", "lab"], 0, "", "")
        report = json.loads((state_dir("lab") / "last-up.json").read_text())
        return Lab(load_stack(PACKAGE_ROOT, "lab"), PACKAGE_ROOT, res, report)
    res = egov("up", "lab")
    if res.returncode != 0:
        _fail_with_output("egov up lab", res)
    report = json.loads((state_dir("lab") / "last-up.json").read_text())
    return Lab(load_stack(PACKAGE_ROOT, "lab"), PACKAGE_ROOT, res, report)


@pytest.fixture(scope="session")
def ca_file(lab, tmp_path_factory) -> Path:
    """The stack's internal CA certificate, read from a node."""
    from egov.security_scores import stack_ca

    path = stack_ca(lab.stack, tmp_path_factory.mktemp("ca"))
    assert "BEGIN CERTIFICATE" in path.read_text(), f"{path}: not a certificate"
    return path
