"""Drift: each node is still as the last successful converge left it. The converge records
every file a template or copy task wrote (with its checksum) and every long-running unit it
started (egov/lab.py, `managed.json` in the stack's state folder); a file edited or removed
by hand, or a unit stopped, is reported by node and by resource."""

import json
import shlex

import pytest

from egov.lab import baseline_file

pytestmark = pytest.mark.control("SPBE-33-ADMIN-CHANGE", "EGOV-DRIFT")


@pytest.fixture(scope="session")
def baseline(stack) -> dict:
    path = baseline_file(stack)
    if not path.exists():
        pytest.fail(f"no converge baseline ({path}): run `egov converge {stack.name}` first")
    return json.loads(path.read_text())


@pytest.fixture
def managed(baseline, name, stack) -> dict:
    if name not in baseline:
        pytest.fail(f"{name}: no converge baseline for this node: run "
                    f"`egov converge {stack.name} --limit {name}`")
    return baseline[name]


def test_managed_files_are_as_the_last_converge_left_them(host, name, managed, evidence):
    files = managed["files"]
    assert files, f"{name}: the baseline lists no managed file"
    with host.sudo():
        out = host.run("sha1sum -- " + " ".join(shlex.quote(p) for p in sorted(files)))
    seen = {}
    for line in out.stdout.splitlines():
        digest, _, path = line.partition("  ")
        seen[path] = digest
    drift = []
    for path, want in sorted(files.items()):
        got = seen.get(path)
        if got is None:
            drift.append(f"{path}: missing")
        elif got != want:
            drift.append(f"{path}: changed by hand (sha1 {got}, the converge left {want})")
    evidence(f"{len(files) - len(drift)} of {len(files)} managed files unchanged")
    assert not drift, f"{name}: drift in managed files:\n" + "\n".join(drift)


def test_managed_units_are_active(host, name, managed, evidence):
    units = managed["units"]
    if not units:
        pytest.skip(f"{name}: the converge started no long-running unit")
    out = host.run("systemctl is-active -- " + " ".join(shlex.quote(u) for u in units))
    states = dict(zip(units, out.stdout.split(), strict=False))
    stopped = [f"{u}: {states.get(u, 'unknown')}" for u in units
               if states.get(u) not in ("active", "reloading")]
    evidence(f"{len(units) - len(stopped)} of {len(units)} units active: {', '.join(units)}")
    assert not stopped, f"{name}: drift in units (not running):\n" + "\n".join(stopped)
