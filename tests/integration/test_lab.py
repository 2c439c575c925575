"""The lab stack: bring-up, idempotent re-run, verification, access through the bastion."""

from __future__ import annotations

import json
import stat
import subprocess

import pytest

from egov.model import LABEL_STACK
from egov.paths import PACKAGE_ROOT, state_dir

from .conftest import egov, labelled_objects

pytestmark = pytest.mark.lab


def test_up_creates_every_node_network_and_volume(lab):
    objs = labelled_objects()
    stack = lab.stack
    for node in stack.nodes:
        assert stack.container_name(node) in objs["container"], f"container of {node.name} missing"
        for vol in node.volumes:
            assert stack.volume_name(node, vol) in objs["volume"], f"volume {vol} of {node.name}"
    for zone in stack.zones:
        assert stack.network_name(zone) in objs["network"], f"network of zone {zone.name} missing"
    assert lab.report["verify_ok"] is True, "verification after bring-up failed"


def test_containers_have_the_planned_addresses_and_labels(lab):
    stack = lab.stack
    for node in stack.nodes:
        info = json.loads(subprocess.run(["docker", "inspect", stack.container_name(node)],
                                         capture_output=True, text=True, check=True).stdout)[0]
        nets = info["NetworkSettings"]["Networks"]
        want = {a.network: a.address for a in stack.derived.attachments[node.name]}
        got = {net: cfg["IPAMConfig"]["IPv4Address"] for net, cfg in nets.items()}
        assert got == want, f"{node.name}: networks/addresses {got} != planned {want}"
        assert info["Config"]["Labels"][LABEL_STACK] == "lab", f"{node.name}: stack label"
        assert info["Config"]["Hostname"] == node.name, f"{node.name}: hostname"
        assert info["HostConfig"]["Privileged"] is False, f"{node.name}: privileged"
        assert info["HostConfig"]["Memory"] > 0, f"{node.name}: no memory limit"
        published = {p for bindings in (info["HostConfig"]["PortBindings"] or {}).values()
                     for p in (b["HostIp"] for b in bindings)}
        assert published <= {"127.0.0.1"}, f"{node.name}: ports published beyond loopback"


def test_second_up_changes_nothing(lab):
    res = egov("up", "lab", "--no-verify")
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads((state_dir("lab") / "last-up.json").read_text())
    assert report["provision"]["changed"] == {}, \
        f"provisioning changed on re-run: {report['provision']['changed']}"
    assert report["converge"]["changed"] == {}, \
        f"converge changed on re-run (node: tasks): {report['converge']['changed']}"


def test_verify_passes_and_writes_evidence_by_node_and_control(lab):
    from egov import evidence
    res = egov("verify", "lab")
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert " passed, 0 failed" in res.stdout
    report = evidence.latest("lab")
    assert report["passed"] is True and report["stack"] == "lab"
    assert set(report["nodes"]) == {n.name for n in lab.stack.nodes} | {"(stack)"}
    assert report["definition"]["sha256"] == evidence.definition(lab.stack, lab.root)["sha256"]
    assert report["definition"]["project_commit"], "the evidence names no commit"
    ran = [r for r in report["results"] if r["outcome"] != "skipped"]
    assert all(r["controls"] and r["time"] and r["seconds"] >= 0 for r in ran)
    for node in lab.stack.nodes:
        checks = {r["check"].split("::")[1] for r in ran if r["node"] == node.name}
        assert {"test_managed_files_are_as_the_last_converge_left_them",
                "test_only_ports_the_stack_opens_are_listening"} <= checks, node.name
    status = {c["id"]: c["status"] for c in report["controls"]}
    for control in ("SPBE-33-ZONES", "SPBE-33-PORTS", "SPBE-33-ADMIN-CHANGE", "SPBE-33-TLS",
                    "SPBE-33-DB-INTERMEDIARY", "EGOV-SSO", "EGOV-MTLS", "EGOV-BACKUP",
                    "EGOV-DRIFT", "EGOV-MONITORING", "EGOV-LOGGING"):
        assert status[control] == "passed", f"{control}: {status[control]}"
    assert status["EGOV-RESTORE"] == "no evidence", "verify has no restore evidence of its own"


def test_status_shows_every_node_running(lab):
    res = egov("status", "lab")
    assert res.returncode == 0, res.stdout
    for node in lab.stack.nodes:
        assert node.name in res.stdout


def test_every_node_is_reached_through_the_bastion(lab):
    cfg = lab.ssh_config.read_text()
    bastion = lab.stack.bastion.name
    for node in lab.stack.nodes:
        block = cfg.split(f"Host {node.name}\n", 1)[1].split("\nHost ", 1)[0]
        if node.name == bastion:
            assert "HostName 127.0.0.1" in block and "Port 2222" in block, block
            assert "ProxyJump" not in block
        else:
            assert f"ProxyJump {bastion}" in block, f"{node.name} is not behind the bastion"
        res = lab.ssh(node.name, "hostname")
        assert res.returncode == 0 and res.stdout.strip() == node.name, res.stderr


def test_root_and_password_logins_are_refused(lab):
    for node in ("bastion", "database"):
        res = lab.ssh(node, "true", user="root")
        assert res.returncode == 255 and "Permission denied" in res.stderr, \
            f"{node}: root login not refused: {res.stderr}"
        no_key = ("-o", "PubkeyAuthentication=no", "-o", "BatchMode=yes",
                  "-o", "PreferredAuthentications=password,keyboard-interactive",
                  "-o", "ControlMaster=no", "-o", "ControlPath=none")
        res = lab.ssh(node, "true", extra=no_key)
        assert res.returncode == 255 and "Permission denied (publickey)" in res.stderr, \
            f"{node}: a login without the key was not refused: {res.stderr}"


def test_host_keys_differ_per_node(lab):
    lines = (state_dir("lab") / "ssh" / "known_hosts").read_text().split("\n")
    keys = {line.split()[0]: line.split()[2] for line in lines if line.strip()}
    assert set(keys) == {n.name for n in lab.stack.nodes}
    assert len(set(keys.values())) == len(keys), "two nodes share an SSH host key"


def test_generated_secrets_are_private_and_outside_git(lab):
    folder = state_dir("lab")
    assert not folder.resolve().is_relative_to(PACKAGE_ROOT), "state folder inside the project"
    for path in (folder / "ssh" / "id_ed25519", folder / "ssh" / "id_ed25519.pub"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o600, f"{path} has mode {oct(mode)}"
    tracked = subprocess.run(["git", "ls-files"], cwd=PACKAGE_ROOT, capture_output=True,
                             text=True).stdout
    private = (folder / "ssh" / "id_ed25519").read_text().splitlines()[1]
    assert "id_ed25519" not in tracked
    for rel in tracked.split():
        path = PACKAGE_ROOT / rel
        if path.is_file() and path.stat().st_size < 2_000_000:
            assert private not in path.read_text(errors="ignore"), f"private key in {rel}"
