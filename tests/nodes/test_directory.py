"""Directory nodes: slapd on LDAPS and ldapi only, the city's tree, private generated secrets."""

import pytest

from egov.paths import state_dir

pytestmark = pytest.mark.control("EGOV-IDENTITY")


def _has_role(node, role):
    return role in [r.value for r in node.roles]


@pytest.fixture
def directory(node, name):
    if not _has_role(node, "directory"):
        pytest.skip(f"{name} has no directory role")
    return node


def test_slapd_runs_and_is_enabled(host, name, directory):
    slapd = host.service("slapd")
    assert slapd.is_running, f"{name}: slapd is not running"
    assert slapd.is_enabled, f"{name}: slapd is not enabled"


@pytest.mark.control("SPBE-33-TLS")
def test_slapd_listens_on_ldaps_and_not_on_plain_ldap(host, name, directory):
    assert host.socket("tcp://0.0.0.0:636").is_listening, f"{name}: slapd does not listen on 636"
    plain = [s for s in host.socket.get_listening_sockets() if s.endswith(":389")]
    off_loopback = [s for s in plain if "127.0.0.1" not in s and "::1" not in s]
    assert not off_loopback, f"{name}: plain LDAP listens beyond loopback: {off_loopback}"


@pytest.mark.control("SPBE-33-TLS")
def test_ldaps_presents_a_certificate_of_the_stack_ca(host, name, directory, stack):
    address = stack.derived.address[name]
    out = host.run(
        "LDAPTLS_CACERT=/etc/ssl/egov/ca.crt LDAPTLS_REQCERT=demand "
        "ldapsearch -x -H ldaps://%s:636 -b '' -s base namingContexts", address)
    assert out.rc == 0, f"{name}: LDAPS with the stack's CA failed: {out.stderr.strip()}"


def test_tree_has_the_city_units_and_groups(host, name, directory, stack):
    suffix = stack.directory_suffix
    with host.sudo():
        out = host.check_output(
            "ldapsearch -Q -LLL -Y EXTERNAL -H ldapi:/// -b %s '(|(objectClass=organizationalUnit)"
            "(objectClass=groupOfNames))' dn", suffix)
    dns = {line[4:].strip().lower() for line in out.splitlines() if line.startswith("dn: ")}
    for unit in ("citizens", "businesses", "employees", "agencies", "groups"):
        assert f"ou={unit},{suffix}" in dns, f"{name}: ou={unit} missing under {suffix}"
    for group in ("citizens", "businesses", "employees", "supervisors"):
        assert f"cn={group},ou=groups,{suffix}" in dns, f"{name}: group cn={group} missing"


def test_admin_password_is_stored_hashed(host, name, directory):
    with host.sudo():
        out = host.check_output(
            "ldapsearch -Q -LLL -Y EXTERNAL -H ldapi:/// -b cn=config '(olcRootPW=*)' olcRootPW")
    values = [line for line in out.splitlines() if line.startswith("olcRootPW")]
    assert values, f"{name}: the directory has no admin password"
    for line in values:
        # LDIF shows the value base64-encoded: "e1NTSEF9" is "{SSHA}", "e0NSWVBUf" "{CRYPT}".
        assert line.startswith(("olcRootPW:: e1NTSEF9", "olcRootPW:: e0NSWVBUf", "olcRootPW: {")), \
            f"{name}: olcRootPW is not a hash"


def test_lab_test_accounts_exist_only_in_the_lab(host, name, directory, stack):
    suffix = stack.directory_suffix
    with host.sudo():
        out = host.check_output(
            "ldapsearch -Q -LLL -Y EXTERNAL -H ldapi:/// -b %s '(uid=*)' uid", suffix)
    uids = {line[5:].strip() for line in out.splitlines() if line.startswith("uid: ")}
    lab = {"warga01", "usaha01", "pegawai01", "atasan01"}
    if stack.environment == "lab":
        assert lab <= uids, f"{name}: lab test accounts missing: {sorted(lab - uids)}"
    else:
        assert not lab & uids, f"{name}: test accounts outside the lab: {sorted(lab & uids)}"


def test_generated_directory_passwords_are_private(name, directory, stack):
    secrets = state_dir(stack.name) / "secrets" / "ldap"
    admin = secrets / "admin"
    assert admin.is_file(), f"{name}: {admin} missing on the control machine"
    for path in [p for p in secrets.rglob("*") if p.is_file()]:
        mode = path.stat().st_mode & 0o777
        assert mode == 0o600, f"{name}: {path} has mode {oct(mode)}, not 0600"
