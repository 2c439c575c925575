"""The sshd role alone on a node that is its own bastion: the lab's checks that need no
stack (tests/nodes/test_sshd.py), and where SSH and fail2ban take the administrators from."""

from tests.nodes.test_sshd import (  # noqa: F401 (collected here)
    sshd,
    test_host_keys_ed25519_and_large_rsa_only,
    test_key_only_and_no_root,
    test_moduli_at_least_3072_bits,
    test_no_message_of_the_day_scripts_per_session,
    test_only_hardened_algorithms,
    test_sessions_per_connection_and_keepalives,
    test_sshd_config_files_are_root_owned,
)

ADMIN = "sysadmin"


def _router(host) -> str:
    return host.check_output("ip -4 route show default").split()[2]


def test_ssh_only_from_the_router_as_on_the_bastion(sshd, name, host):  # noqa: F811
    entries = [e for line in sshd.get("allowusers", []) for e in line.split()]
    assert entries == [f"{ADMIN}@{_router(host)}"], \
        f"{name}: sshd AllowUsers is {entries}, not the administrator from the router"
    assert sshd["allowtcpforwarding"] == ["local"], \
        f"{name}: the bastion's sshd AllowTcpForwarding is {sshd['allowtcpforwarding']}"


def test_fail2ban_guards_sshd_and_never_bans_the_router(host, name):
    f2b = host.service("fail2ban")
    assert f2b.is_running and f2b.is_enabled, f"{name}: fail2ban is not running and enabled"
    with host.sudo():
        ignored = host.check_output("fail2ban-client get sshd ignoreip")
        action = host.check_output("fail2ban-client get sshd actions")
    assert _router(host) in ignored.split(), f"{name}: fail2ban may ban the router ({ignored})"
    assert "nftables" in action, f"{name}: fail2ban does not ban through nftables ({action})"
