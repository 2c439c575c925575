"""testinfra backend for `egov verify`: one SSH session per node carries every check's
commands.

testinfra's own ssh backend starts a new SSH session for each command, and `host.sudo()`
a sudo inside it: a PAM session, a shell and often sudo's own on the node, about 20 ms of
a node's CPU per command and a few thousand commands per verification. This backend logs
in once per node (the same SSH client, config and bastion as every other tool), starts one
small Python helper there with `sudo -n` (egov/node_helper.py), and sends it the
commands. The helper runs each one as /bin/sh would, as the user testinfra asked for: the
login user by default, root or another user inside `host.sudo()`, each with that user's
groups, home and a PATH as SSH or sudo would give. It ends when its session closes.

Host specs are `ssh-session://<node>`; `hostspec()` makes them (`ssh://<node>` when
EGOV_VERIFY_BACKEND=ssh).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import testinfra.backend
from testinfra.backend import base
from testinfra.backend.ssh import SshBackend

from egov.node_ssh import ssh_argv

SCHEME = "ssh-session"
# A command's user travels in front of it; the innermost host.sudo() wins.
_AS = "\0as:"
_LOGIN = ""

HELPER = Path(__file__).with_name("node_helper.py").read_text()
# The helper starts from this line and finds its code in its environment: the process
# list on the node shows a short command.
BOOTSTRAP = "import os; exec(os.environ['EGOV_SHELL_HELPER_CODE'])"


# EGOV_VERIFY_BACKEND=ssh: testinfra's own ssh backend, a session per command (a
# benchmark's baseline).
BACKEND_ENV = "EGOV_VERIFY_BACKEND"


def hostspec(node: str) -> str:
    return f"{os.environ.get(BACKEND_ENV, SCHEME)}://{node}"


class NodeShellBackend(SshBackend):
    """testinfra's ssh backend, with one helper process per node instead of one SSH
    session per command."""

    NAME = SCHEME
    # Longest a single check's command may take on a node.
    COMMAND_TIMEOUT = 300

    def __init__(self, hostspec: str, *args: Any, **kwargs: Any):
        super().__init__(hostspec, *args, **kwargs)
        self._proc: subprocess.Popen | None = None
        self._errors = None  # what ssh and sudo said, read when the session fails
        self._lock = threading.Lock()

    def get_sudo_command(self, command: str, sudo_user: str | None) -> str:
        return f"{_AS}{sudo_user or 'root'}\0{command}"

    def run(self, command: str, *args: str, **kwargs: Any) -> base.CommandResult:
        cmd = self.get_command(command, *args)
        user = _LOGIN
        while cmd.startswith(_AS):
            user, _, cmd = cmd[len(_AS):].partition("\0")
        with self._lock:
            try:
                rc, out, err = self._call(cmd, user)
            except (EOFError, OSError):
                self._close()  # the session dropped (a restarted sshd): log in again once
                rc, out, err = self._call(cmd, user)
        shown = cmd if user == _LOGIN else f"({user}) {cmd}"
        return self.result(rc, self.encode(shown), out, err)

    def _call(self, cmd: str, user: str) -> tuple[int, bytes, bytes]:
        proc = self._start()
        proc.stdin.write(json.dumps({"cmd": cmd, "user": user,
                                     "timeout": self.COMMAND_TIMEOUT}).encode() + b"\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        if not line:
            self._errors.seek(0)
            said = self._errors.read().decode(errors="replace").strip()[-2000:]
            raise EOFError(f"{self.hostname}: the SSH session to the node's helper ended: "
                           f"{said or 'no message'}")
        rc, out, err = json.loads(line)
        return rc, base64.b64decode(out), base64.b64decode(err)

    def _start(self) -> subprocess.Popen:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        options = ["-T", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.timeout}"]
        if self.host.user:
            options += ["-l", self.host.user]
        if self.host.port:
            options += ["-p", str(self.host.port)]
        remote = ["sudo", "-n", "env", f"EGOV_SHELL_HELPER_CODE={HELPER}",
                  "/usr/bin/python3", "-u", "-c", BOOTSTRAP]
        self._errors = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            ssh_argv(self.ssh_config, self.host.name, remote, options=options),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors)
        return self._proc

    def _close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def __del__(self):
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.stdin.close()


def register() -> None:
    """Make `ssh-session://` host specs known to testinfra."""
    testinfra.backend.BACKENDS[SCHEME] = f"{__name__}.NodeShellBackend"
