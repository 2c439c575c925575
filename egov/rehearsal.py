"""The rehearsal of a stack on this machine: its Docker hosts simulated, everything else as
the stack file says.

Each Docker host of the stack is a container running Debian's dockerd and sshd; the control
machine reaches its engine through the stack's own `ssh://` URL, the names of those URLs
resolved to the simulated hosts by an SSH client configuration of the rehearsal's own (a
`ssh` first on PATH that reads it). The trunk of VLANs is one bridge per VLAN joining the
host containers, on which each host's interface is named as the stack's macvlan parent
names it (`bond0.<vlan>`), and this machine holds every VLAN's router address (.1): it is
the data centre's router and the way out. Nodes, zones, addresses, services and flows are
the stack file's; the only substitutions are in the overlay `stacks/rehearsal/<stack>.yaml`
(the simulated hosts' addresses and their network), plus an administrator key generated
here (the stack's own keys belong to people who are not on this machine) and nodes' CPU
limits lowered to this machine's cores.

With EGOV_REHEARSAL=<stack> (set by `egov rehearse` and the commands' `--rehearsal`), state
lives under <state root>/rehearsal, apart from a real control machine's state of the stack.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import jinja2
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from egov import images
from egov.i18n import _
from egov.model import LABEL_PREFIX, Stack
from egov.paths import state_dir

ENV = "EGOV_REHEARSAL"
LABEL = f"{LABEL_PREFIX}.rehearsal"
HOST_USER_DEFAULT = "egov"
HOST_REPOSITORY = "egov-dockerhost"


class RehearsalError(RuntimeError):
    """The rehearsal cannot go on; the message says why and what to do."""

    def __init__(self, message: str, bad_input: bool = False):
        super().__init__(message)
        self.bad_input = bad_input


class _Overlay(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class SimulatedHost(_Overlay):
    address: ipaddress.IPv4Address


class Overlay(_Overlay):
    # The network the simulated hosts' engines and SSH are reached on.
    hosts_subnet: ipaddress.IPv4Network
    hosts: dict[str, SimulatedHost] = Field(min_length=1)


def overlay_file(root: Path, stack: str) -> Path:
    return root / "stacks" / "rehearsal" / f"{stack}.yaml"


def load_overlay(root: Path, stack: Stack) -> Overlay:
    """The stack's overlay, checked against the stack: every Docker host simulated, every
    address on the hosts' network, none taken by a node."""
    path = overlay_file(root, stack.name)
    if not path.exists():
        raise RehearsalError(_("{file}: no rehearsal overlay for stack {stack}; write one "
                               "naming each Docker host's simulated address").format(
                                   file=path, stack=stack.name), bad_input=True)
    try:
        overlay = Overlay.model_validate(yaml.safe_load(path.read_text()) or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise RehearsalError(_("{file}: field {field}: {problem}").format(
            file=path, field=field, problem=err["msg"]), bad_input=True) from None
    declared = {h.name for h in stack.docker_hosts}
    if set(overlay.hosts) != declared:
        raise RehearsalError(_("{file}: field hosts: names {have}, the stack's Docker hosts "
                               "are {want}; simulate each of them, no other").format(
                                   file=path, have=sorted(overlay.hosts), want=sorted(declared)),
                             bad_input=True)
    node_addresses = {ipaddress.IPv4Address(a) for a in stack.derived.address.values()}
    for name, host in overlay.hosts.items():
        if host.address not in overlay.hosts_subnet or host.address in node_addresses \
                or host.address == next(overlay.hosts_subnet.hosts()):
            raise RehearsalError(_("{file}: field hosts.{host}.address: {address} must be in "
                                   "hostsSubnet {subnet}, not its first address (this "
                                   "machine's) and no node's").format(
                                       file=path, host=name, address=host.address,
                                       subnet=overlay.hosts_subnet), bad_input=True)
    return overlay


def active() -> str | None:
    return os.environ.get(ENV) or None


def is_rehearsal(stack: Stack | str) -> bool:
    return active() == (stack if isinstance(stack, str) else stack.name)


def activate(stack: Stack) -> None:
    """This process and its children work on the stack's rehearsal: state apart, the
    simulated hosts' names resolved by the rehearsal's SSH configuration, its vault key."""
    os.environ[ENV] = stack.name
    folder = work_dir(stack)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    wrapper = folder / "bin" / "ssh"
    wrapper.parent.mkdir(exist_ok=True)
    text = f"#!/bin/sh\nexec /usr/bin/ssh -F {shlex.quote(str(hosts_ssh_config(stack)))} \"$@\"\n"
    if not wrapper.exists() or wrapper.read_text() != text:
        wrapper.write_text(text)
    os.chmod(wrapper, 0o755)
    if not os.environ.get("PATH", "").startswith(str(wrapper.parent) + os.pathsep):
        os.environ["PATH"] = f"{wrapper.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    # The stack's secrets in the rehearsal: a vault of its own, under a key made here.
    from egov import vault
    os.environ.setdefault(vault.KEY_ENV, str(folder / "vault.key"))
    key = Path(os.environ[vault.KEY_ENV])
    if not key.exists():
        import secrets
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48) + "\n")


def cpu_limit(stack: Stack) -> float | None:
    """In a rehearsal, the simulated hosts have this machine's cores: a node's CPU limit
    above them (prod's database nodes ask for 4) is lowered to them, or Docker refuses it."""
    return float(os.cpu_count() or 1) if is_rehearsal(stack) else None


def work_dir(stack: Stack | str) -> Path:
    """The rehearsal's own files (host key pair, SSH configuration of the hosts, vault)."""
    return state_dir(stack if isinstance(stack, str) else stack.name) / "rehearsal"


def vault_file(stack: str) -> Path:
    return work_dir(stack) / f"{stack}.vault.yml"


def hosts_ssh_config(stack: Stack) -> Path:
    return work_dir(stack) / "hosts_ssh_config"


def host_key_pair(stack: Stack) -> Path:
    key = work_dir(stack) / "hosts_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                        f"control@{stack.name}.rehearsal", "-f", str(key)], check=True)
    return key


def _docker(*args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=capture, text=True, check=check)


def _name(stack: Stack, *parts: str) -> str:
    return "-".join(("egov-rehearsal", stack.name, *parts))


def host_container(stack: Stack, host: str) -> str:
    return _name(stack, host)


def _url_user_and_name(url: str) -> tuple[str, str]:
    """(user, host name) of an ssh://[user@]name[:port] URL."""
    rest = url.removeprefix("ssh://").split("/")[0]
    user, _sep, name = rest.rpartition("@")
    return user or HOST_USER_DEFAULT, name.split(":")[0]


def trunk_address(stack: Stack, zone, index: int) -> ipaddress.IPv4Address:
    """Host `index`'s address on a VLAN's bridge, just above the router's (.2, .3, ...: the
    nodes' home addresses start higher, their other legs come from the top); given back at
    the host's boot (the interface only carries the VLAN for its nodes)."""
    address = zone.router + 1 + index
    taken = {a.address for legs in stack.derived.attachments.values() for a in legs}
    if str(address) in taken or str(address) in stack.derived.address.values():
        raise RehearsalError(_("zone {zone}: {address}, which the rehearsal takes for a "
                               "Docker host's trunk, is a node's address").format(
                                   zone=zone.name, address=address))
    return address


def host_image(root: Path) -> tuple[str, dict[str, bytes]]:
    folder = root / "templates" / "dockerhost"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(folder),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    files = {"Dockerfile": env.get_template("Dockerfile.j2").render(
        base_image=images.base_image(root), user=HOST_USER_DEFAULT,
        image_label=images.IMAGE_LABEL).encode()}
    for path in sorted(folder.iterdir()):
        if path.name != "Dockerfile.j2":
            files[path.name] = path.read_bytes()
    digest = hashlib.sha256(b"".join(n.encode() + b"\0" + files[n]
                                     for n in sorted(files))).hexdigest()[:12]
    return f"{HOST_REPOSITORY}:{digest}", files


def build_host_image(root: Path, log=print) -> str:
    tag, files = host_image(root)
    if images.image_exists(tag):
        return tag
    images.build_base_image(root, log=log)
    context = root / "build" / "images" / tag.replace(":", "-")
    context.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (context / name).write_bytes(content)
    log(_("building the simulated Docker host image {tag}").format(tag=tag))
    res = subprocess.run(["docker", "build", "--network", "host", "-t", tag, str(context)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RehearsalError(_("building {tag} failed:\n{output}").format(
            tag=tag, output=(res.stdout + res.stderr)[-3000:]))
    return tag


@dataclass(frozen=True)
class Trunk:
    network: str
    zone: str
    vlan: int
    subnet: str
    router: str


def trunks(stack: Stack) -> list[Trunk]:
    return [Trunk(_name(stack, f"vlan{z.vlan}"), z.name, z.vlan, str(z.subnet), str(z.router))
            for z in stack.zones if z.vlan is not None]


def _exists(kind: str, name: str) -> bool:
    return _docker(kind, "inspect", name, check=False).returncode == 0


def upstream_resolvers() -> list[str]:
    """This machine's name servers that a container can reach (not loopback ones): the
    simulated outside's, which the hosts' engines forward their nodes' lookups to (a host
    container's own resolv.conf names only its engine's 127.0.0.11, which a nested engine
    cannot use)."""
    found = []
    try:
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                address = ipaddress.ip_address(parts[1].split("%")[0])
                if not address.is_loopback:
                    found.append(str(address))
    except (OSError, ValueError):
        pass
    return found


def _labels(stack: Stack) -> list[str]:
    return ["--label", f"{LABEL}={stack.name}"]


def hosts_up(stack: Stack, root: Path, overlay: Overlay, log=print) -> None:
    """The simulated hosts, their trunk and their management network, made once and left
    as they are when already there; returns when every engine answers over SSH."""
    missing = [h.name for h in stack.docker_hosts if h.network_driver != "macvlan"
               or not h.url.startswith("ssh://")]
    if missing:
        raise RehearsalError(_("the rehearsal simulates Docker hosts reached over ssh:// with "
                               "macvlan networks; {hosts} are not").format(
                                   hosts=", ".join(missing)), bad_input=True)
    tag = build_host_image(root, log=log)
    key = host_key_pair(stack)
    hosts_net = _name(stack, "hosts")
    if not _exists("network", hosts_net):
        gateway = next(overlay.hosts_subnet.hosts())
        _docker("network", "create", "--driver", "bridge", "--subnet",
                str(overlay.hosts_subnet), "--gateway", str(gateway), *_labels(stack), hosts_net)
    for t in trunks(stack):
        if not _exists("network", t.network):
            # This machine is each VLAN's router (.1) and its way out.
            _docker("network", "create", "--driver", "bridge", "--subnet", t.subnet,
                    "--gateway", t.router, *_labels(stack), t.network)
    for index, host in enumerate(stack.docker_hosts):
        name = host_container(stack, host.name)
        if _exists("container", name):
            _docker("start", name)
            continue
        user, _host_name = _url_user_and_name(host.url)
        pairs = []
        for t in trunks(stack):
            zone = stack.zone(t.zone)
            pairs.append((t, trunk_address(stack, zone, index),
                          f"{host.parent_interface}.{t.vlan}"))
        volume = _name(stack, host.name, "docker")
        _docker("volume", "create", *_labels(stack), volume)
        # What a dockerd and systemd nodes need inside a container here (--privileged is
        # refused: CAP_SYS_RESOURCE is outside the bounding set).
        _docker("create", "--name", name, "--hostname", host.name, *_labels(stack),
                "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
                "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                "--security-opt", "systempaths=unconfined", "--cgroupns=host",
                "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "-v", f"{volume}:/var/lib/docker",
                "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
                "--stop-signal", "SIGRTMIN+3",
                "--network", hosts_net, "--ip", str(overlay.hosts[host.name].address),
                "-e", "EGOV_TRUNK=" + " ".join(f"{a}={n}" for _t, a, n in pairs),
                "-e", f"EGOV_HOST_USER={user}",
                "-e", "EGOV_HOST_DNS=" + " ".join(upstream_resolvers()),
                "-e", "EGOV_HOST_KEYS=" + key.with_suffix(".pub").read_text().strip(),
                tag)
        for t, address, _parent in pairs:
            _docker("network", "connect", "--ip", str(address), t.network, name)
        _docker("start", name)
    write_hosts_ssh_config(stack, overlay)
    for host in stack.docker_hosts:
        wait_for_engine(stack, host.name, host.url)
    log(_("simulated Docker hosts up: {hosts}").format(
        hosts=", ".join(f"{h.name} ({overlay.hosts[h.name].address})"
                        for h in stack.docker_hosts)))


def write_hosts_ssh_config(stack: Stack, overlay: Overlay) -> Path:
    """The hosts' names resolved to the simulated hosts, their keys read over this
    machine's own engine (no trust on first use)."""
    known = work_dir(stack) / "hosts_known_hosts"
    lines = []
    for host in stack.docker_hosts:
        name = host_container(stack, host.name)
        _user, host_name = _url_user_and_name(host.url)
        deadline = time.monotonic() + 60
        while True:
            res = _docker("exec", name, "cat", "/etc/ssh/ssh_host_ed25519_key.pub", check=False)
            if res.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(1)
        if res.returncode != 0:
            raise RehearsalError(_("simulated host {host} made no SSH host key: see "
                                   "'docker logs {name}'").format(host=host.name, name=name))
        lines.append(f"{host_name} {' '.join(res.stdout.split()[:2])}")
    known.write_text("\n".join(lines) + "\n")
    os.chmod(known, 0o600)
    text = "".join(
        f"Host {_url_user_and_name(h.url)[1]}\n"
        f"    HostName {overlay.hosts[h.name].address}\n"
        f"    HostKeyAlias {_url_user_and_name(h.url)[1]}\n"
        for h in stack.docker_hosts)
    text += (f"\nHost *\n    IdentityFile {host_key_pair(stack)}\n    IdentitiesOnly yes\n"
             f"    UserKnownHostsFile {known}\n    StrictHostKeyChecking yes\n"
             # No shared master connection: a master left running would keep the pipes of
             # the command that started it open (docker's CLI and SDK read them to the end).
             f"    PasswordAuthentication no\n    ServerAliveInterval 15\n")
    path = hosts_ssh_config(stack)
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def wait_for_engine(stack: Stack, host: str, url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        res = subprocess.run(["docker", "-H", url, "info", "--format", "{{.ServerVersion}}"],
                             capture_output=True, text=True, timeout=60)
        if res.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RehearsalError(_("the engine of simulated host {host} does not answer at "
                                   "{url}: {error}").format(host=host, url=url,
                                                            error=res.stderr.strip()[-500:]))
        time.sleep(2)


def hosts_down(stack: Stack, log=print) -> list[str]:
    """Remove the simulated hosts (with everything their engines hold), their volumes and
    networks: every object carrying the rehearsal's label."""
    removed = []
    for kind, ls, fmt in (("container", ["ps", "-a"], "{{.Names}}"),
                          ("network", ["network", "ls"], "{{.Name}}"),
                          ("volume", ["volume", "ls"], "{{.Name}}")):
        names = _docker(*ls, "--filter", f"label={LABEL}={stack.name}", "--format",
                        fmt).stdout.split()
        for name in names:
            if kind == "container":
                _docker("rm", "-f", "-v", name)
            else:
                _docker(kind, "rm", name)
            removed.append(f"{kind} {name}")
    shutil.rmtree(state_dir(stack.name), ignore_errors=True)
    log(_("rehearsal of {stack} removed: {count} Docker objects").format(
        stack=stack.name, count=len(removed)))
    return removed
