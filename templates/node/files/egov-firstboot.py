#!/usr/bin/python3
"""First boot of a node: unique SSH host keys and ssl-cert key pair, and the administrator
account named by the container's environment (EGOV_ADMIN_USER, EGOV_ADMIN_KEYS: public
keys, one per line).

The provisioner (lab) or the Pulumi program sets that environment; nothing secret is in it.
Safe to run at every boot.
"""
import os
import pwd
import subprocess

with open("/proc/1/environ", "rb") as fh:
    env = dict(
        item.decode().split("=", 1) for item in fh.read().split(b"\0") if b"=" in item
    )

# Only the host key types the sshd role accepts: `ssh-keygen -A` would also bring back
# an ECDSA key at every boot.
for kind, bits in (("ed25519", []), ("rsa", ["-b", "4096"])):
    key = f"/etc/ssh/ssh_host_{kind}_key"
    if not os.path.exists(key):
        subprocess.run(["ssh-keygen", "-q", "-t", kind, *bits, "-N", "", "-f", key],
                       check=True, stdout=subprocess.DEVNULL)

# ssl-cert's default key pair, which the node image leaves out so that no two nodes share it.
if os.path.exists("/usr/sbin/make-ssl-cert") and not os.path.exists(
        "/etc/ssl/private/ssl-cert-snakeoil.key"):
    subprocess.run(["make-ssl-cert", "generate-default-snakeoil"], check=True,
                   stdout=subprocess.DEVNULL)

user = env.get("EGOV_ADMIN_USER")
keys = [k.strip() for k in env.get("EGOV_ADMIN_KEYS", "").splitlines() if k.strip()]
if user and keys:
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--shell", "/bin/bash", "--groups", "sudo", user],
            check=True,
        )
        pw = pwd.getpwnam(user)
    ssh_dir = os.path.join(pw.pw_dir, ".ssh")
    os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
    path = os.path.join(ssh_dir, "authorized_keys")
    # Only what is missing: once the base role manages these files, it owns them.
    if not os.path.exists(path):
        with open(path + ".new", "w") as fh:
            fh.write("\n".join(keys) + "\n")
        os.chmod(path + ".new", 0o600)
        os.replace(path + ".new", path)
    for p in (ssh_dir, path):
        os.chown(p, pw.pw_uid, pw.pw_gid)
    os.chmod(ssh_dir, 0o700)
    # Key-only accounts have no password, so sudo must not ask for one.
    sudoers = f"/etc/sudoers.d/90-egov-admin-{user}"
    if not os.path.exists(sudoers):
        with open(sudoers + ".new", "w") as fh:
            fh.write(f"{user} ALL=(ALL:ALL) NOPASSWD: ALL\n")
        os.chmod(sudoers + ".new", 0o440)
        os.replace(sudoers + ".new", sudoers)
