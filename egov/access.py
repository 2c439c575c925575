"""Administrative access: the stack's SSH key pair, known host keys and SSH client config.

Lab stacks generate their key pair on the machine, in the state folder (outside git,
files 0600). Staging and prod take the administrators' public keys from the stack file;
their private keys stay with the administrators.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import jinja2

from egov import rehearsal
from egov.model import Environment, Stack
from egov.paths import state_dir


def ssh_dir(stack: Stack | str) -> Path:
    return state_dir(stack if isinstance(stack, str) else stack.name) / "ssh"


def private_key(stack: Stack) -> Path:
    return ssh_dir(stack) / "id_ed25519"


def ensure_key_pair(stack: Stack) -> Path:
    """Generate the stack's ed25519 key pair once; later runs reuse it."""
    key = private_key(stack)
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(key.parent, 0o700)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                        f"{stack.access.admin_user}@{stack.name}.egov", "-f", str(key)],
                       check=True)
    os.chmod(key, 0o600)
    os.chmod(key.with_suffix(".pub"), 0o600)
    return key


def own_key(stack: Stack) -> bool:
    """A key pair made on this machine: the lab's, and a rehearsal's (the stack's own
    administrators are not here)."""
    return stack.environment == Environment.lab or rehearsal.is_rehearsal(stack)


def admin_keys(stack: Stack, generate: bool = False) -> list[str]:
    """Public keys every node accepts for the admin account."""
    keys = list(stack.access.admin_keys)
    if own_key(stack):
        key = ensure_key_pair(stack) if generate else private_key(stack)
        pub = key.with_suffix(".pub")
        if pub.exists():
            keys.append(pub.read_text().strip())
    return keys


def known_hosts(stack: Stack) -> Path:
    return ssh_dir(stack) / "known_hosts"


def ssh_config(stack: Stack) -> Path:
    return ssh_dir(stack) / "ssh_config"


def write_ssh_config(stack: Stack, root: Path) -> Path:
    """The SSH client config every tool uses (Ansible, testinfra, a sysadmin's `ssh -F`):
    the bastion at its published port, every other node through it (ProxyJump)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(root / "templates"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    hosts = []
    for node in stack.nodes:
        address, port = stack.ssh_endpoint(node)
        path = stack.ssh_path(node)
        hosts.append({"name": node.name, "address": address, "port": port,
                      "jump": path[0] if len(path) > 1 else None})
    text = env.get_template("ssh_config.j2").render(
        stack=stack.name, user=stack.access.admin_user, hosts=hosts,
        identity=private_key(stack) if own_key(stack) else None,
        known_hosts=known_hosts(stack), control_dir=ssh_dir(stack),
        trust_on_first_use=any(not h.url.startswith("unix://") for h in stack.docker_hosts)
        and not rehearsal.is_rehearsal(stack))
    out = ssh_config(stack)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(out.parent, 0o700)
    if not out.exists() or out.read_text() != text:
        out.write_text(text)
    os.chmod(out, 0o600)
    if not known_hosts(stack).exists():
        known_hosts(stack).touch(mode=0o600)
    return out
