"""The node helper of `egov verify` (egov/node_helper.py) runs a command as /bin/sh would:
a plain command started directly gives exactly what the shell gives, anything else goes
to the shell, and the login user's commands run in a copy of the helper with that user's
ids."""

from __future__ import annotations

import base64
import json
import os
import pwd
import subprocess
import sys

import pytest

from egov import node_helper, node_shell

ME = pwd.getpwuid(os.getuid())


@pytest.mark.parametrize(("cmd", "words"), [
    ("stat -c %U /etc/passwd", ["stat", "-c", "%U", "/etc/passwd"]),
    ("test -e '/a b'", ["test", "-e", "/a b"]),
    ("a''b  'c'\t d", ["ab", "c", "d"]),
    ("cmd ''", ["cmd", ""]),
    ("ss --numeric --listening --tcp", ["ss", "--numeric", "--listening", "--tcp"]),
    ("sysctl -n net.ipv4.conf.all.rp_filter=1", ["sysctl", "-n", "net.ipv4.conf.all.rp_filter=1"]),
    ("grep -c 'it'\"'\"'s' f", None),
    ("echo $HOME", None),
    ("ls | wc -l", None),
    ("a && b", None),
    ("a; b", None),
    ("a > f", None),
    ("FOO=1 env", None),
    ("ls *", None),
    ("cat ~/x", None),
    ("a # comment", None),
    ("echo `id`", None),
    ("a\nb", None),
    ("'unterminated", None),
    ("a\\ b", None),
    ("", None),
    ("   ", None),
])
def test_plain_words_split_as_sh_or_refuse(cmd, words):
    assert node_helper.plain_words(cmd) == words


def test_builtins_and_unknown_programs_go_to_the_shell():
    path = node_helper.ROOT_PATH
    for cmd in ("echo -e 'a\\tb'", "test -e /", "cd /", "printf %s x", "true", "[ -e / ]",
                "no-such-program-here x"):
        assert node_helper.direct_argv(cmd, path) is None, cmd
    program, *argv = node_helper.direct_argv("ls -d /", path)
    assert os.path.isabs(program) and argv == ["ls", "-d", "/"]
    assert node_helper.direct_argv("/bin/ls /", path) == ["/bin/ls", "/bin/ls", "/"]


def _through_sh(cmd: str) -> tuple[int, bytes, bytes]:
    env = node_helper.env_of(ME)
    cwd = ME.pw_dir if os.path.isdir(ME.pw_dir) else "/"
    p = subprocess.run(["/bin/sh", "-c", cmd], stdin=subprocess.DEVNULL, capture_output=True,
                       env=env, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def _through_helper(cmd: str) -> tuple[int, bytes, bytes]:
    rc, out, err = node_helper.run(cmd, ME, 30, ME)
    return rc, base64.b64decode(out), base64.b64decode(err)


@pytest.mark.parametrize("cmd", [
    "stat -c %U:%G:%a /etc/passwd",
    "stat -c %a /no/such/file",
    "ls -d / /no/such/dir",
    "id -un",
    "cat -- /etc/hostname",
    "printf '%s|' a 'b c'",
    "false",
    "no-such-program-here",
    "/bin/sh -c 'kill -9 $$'",
    "/bin/sh -c 'kill -TERM $$'",
    "/bin/sh -c 'kill -PIPE $$'",
    "sh -c 'exit 3'",
    "echo $HOME; pwd",
    "ls /no/such/dir 2>&1 | wc -l",
])
def test_a_command_gives_what_sh_gives(cmd):
    assert _through_helper(cmd) == _through_sh(cmd)


def test_the_environment_is_what_sh_gives():
    # The one difference: sh lists its environment in its own order.
    got, want = _through_helper("env"), _through_sh("env")
    assert (got[0], sorted(got[1].splitlines()), got[2]) == \
        (want[0], sorted(want[1].splitlines()), want[2])


def test_plain_commands_start_without_a_shell(monkeypatch):
    started = []
    real = subprocess.run

    def spy(argv, *args, **kwargs):
        started.append((kwargs["executable"], argv))
        return real(argv, *args, **kwargs)

    monkeypatch.setattr(node_helper.subprocess, "run", spy)
    node_helper.run("stat -c %U /etc/passwd", ME, 30, ME)
    node_helper.run("echo a | cat", ME, 30, ME)
    program, argv = started[0]
    assert program.endswith("/stat") and argv == ["stat", "-c", "%U", "/etc/passwd"]
    assert started[1] == ("/bin/sh", ["/bin/sh", "-c", "echo a | cat"])


def test_a_command_that_runs_too_long_is_stopped():
    res = node_helper.run("sleep 5", ME, 0.2, ME)
    assert res[0] == 124 and base64.b64decode(res[2]).endswith(b"timed out")


def _ask(proc, cmd: str, user: str) -> tuple[int, str, str]:
    proc.stdin.write(json.dumps({"cmd": cmd, "user": user, "timeout": 30}) + "\n")
    proc.stdin.flush()
    rc, out, err = json.loads(proc.stdout.readline())
    return rc, base64.b64decode(out).decode(), base64.b64decode(err).decode()


@pytest.mark.skipif(os.getuid() != 0, reason="the helper changes users only as root")
def test_root_helper_runs_the_login_users_commands_with_that_users_ids():
    login = pwd.getpwnam("nobody")
    env = dict(os.environ, SUDO_USER=login.pw_name,
               EGOV_SHELL_HELPER_CODE=node_shell.HELPER)
    proc = subprocess.Popen([sys.executable, "-u", "-c", node_shell.BOOTSTRAP], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert _ask(proc, "id -un", "")[1] == "nobody\n"
        groups = {int(g) for g in _ask(proc, "id -G", "")[1].split()}
        assert groups == set(os.getgrouplist(login.pw_name, login.pw_gid))
        assert _ask(proc, "id -un", "root")[1] == "root\n"
        assert _ask(proc, "echo $HOME $USER $PATH", "")[1] == \
            f"{login.pw_dir} nobody {node_helper.USER_PATH}\n"
        assert _ask(proc, "cat /etc/shadow", "")[0] != 0, "the login user's copy is not root"
        assert _ask(proc, "id -un", "no-such-user-here")[0] == 126
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0
