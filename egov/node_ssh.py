"""One way to run a command on a node over SSH, for every tool of the project.

`ssh -F <the stack's SSH config>` reaches the bastion at its published port and every other
node through it (ProxyJump), as the model's `Stack.ssh_path` says; the config is written
from it by `egov.access.write_ssh_config`. ssh hands the node's login shell one string, so
a command given as words is quoted word by word (`shlex.join`); a command given as one
string is a shell line, run as written (pipes, globs and quotes are the caller's).
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

from egov import access
from egov.model import Stack


def ssh_argv(config: str | Path | None, host: str, command: Sequence[str] | str = (), *,
             options: Sequence[str] = ()) -> list[str]:
    """The ssh command line: ssh [-F config] [options] host [-- command]."""
    argv = ["ssh", *(["-F", str(config)] if config else []), *options, host]
    if command:
        argv += ["--", command if isinstance(command, str) else shlex.join(command)]
    return argv


def node_argv(stack: Stack, node: str, command: Sequence[str] | str = (), *,
              options: Sequence[str] = ()) -> list[str]:
    """ssh to a node of the stack, through the bastion."""
    if node not in {n.name for n in stack.nodes}:
        raise ValueError(f"{node!r} is not a node of stack {stack.name}")
    return ssh_argv(access.ssh_config(stack), node, command, options=options)


def run_on_node(stack: Stack, node: str, command: Sequence[str] | str, *,
                input: str | bytes | None = None, timeout: float = 120, text: bool = True,
                options: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """Run `command` on `node`; its output is captured, its exit code returned, not raised."""
    return subprocess.run(node_argv(stack, node, command, options=options), input=input,
                          capture_output=True, text=text, timeout=timeout)
