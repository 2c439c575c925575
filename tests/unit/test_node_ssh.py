"""The one helper for SSH to a node (egov.node_ssh): what the node's shell receives, and
the way through the bastion the stack's SSH config gives each node."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from egov import access, node_ssh
from egov.model import load_stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lab(tmp_path, monkeypatch):
    monkeypatch.setenv("EGOV_STATE_DIR", str(tmp_path))
    return load_stack(ROOT, "lab")


AWKWARD = ["printf", "%s\\n", "it's $HOME; rm -rf / `x` \"q\" * \n end", ""]


def test_words_reach_the_node_shell_as_the_same_words(lab):
    argv = node_ssh.node_argv(lab, "database", AWKWARD)
    assert argv[:3] == ["ssh", "-F", str(access.ssh_config(lab))]
    assert argv[3:5] == ["database", "--"]
    # ssh joins what follows the host with spaces; the node's shell splits it again
    assert shlex.split(" ".join(argv[5:])) == AWKWARD


def test_a_shell_line_is_sent_as_written(lab):
    line = "systemctl is-active nginx | tr a-z A-Z; echo 'done'"
    assert node_ssh.node_argv(lab, "gateway", line)[-2:] == ["--", line]


def test_options_come_before_the_host_and_no_command_opens_a_session(lab):
    argv = node_ssh.node_argv(lab, "bastion", options=["-N", "-o", "ControlMaster=no"])
    assert argv[-4:] == ["-N", "-o", "ControlMaster=no", "bastion"]
    assert node_ssh.ssh_argv(None, "h", ["true"]) == ["ssh", "h", "--", "true"]


def test_only_nodes_of_the_stack(lab):
    with pytest.raises(ValueError, match="not a node of stack lab"):
        node_ssh.node_argv(lab, "-oProxyCommand=evil", ["true"])


def test_the_config_takes_every_node_the_way_the_model_says(lab):
    text = access.write_ssh_config(lab, ROOT).read_text()
    blocks = {b.split()[0]: b for b in text.split("\nHost ")[1:]}
    for node in lab.nodes:
        path = lab.ssh_path(node)
        jump = f"ProxyJump {path[0]}" if len(path) > 1 else None
        assert (jump in blocks[node.name]) if jump else "ProxyJump" not in blocks[node.name], \
            f"{node.name}: the SSH config does not go {' -> '.join(path)}"


def test_the_verify_session_starts_its_helper_through_the_node_shell(tmp_path, monkeypatch):
    """egov verify's session (node_shell) through the helper, with `sh -c` standing in for
    the node's login shell and a sudo that runs its command as is."""
    import subprocess

    from egov import node_shell

    (tmp_path / "sudo").write_text('#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n')
    (tmp_path / "sudo").chmod(0o755)
    popen, started = subprocess.Popen, []

    def login_shell(argv, **kwargs):
        started.append(argv)
        env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "SUDO_USER": "root"}
        return popen(["sh", "-c", argv[-1]], env=env, **kwargs)

    monkeypatch.setattr(node_shell.subprocess, "Popen", login_shell)
    backend = node_shell.NodeShellBackend("database", ssh_config="cfg")
    try:
        result = backend.run("printf '%s|' \"it's\" $((1+1))")
    finally:
        backend._close()
    assert started[0][:3] == ["ssh", "-F", "cfg"] and started[0][-3:-1] == ["database", "--"]
    assert (result.rc, result.stdout) == (0, "it's|2|")
