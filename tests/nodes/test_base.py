"""Every node: baseline packages, time sync, locale, time zone and journal limits."""

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.control("EGOV-BASE")

ROLE_DEFAULTS = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "roles" / "base" / "defaults" / "main.yml").read_text()
)


def test_baseline_packages_installed(host, name):
    for pkg in ROLE_DEFAULTS["base__packages"]:
        assert host.package(pkg).is_installed, f"{name}: package {pkg} is not installed"


def test_chrony_runs_and_syncs_from_the_stack(host, name, stack):
    chrony = host.service("chrony")
    assert chrony.is_running and chrony.is_enabled, f"{name}: chrony not running and enabled"
    conf = host.file("/etc/chrony/chrony.conf").content_string
    servers = [n for n in stack.nodes if "dns" in [r.value for r in n.roles]]
    if name in [s.name for s in servers]:
        assert "local stratum" in conf, f"{name}: time server without local stratum"
        for zone in stack.zones:
            assert f"allow {zone.subnet}" in conf, f"{name}: chrony does not serve {zone.subnet}"
    else:
        for server in servers:
            assert f"server {stack.fqdn(server)} iburst" in conf, \
                f"{name}: chrony does not use {stack.fqdn(server)}"
        assert "pool " not in conf, f"{name}: chrony reaches outside the stack"


def test_locale_and_time_zone(host, name):
    first = ROLE_DEFAULTS["base__locales"][0]
    assert host.file("/etc/default/locale").content_string.strip() == f"LANG={first}", \
        f"{name}: default locale is not {first}"
    available = host.check_output("locale -a").lower().replace("-", "")
    for loc in ROLE_DEFAULTS["base__locales"]:
        assert loc.lower().replace("-", "") in available, f"{name}: locale {loc} not generated"
    zone = host.file("/etc/localtime").linked_to
    assert zone.endswith(ROLE_DEFAULTS["base__timezone"]), f"{name}: /etc/localtime is {zone}"


def test_journal_is_persistent_and_bounded(host, name):
    conf = host.file("/etc/systemd/journald.conf.d/10-egov.conf")
    assert conf.exists, f"{name}: journald drop-in missing"
    assert "Storage=persistent" in conf.content_string, f"{name}: journal not persistent"
    assert f"SystemMaxUse={ROLE_DEFAULTS['base__journald_max_use']}" in conf.content_string, \
        f"{name}: journal size not bounded"
    assert host.file("/var/log/journal").is_directory, f"{name}: no /var/log/journal"


def test_unattended_upgrades_security_only(host, name):
    assert host.package("unattended-upgrades").is_installed, \
        f"{name}: unattended-upgrades is not installed"
    assert not host.package("apt-listbugs").is_installed, f"{name}: apt-listbugs is installed"
    origins = host.check_output("apt-config dump Unattended-Upgrade::Origins-Pattern")
    patterns = [line.split(" ", 1)[1].strip('";') for line in origins.splitlines()
                if line.startswith("Unattended-Upgrade::Origins-Pattern:: ")]
    assert patterns, f"{name}: unattended-upgrades has no origins"
    assert all("-security" in p for p in patterns), \
        f"{name}: unattended-upgrades takes more than security updates: {patterns}"
    for key in ("APT::Periodic::Update-Package-Lists", "APT::Periodic::Unattended-Upgrade"):
        value = host.check_output(f"apt-config shell V {key}")
        assert value == "V='1'", f"{name}: apt {key} is {value or 'unset'}"
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
        assert host.service(timer).is_enabled, f"{name}: {timer} is not enabled"


def test_kernel_hardening_file_and_live_values(host, name):
    path = "/etc/sysctl.d/90-egov-hardening.conf"
    conf = host.file(path)
    assert conf.exists and conf.user == "root" and conf.mode == 0o644, \
        f"{name}: {path} missing or not root 0644"
    written = dict(
        (k.strip(), v.strip()) for k, _, v in
        (line.partition("=") for line in conf.content_string.splitlines()
         if line.strip() and not line.startswith("#"))
    )
    for key, value in ROLE_DEFAULTS["base__sysctl"].items():
        assert written.get(key) == str(value), f"{name}: {path} sets {key} to {written.get(key)}"
    for key in ("net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding"):
        assert key not in written, f"{name}: {path} touches {key}, which Docker needs"
    # In a container /proc/sys is read-only and the Docker host's kernel decides.
    if "ro" in host.check_output("findmnt -no OPTIONS /proc/sys").split(","):
        return
    for key, value in ROLE_DEFAULTS["base__sysctl"].items():
        live = host.run(f"sysctl -n {key}")
        if live.rc == 0:
            assert live.stdout.split() == str(value).split(), \
                f"{name}: sysctl {key} is {live.stdout.strip()}, not {value}"
