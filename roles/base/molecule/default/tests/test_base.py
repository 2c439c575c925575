"""The base role alone on a node that is the stack's time server: the lab's checks that need
no stack (tests/nodes/test_base.py), the time service and the administrator's account."""

from pathlib import Path

import yaml

from tests.nodes.test_base import (  # noqa: F401 (collected here)
    test_baseline_packages_installed,
    test_journal_is_persistent_and_bounded,
    test_kernel_hardening_file_and_live_values,
    test_locale_and_time_zone,
    test_unattended_upgrades_security_only,
)

ADMIN = "sysadmin"


def _converge_vars(host) -> dict:
    play = yaml.safe_load((Path(__file__).parents[1] / "converge.yml").read_text())
    return play[-1]["vars"]


def test_chrony_serves_the_zone_from_the_local_clock(host, name):
    chrony = host.service("chrony")
    assert chrony.is_running and chrony.is_enabled, f"{name}: chrony not running and enabled"
    subnet = host.check_output("ip -4 route show dev eth0 scope link").split()[0]
    conf = host.file("/etc/chrony/chrony.conf").content_string
    assert "local stratum" in conf and f"allow {subnet}" in conf, \
        f"{name}: chrony does not serve {subnet} from the local clock"
    assert "pool " not in conf and "server " not in conf, f"{name}: chrony reaches outside"
    with host.sudo():
        tracking = host.run("chronyc -n tracking")
    assert tracking.rc == 0, f"{name}: chronyc does not reach chrony: {tracking.stderr}"


def test_the_administrator_logs_in_by_key_only_and_may_sudo(host, name):
    user = host.user(ADMIN)
    assert user.exists and "sudo" in user.groups, f"{name}: {ADMIN} missing or not in sudo"
    with host.sudo():
        shadow = host.check_output(f"getent shadow {ADMIN}").split(":")
        keys = host.file(f"{user.home}/.ssh/authorized_keys").content_string.split("\n")
        home = host.file(user.home)
        expires = host.check_output(f"chage -l {ADMIN}")
        sudo = host.run(f"sudo -n -l -U {ADMIN}")
    assert shadow[1].startswith("!"), f"{name}: {ADMIN} has a usable password"
    assert home.mode == 0o700, f"{name}: {user.home} is {oct(home.mode)}, not 0700"
    assert [k for k in keys if k.strip()] == _converge_vars(host)["egov_admin_keys"], \
        f"{name}: {ADMIN}'s authorized_keys is not exactly the administrators' keys"
    ageing = {k.strip(): v.strip() for k, _, v in (line.partition(":")
                                                   for line in expires.splitlines())}
    assert ageing.get("Password expires") == "never", \
        f"{name}: the password of {ADMIN} expires: {ageing.get('Password expires')!r}"
    assert "NOPASSWD: ALL" in sudo.stdout, f"{name}: {ADMIN} may not sudo: {sudo.stdout}"
