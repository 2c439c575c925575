"""The helper `egov verify` starts on each node (egov/node_shell.py sends this file's source
through SSH and `sudo -n`): it reads one JSON request per line, {"cmd", "user", "timeout"},
runs the command as that user and answers [rc, base64 stdout, base64 stderr].

A command runs as /bin/sh would run it. A plain one (words, single quotes, no shell syntax,
an executable found in PATH) is started directly, as sh would start it after splitting its
words: this saves a shell per command, about half the cost of a cheap check on a node.
Anything else goes to /bin/sh -c.

Only the Python standard library of Debian's python3 is used: nothing is installed for it.
"""

import base64
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys

USER_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/games"
ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# dash's builtins and reserved words: /bin/sh runs these itself, and some differ from the
# program of the same name (echo -e), so they always go through the shell. (`!`, `{`, `}`
# and `[` never get this far: SHELL_SYNTAX refuses them.)
SHELL_WORDS = frozenset(
    "alias bg break cd chdir command continue echo eval exec exit export false fc fg getopts "
    "hash jobs kill local printf pwd read readonly return set shift test times trap true type "
    "ulimit umask unalias unset wait if then else elif fi case esac for while until do done "
    "in . :".split())
# Outside single quotes, any of these makes a command more than words for the shell.
SHELL_SYNTAX = frozenset("$`\\\"|&;<>()*?[]~{}#!\n=")


def plain_words(cmd):
    """The words sh would split `cmd` into, when it is only words and single quotes;
    None when it uses any other shell syntax."""
    words, word, in_word, i = [], [], False, 0
    while i < len(cmd):
        c = cmd[i]
        if c == "'":
            end = cmd.find("'", i + 1)
            if end < 0:
                return None
            word.append(cmd[i + 1:end])
            in_word, i = True, end + 1
            continue
        if c in " \t":
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
        elif c in SHELL_SYNTAX and not (c == "=" and words):
            # `=` is only syntax in the first word (an assignment); `--opt=value` is a word.
            return None
        else:
            word.append(c)
            in_word = True
        i += 1
    if in_word:
        words.append("".join(word))
    return words or None


def direct_argv(cmd, path):
    """[program, argv...] to start `cmd` without a shell (argv[0] as typed, as sh passes
    it), or None when only /bin/sh can run it."""
    words = plain_words(cmd)
    if not words or words[0] in SHELL_WORDS:
        return None
    program = words[0]
    if "/" in program:
        found = program if os.path.isfile(program) and os.access(program, os.X_OK) else None
    else:
        found = shutil.which(program, path=path)
    if found is None:
        return None  # sh says "not found" (127) in its own words
    return [found, *words]


def read_locale():
    lang = {}
    try:
        with open("/etc/default/locale") as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k.startswith(("LANG", "LC_")) and v:
                    lang[k] = v.strip('"')
    except OSError:
        pass
    return lang


LANG = read_locale()


def env_of(pw):
    return dict(LANG, HOME=pw.pw_dir, USER=pw.pw_name, LOGNAME=pw.pw_name, SHELL=pw.pw_shell,
                PATH=ROOT_PATH if pw.pw_uid == 0 else USER_PATH)


def ids_of(pw):
    return {"user": pw.pw_uid, "group": pw.pw_gid,
            "extra_groups": os.getgrouplist(pw.pw_name, pw.pw_gid)}


def run(cmd, pw, timeout, login):
    """Run `cmd` as `pw` (this process's own user, or with the ids changed in the child,
    a slower start) in its home, with the environment SSH or sudo would give it."""
    ids = {} if pw.pw_uid == os.getuid() else ids_of(pw)
    home = login.pw_dir if pw.pw_uid in (login.pw_uid, 0) else pw.pw_dir
    cwd = home if os.path.isdir(home) else "/"
    env = env_of(pw)
    # Started directly only as this process's own user, whose rights `direct_argv` checks.
    direct = None if ids else direct_argv(cmd, env["PATH"])
    if direct is None:
        program, argv = "/bin/sh", ["/bin/sh", "-c", cmd]
    else:
        program, *argv = direct
        env["PWD"] = cwd  # as sh exports it
    try:
        p = subprocess.run(argv, executable=program, stdin=subprocess.DEVNULL,
                           capture_output=True, env=env, timeout=timeout, cwd=cwd, **ids)
        res = [p.returncode, p.stdout, p.stderr]
        if p.returncode < 0:
            # As sh reports a program killed by signal N: status 128 + N, and the signal's
            # name on stderr unless it is SIGINT or SIGPIPE.
            sig = -p.returncode
            said = b"" if sig in (signal.SIGINT, signal.SIGPIPE) else \
                (signal.strsignal(sig) or f"Signal {sig}").encode() + b"\n"
            res = [128 + sig, p.stdout, p.stderr + said]
    except subprocess.TimeoutExpired as e:
        res = [124, e.stdout or b"", (e.stderr or b"") + b"timed out"]
    except OSError as e:
        res = [126, b"", str(e).encode()]
    return [res[0], base64.b64encode(res[1]).decode(), base64.b64encode(res[2]).decode()]


def answer(req, login):
    try:
        return run(req["cmd"], pwd.getpwnam(req["user"] or login.pw_name), req["timeout"],
                   login)
    except KeyError as e:
        return [126, "", base64.b64encode(str(e).encode()).decode()]


def fork_login_copy(login):
    """Root's helper hands the login user's commands to a forked copy of itself that runs as
    that user (no second interpreter to start); returns the pipes to it."""
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    if os.fork() == 0:
        os.close(to_child_w)
        os.close(from_child_r)
        ids = ids_of(login)
        os.setgroups(ids["extra_groups"])
        os.setgid(ids["group"])
        os.setuid(ids["user"])
        serve(os.fdopen(to_child_r), os.fdopen(from_child_w, "w"), login, None)
        os._exit(0)
    os.close(to_child_r)
    os.close(from_child_w)
    return os.fdopen(to_child_w, "w"), os.fdopen(from_child_r)


def serve(requests, answers, login, child):
    for line in requests:
        req = json.loads(line)
        if child is not None and (req["user"] or login.pw_name) == login.pw_name:
            child[0].write(line)
            child[0].flush()
            answers.write(child[1].readline())
        else:
            answers.write(json.dumps(answer(req, login)) + "\n")
        answers.flush()


def main():
    login = pwd.getpwnam(os.environ.get("SUDO_USER") or pwd.getpwuid(os.getuid()).pw_name)
    # Forked before the first request is read, so no input is buffered in both processes.
    child = fork_login_copy(login) if os.getuid() == 0 and login.pw_uid != 0 else None
    serve(sys.stdin, sys.stdout, login, child)


if __name__ == "__main__":
    main()
