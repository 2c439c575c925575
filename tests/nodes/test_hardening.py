"""hardening role and the node's container settings: login defaults, login shells, banners,
no core dumps, PAM rules, blocked modules and USB, the network namespace's kernel settings
and temporary folders without programs."""

import pytest

from egov.paths import role_defaults

pytestmark = pytest.mark.control("EGOV-HARDENING")

DEFAULTS = role_defaults("hardening")
BASE_SYSCTL = role_defaults("base")["base__sysctl"]


def test_login_defaults_of_new_accounts(host, name):
    lines = [line.split() for line in host.file("/etc/login.defs").content_string.splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    for key, want in DEFAULTS["hardening__login_defs"].items():
        values = [rest for k, *rest in lines if k == key]
        assert values == [[want]], f"{name}: /etc/login.defs sets {key} to {values}, not {want}"


def test_login_shells_time_out_and_keep_files_private(host, name):
    shell = host.check_output("bash -lc 'echo \"$TMOUT $(umask) $(ulimit -c)\"' </dev/null")
    want = f"{DEFAULTS['hardening__shell_timeout']} 0{DEFAULTS['hardening__shell_umask']} 0"
    assert shell.split() == want.split(), \
        f"{name}: a login shell has TMOUT, umask, core limit {shell!r}, not {want!r}"
    readonly = host.run("bash -lc 'TMOUT=0' </dev/null")
    assert readonly.rc != 0, f"{name}: a login shell may switch its timeout off"


def test_legal_notice_before_login(host, name):
    for path in ("/etc/issue", "/etc/issue.net"):
        text = host.file(path).content_string
        assert text.strip() == DEFAULTS["hardening__banner"].strip(), \
            f"{name}: {path} does not carry the legal notice"


def test_only_root_reads_cron(host, name):
    for path in ("/etc/cron.d", "/etc/cron.daily"):
        folder = host.file(path)
        assert folder.user == "root" and folder.mode == 0o700, \
            f"{name}: {path} is {oct(folder.mode)} by {folder.user}, not 0700 root"


def test_no_core_dumps(host, name):
    limits = host.file("/etc/security/limits.d/10-egov-nocore.conf").content_string
    assert "hard    core    0" in limits, f"{name}: core dumps are not limited to 0"
    coredump = host.file("/etc/systemd/coredump.conf.d/10-egov.conf").content_string
    assert "Storage=none" in coredump, f"{name}: systemd-coredump would keep dumps"


def test_rarely_used_modules_never_load(host, name):
    conf = host.file("/etc/modprobe.d/10-egov-blacklist.conf").content_string.splitlines()
    for module in DEFAULTS["hardening__blacklisted_modules"]:
        assert f"blacklist {module}" in conf and f"install {module} /bin/true" in conf, \
            f"{name}: kernel module {module} is not blocked"


def test_pam_checks_password_quality_and_keeps_temporary_files_per_user(host, name):
    password = host.file("/etc/pam.d/common-password").content_string
    assert "pam_pwquality.so" in password, f"{name}: PAM does not check password quality"
    assert password.index("pam_pwquality.so") < password.index("pam_unix.so"), \
        f"{name}: pam_pwquality comes after pam_unix"
    for session in ("common-session", "common-session-noninteractive"):
        assert "pam_tmpdir.so" in host.file(f"/etc/pam.d/{session}").content_string, \
            f"{name}: /etc/pam.d/{session} gives no per-user temporary folder"


def test_usb_devices_are_blocked(host, name):
    with host.sudo():
        conf = host.file("/etc/usbguard/usbguard-daemon.conf")
        rules = host.file("/etc/usbguard/rules.conf")
        assert conf.mode == 0o600 and rules.mode == 0o600 and rules.user == "root", \
            f"{name}: USBGuard's files are not root's only"
        text = conf.content_string
    for setting in ("ImplicitPolicyTarget=block", "InsertedDevicePolicy=block",
                    "PresentDevicePolicy=apply-policy"):
        assert setting in text, f"{name}: USBGuard lacks {setting}"
    # The role masks the daemon in a container: no USB device, and a read-only sysfs.
    kind = host.check_output("systemd-detect-virt --container || true")
    if kind not in ("", "none"):
        state = host.check_output("systemctl is-enabled usbguard || true")
        assert state == "masked", f"{name}: USBGuard's daemon is {state} in a {kind} container"
    else:
        assert host.service("usbguard").is_running, f"{name}: USBGuard's daemon is not running"


@pytest.mark.control("EGOV-HARDENING", "EGOV-BASE")
def test_network_kernel_settings_of_the_node_are_live(host, name, evidence):
    keys = {k: v for k, v in BASE_SYSCTL.items()
            if k.startswith(("net.ipv4.conf.", "net.ipv6.conf."))}
    assert keys, "the base role sets no per-interface network settings"
    live = host.check_output("cat " + " ".join(
        "/proc/sys/" + k.replace(".", "/") for k in keys)).split()
    wrong = {k: got for (k, want), got in zip(keys.items(), live, strict=True)
             if got != str(want)}
    assert not wrong, f"{name}: live network settings differ from the base role's: {wrong}"
    evidence(f"{len(keys)} per-interface settings live (rp_filter, redirects, source routes, "
             "martians)")


def test_temporary_folders_hold_no_programs(host, name):
    for path in ("/tmp", "/var/tmp"):
        options = set(host.check_output(f"findmnt -no OPTIONS {path}").split(","))
        assert {"nosuid", "nodev", "noexec"} <= options, \
            f"{name}: {path} is mounted {sorted(options)}, without nosuid, nodev or noexec"


def test_the_administrator_is_out_of_password_ageing(host, name, stack):
    user = stack.access.admin_user
    with host.sudo():
        ageing = {key.strip(): value for key, _, value in
                  (line.partition(":") for line in host.check_output(f"chage -l {user}")
                   .splitlines())}
    expires = ageing.get("Password expires", "").strip()
    assert expires == "never", f"{name}: the password of {user} expires: {expires!r}"
