"""Every node: reachable through the bastion, systemd running, SSH and admin account as set."""

import re

import pytest

pytestmark = pytest.mark.control("SPBE-33-ADMIN-CHANGE", "EGOV-SSH")


def test_systemd_is_pid_1_and_no_unit_failed(host, name):
    assert host.check_output("cat /proc/1/comm") == "systemd", f"{name}: PID 1 is not systemd"
    failed = host.check_output("systemctl list-units --failed --plain --no-legend")
    assert failed == "", f"{name}: failed units: {failed}"
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state == "running", f"{name}: systemctl is-system-running says {state}"


def test_sshd_is_running_and_enabled(host, name):
    ssh = host.service("ssh")
    assert ssh.is_running, f"{name}: ssh.service is not running"
    assert ssh.is_enabled, f"{name}: ssh.service is not enabled"


def test_sshd_refuses_root_and_passwords(host, name):
    with host.sudo():
        effective = dict(
            line.split(" ", 1) for line in host.check_output("sshd -T").splitlines() if " " in line
        )
    for key, want in (("permitrootlogin", "no"), ("passwordauthentication", "no"),
                      ("kbdinteractiveauthentication", "no"), ("pubkeyauthentication", "yes"),
                      ("authenticationmethods", "publickey")):
        got = effective.get(key)
        assert got == want, f"{name}: sshd {key} is {got!r}, not {want}"


def test_host_keys_are_the_nodes_own(host, name):
    with host.sudo():
        key = host.file("/etc/ssh/ssh_host_ed25519_key")
        assert key.exists, f"{name}: no ed25519 host key"
        assert key.mode == 0o600 and key.user == "root", f"{name}: host key mode {oct(key.mode)}"


def test_admin_account(host, name, stack):
    user = host.user(stack.access.admin_user)
    assert user.exists, f"{name}: no admin account {stack.access.admin_user}"
    assert "sudo" in user.groups, f"{name}: {user.name} is not in group sudo"
    assert user.shell == "/bin/bash", f"{name}: {user.name} has shell {user.shell}"
    with host.sudo():
        status = host.check_output(f"passwd -S {user.name}").split()
        keys = host.file(f"{user.home}/.ssh/authorized_keys")
        assert keys.mode == 0o600 and keys.user == user.name, \
            f"{name}: {keys.path} is {oct(keys.mode)} owned by {keys.user}"
        assert host.file(f"{user.home}/.ssh").mode == 0o700, f"{name}: ~/.ssh is not 0700"
        assert host.file(user.home).mode == 0o700, f"{name}: {user.home} is not 0700"
    assert status[1] == "L", f"{name}: {user.name} has a usable password (passwd -S: {status})"
    assert host.run("sudo -n true").rc == 0, f"{name}: {user.name} cannot use sudo"


def test_root_has_no_password_and_no_keys(host, name):
    with host.sudo():
        status = host.check_output("passwd -S root").split()
        keys = host.file("/root/.ssh/authorized_keys")
        assert not keys.exists or keys.content_string.strip() == "", \
            f"{name}: root has authorized keys"
    assert status[1] in ("L", "NP") or re.match(r"^\*|!", status[1]), \
        f"{name}: root has a password (passwd -S: {status})"


def test_hostname_and_name_resolution(host, name, stack):
    assert host.check_output("hostname") == name, f"{name}: hostname differs"
    for other in stack.nodes:
        if other.name == name:
            continue
        # The node resolves the peers it shares a zone network with.
        shared = {a.zone for a in stack.derived.attachments[name]} & \
                 {a.zone for a in stack.derived.attachments[other.name]}
        if shared:
            addr = host.run(f"getent hosts {stack.fqdn(other)}")
            assert addr.rc == 0, f"{name}: cannot resolve {stack.fqdn(other)}"
