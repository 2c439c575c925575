"""The local Docker engine: make sure one answers, without disturbing one that does."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from egov.i18n import _

DOCKERD_LOG = "/var/log/egov-dockerd.log"


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                          capture_output=True, timeout=30).returncode == 0


# Every node runs its own systemd, and each takes several inotify instances of the host's
# per-user budget (128 by default): past a handful of nodes, boots stall half-way.
HOST_LIMITS = {
    "/proc/sys/fs/inotify/max_user_instances": 8192,
    "/proc/sys/fs/inotify/max_user_watches": 524288,
}


def ensure_host_limits(log=print) -> None:
    """Raise the host's inotify limits where they are below what the nodes need."""
    for path, want in HOST_LIMITS.items():
        try:
            with open(path) as fh:
                have = int(fh.read().strip())
            if have < want:
                with open(path, "w") as fh:
                    fh.write(str(want))
                log(_("raised {setting} from {have} to {want}").format(
                    setting=path.removeprefix("/proc/sys/").replace("/", "."), have=have,
                    want=want))
        except OSError as exc:
            log(_("cannot raise {path} ({error}); nodes may stall at boot").format(
                path=path, error=exc))


def _systemd_is_init() -> bool:
    return os.path.isdir("/run/systemd/system")


def ensure_engine(log=print, wait_s: float = 60) -> str:
    """Return how the engine was found: 'running', or 'started' after installing/starting it.

    An engine that already answers is never restarted. Otherwise Debian's docker.io is
    installed if dockerd is missing, then started through systemd where systemd is init,
    or as a background daemon where it is not (as in CI containers)."""
    ensure_host_limits(log=log)
    if engine_answers():
        return "running"
    if shutil.which("dockerd") is None:
        log(_("installing Debian's docker.io"))
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "docker.io"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        if engine_answers():
            return "started"
    log(_("starting dockerd"))
    if _systemd_is_init():
        subprocess.run(["systemctl", "start", "docker"], check=True)
    else:
        with open(DOCKERD_LOG, "ab") as out:
            subprocess.Popen(["dockerd"], stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                             start_new_session=True)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if engine_answers():
            return "started"
        time.sleep(0.5)
    raise RuntimeError(_("dockerd did not answer within {seconds:.0f} s; see {log}").format(
        seconds=wait_s, log=DOCKERD_LOG))
