"""sshd role: key-only login, the hardened algorithms, SSH only from the bastion."""

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.control("EGOV-SSH", "SPBE-33-ADMIN-CHANGE")

ROLE = Path(__file__).resolve().parents[2] / "roles" / "sshd"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
DROP_IN = "/etc/ssh/sshd_config.d/10-egov-hardening.conf"


@pytest.fixture(scope="module")
def sshd(host):
    """sshd -T as {key: [values]} (keys repeat: hostkey, allowusers); read once per node."""
    name = host.backend.hostname
    if not host.file(DROP_IN).exists:
        pytest.fail(f"{name}: the sshd role is not applied ({DROP_IN} missing)")
    out: dict[str, list[str]] = {}
    with host.sudo():
        for line in host.check_output("sshd -T").splitlines():
            key, _, value = line.partition(" ")
            out.setdefault(key, []).append(value)
    return out


def _allowed_sources(stack, node):
    """Where SSH may come from: the Docker host's bridge gateways for the bastion (the
    published port), the bastion's address in the node's zone for every other node."""
    bastion = stack.bastion
    if node.name == bastion.name:
        return {str(stack.zone(a.zone).subnet.network_address + 1)
                for a in stack.derived.attachments[node.name]}
    return {a.address for a in stack.derived.attachments[bastion.name] if a.zone == node.zone}


def test_key_only_and_no_root(sshd, name):
    for key, want in (("permitrootlogin", "no"), ("passwordauthentication", "no"),
                      ("kbdinteractiveauthentication", "no"), ("pubkeyauthentication", "yes"),
                      ("authenticationmethods", "publickey"), ("permitemptypasswords", "no"),
                      ("hostbasedauthentication", "no"), ("x11forwarding", "no"),
                      ("allowagentforwarding", "no"), ("permittunnel", "no")):
        assert sshd.get(key) == [want], f"{name}: sshd {key} is {sshd.get(key)}, not {want}"


def test_sessions_per_connection_and_keepalives(sshd, name):
    sessions = str(DEFAULTS["sshd__max_sessions"])
    assert sshd.get("maxsessions") == [sessions], \
        f"{name}: sshd maxsessions is {sshd.get('maxsessions')}, not {sessions}"
    assert sshd.get("tcpkeepalive") == ["no"], \
        f"{name}: sshd tcpkeepalive is {sshd.get('tcpkeepalive')}, not no"
    assert sshd.get("clientaliveinterval") == [str(DEFAULTS["sshd__client_alive_interval"])], \
        f"{name}: without TCP keepalives the ClientAlive probes must find dead clients"


@pytest.mark.control("EGOV-SSH", "EGOV-HARDENING")
def test_fail2ban_guards_sshd_and_never_bans_the_administrators_path(host, name, node, stack,
                                                                      evidence):
    f2b = host.service("fail2ban")
    assert f2b.is_running and f2b.is_enabled, f"{name}: fail2ban is not running and enabled"
    with host.sudo():
        # Each fails when fail2ban has no sshd jail.
        ignored = set(host.check_output("fail2ban-client get sshd ignoreip").replace(
            "|-", " ").replace("`-", " ").split())
        action = host.check_output("fail2ban-client get sshd actions")
    missing = _allowed_sources(stack, node) - ignored
    assert not missing, f"{name}: fail2ban may ban {sorted(missing)}, where every " \
        "administrator arrives from"
    assert "nftables" in action, f"{name}: fail2ban does not ban through nftables ({action})"
    evidence(f"sshd jail, banning through nftables; never banned: "
             f"{', '.join(sorted(_allowed_sources(stack, node)))} and loopback")


@pytest.mark.parametrize("key,var", [
    ("kexalgorithms", "sshd__kex_algorithms"), ("ciphers", "sshd__ciphers"),
    ("macs", "sshd__macs"), ("hostkeyalgorithms", "sshd__host_key_algorithms"),
    ("pubkeyacceptedalgorithms", "sshd__pubkey_algorithms")])
def test_only_hardened_algorithms(sshd, name, key, var):
    offered = sshd[key][0].split(",")
    assert offered == DEFAULTS[var], f"{name}: sshd {key} offers {offered}"
    weak = [a for a in offered
            if "sha1" in a or "nistp" in a or "cbc" in a or a.startswith("umac-64")]
    assert not weak, f"{name}: sshd {key} offers weak {weak}"


def test_host_keys_ed25519_and_large_rsa_only(host, sshd, name):
    assert sorted(sshd["hostkey"]) == ["/etc/ssh/ssh_host_ed25519_key",
                                       "/etc/ssh/ssh_host_rsa_key"], \
        f"{name}: sshd host keys {sshd['hostkey']}"
    assert int(sshd["requiredrsasize"][0]) >= 3072, f"{name}: sshd accepts small RSA keys"
    with host.sudo():
        bits = int(host.check_output("ssh-keygen -lf /etc/ssh/ssh_host_rsa_key.pub").split()[0])
        assert bits >= 3072, f"{name}: RSA host key has {bits} bits"
        for key in ("ed25519", "rsa"):
            f = host.file(f"/etc/ssh/ssh_host_{key}_key")
            assert f.mode == 0o600 and f.user == "root", \
                f"{name}: {f.path} is {oct(f.mode)} owned by {f.user}"
        assert not host.file("/etc/ssh/ssh_host_ecdsa_key").exists, \
            f"{name}: /etc/ssh/ssh_host_ecdsa_key is still there"


def test_moduli_at_least_3072_bits(host, sshd, name):
    small = host.check_output("awk '!/^#/ && $5 < 3071' /etc/ssh/moduli | wc -l")
    assert small == "0", f"{name}: /etc/ssh/moduli has {small} groups under 3072 bits"


@pytest.mark.control("SPBE-33-DB-INTERMEDIARY")
def test_ssh_only_from_the_bastion(sshd, name, node, stack):
    want = _allowed_sources(stack, node)
    allowed = {entry.split("@", 1)[1] for line in sshd.get("allowusers", [])
               for entry in line.split() if "@" in entry}
    users = {entry.split("@", 1)[0] for line in sshd.get("allowusers", [])
             for entry in line.split()}
    assert want and allowed == want, f"{name}: sshd AllowUsers sources {allowed}, want {want}"
    assert users == {stack.access.admin_user}, f"{name}: sshd AllowUsers users {users}"
    forwarding = sshd["allowtcpforwarding"][0]
    expected = "local" if node.name == stack.bastion.name else "no"
    assert forwarding == expected, f"{name}: sshd AllowTcpForwarding {forwarding}, want {expected}"


def test_sshd_config_files_are_root_owned(host, sshd, name):
    f = host.file(DROP_IN)
    assert f.user == "root" and f.mode == 0o644, f"{name}: {DROP_IN} is {oct(f.mode)} by {f.user}"
    main = host.file("/etc/ssh/sshd_config")
    assert main.user == "root" and main.mode == 0o600, \
        f"{name}: {main.path} is {oct(main.mode)} by {main.user}, not 0600 root"
    assert host.service("ssh").is_running and host.service("ssh").is_enabled, \
        f"{name}: ssh.service is not running and enabled"


def test_no_message_of_the_day_scripts_per_session(host, sshd, name):
    pam = host.file("/etc/pam.d/sshd").content_string
    assert "pam_motd" not in pam, f"{name}: /etc/pam.d/sshd still runs pam_motd at each session"
