"""Taking the lab down: only the stack's labelled objects go; volumes (the stack's data)
stay unless purged. Destructive: runs after every other test."""

from __future__ import annotations

import subprocess

import pytest

from egov.lab import labelled
from egov.model import LABEL_STACK

from .conftest import egov

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

UNRELATED = "egov-test-unrelated"


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


@pytest.fixture
def unrelated(lab):
    """A container and a network nobody labelled, the way another team's would be."""
    image = lab.stack and _docker("inspect", "--format", "{{.Config.Image}}",
                                  lab.stack.container_name("bastion")).stdout.strip()
    _docker("rm", "-f", UNRELATED, check=False)
    _docker("network", "rm", UNRELATED, check=False)
    _docker("network", "create", UNRELATED)
    _docker("run", "-d", "--name", UNRELATED, "--network", UNRELATED, "--entrypoint",
            "sleep", image, "3600")
    yield UNRELATED
    _docker("rm", "-f", UNRELATED, check=False)
    _docker("network", "rm", UNRELATED, check=False)


def test_data_survives_down_and_up_and_purge_removes_it(lab, unrelated):
    marker = "survives-down-" + lab.stack.name
    res = lab.ssh("database", f"echo {marker} | sudo tee /var/lib/postgresql/egov-marker")
    assert res.returncode == 0, res.stderr

    res = egov("down", "lab")
    assert res.returncode == 0, res.stderr[-3000:]
    assert labelled("container", "lab") == [], "containers of the stack are left"
    assert labelled("network", "lab") == [], "networks of the stack are left"
    assert labelled("volume", "lab") != [], "volumes must stay without --purge"
    state = _docker("inspect", "--format", "{{.State.Running}}", unrelated).stdout.strip()
    assert state == "true", "the unrelated container did not survive egov down"
    assert _docker("network", "inspect", unrelated, check=False).returncode == 0, \
        "the unrelated network did not survive egov down"

    # The nodes and their access come back; their data is the volumes' (no converge needed).
    res = egov("up", "lab", "--no-converge")
    assert res.returncode == 0, res.stderr[-3000:]
    res = lab.ssh("database", "sudo cat /var/lib/postgresql/egov-marker")
    assert res.stdout.strip() == marker, f"database data lost across down/up: {res.stderr}"

    res = egov("down", "lab", "--purge")
    assert res.returncode == 0, res.stderr[-3000:]
    for kind in ("container", "network", "volume"):
        assert labelled(kind, "lab") == [], f"{kind}s of the stack are left after --purge"
    out = _docker("ps", "-a", "--filter", f"label={LABEL_STACK}=lab", "-q").stdout
    assert out.strip() == ""
    assert _docker("inspect", "--format", "{{.State.Running}}", unrelated).stdout.strip() == "true"
