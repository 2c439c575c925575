"""Benchmark: the lab's cold bring-up, a warm no-op converge, `egov verify lab` and
onboarding one more service into the running lab, each set against a baseline measured in
the same run; and the warm no-op converge on each of egov's Ansible strategies. Targets on
this 2-core machine: cold bring-up under 6 minutes and 3x faster than the baseline, warm
converge under 30 s and 5x faster, verify under 20 s; Ansible's own strategy within 2.5x
of Mitogen's.

Project: egov as it runs (Mitogen's strategy where the version guard allows it, SSH
pipelining and connection reuse, 10 forks, smart fact gathering, only the collections the
roles use; a node image with the packages of every node baked in, and a role image on it
with the packages of a node's roles; verify over one SSH session per node, 3 workers).
Strategies: the project's warm no-op converge on Ansible's own linear strategy and on
Mitogen's, one after the other.
Baseline: the same egov commands and playbooks with Ansible's default settings (linear
strategy, its default SSH arguments, 5 forks, implicit fact gathering, facts copied into
every host's variables and gathered again by every run, vars plugins run for every task,
every bundled collection scanned) and a node image with no package baked in, so every role
installs its packages at converge time (EGOV_NODE_PACKAGES=converge). Pipelining stays on:
without it Ansible cannot become postgres on nodes without setfacl, and the converge
fails. For verify, the baselines are one check after another, and testinfra's own ssh
backend (an SSH session per command) one after another.

Cold means: base image present, no node (the issue's definition: the node and role images
are present, as every bring-up after the first finds them). "Images built" also removes
the node and role images first, so that provision builds them. The lab is taken down with
its volumes before each cold bring-up and at the end; onboarding runs from a throwaway copy
of the project. Takes about 50 minutes.

    python bench/lab.py [--out bench-lab.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from egov_cli import ROOT, egov_command
from rich.console import Console
from rich.table import Table

from egov import images
from egov.ansible_run import MITOGEN, STOCK
from egov.lab import VERIFY_WORKERS
from egov.model import load_stack
from egov.paths import state_dir

ANSIBLE_DEFAULTS = {
    "EGOV_ANSIBLE_STRATEGY": "linear",
    "ANSIBLE_SSH_ARGS": "-C -o ControlMaster=auto -o ControlPersist=60s",
    "ANSIBLE_FORKS": "5",
    "ANSIBLE_GATHERING": "implicit",
    "ANSIBLE_INJECT_FACT_VARS": "True",
    "ANSIBLE_RUN_VARS_PLUGINS": "demand",
    "ANSIBLE_CACHE_PLUGIN": "memory",
    "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "True",
    "ANSIBLE_COLLECTIONS_PATH": "~/.ansible/collections:/usr/share/ansible/collections",
    # not the project's resolved machine vars
    "EGOV_MACHINE_VARS": "inventory",
}
BASELINE = {**ANSIBLE_DEFAULTS, images.PACKAGES_ENV: "converge"}
PROJECT: dict[str, str] = {}
# The strategies' row: "baseline" is Ansible's own strategy, "project" Mitogen's, both with
# the project's settings otherwise.
BY_STRATEGY = "warm no-op converge, linear vs Mitogen"
STRATEGIES = {"baseline": {"EGOV_ANSIBLE_STRATEGY": STOCK},
              "project": {"EGOV_ANSIBLE_STRATEGY": MITOGEN}}
TARGETS = {"cold bring-up": (360.0, 3.0), "cold bring-up, images built": (360.0, None),
           "warm no-op converge": (30.0, 5.0), BY_STRATEGY: (None, None),
           "egov verify lab": (20.0, None), "onboarding a service": (None, None)}
# Ansible's own strategy's warm converge, at most this many times Mitogen's (issue 28).
STOCK_WITHIN = 2.5
# Copied for onboarding from a throwaway tree (as tests/integration/test_onboarding_lab.py).
COPIED = ("Pulumi.yaml", "ansible.cfg", "site.yml", "provision.yml", "teardown.yml", "roles",
          "plugins", "templates", "stacks", "inventory", "apps", "tests", "infra")


def egov(*args: str, env: dict[str, str], root: Path = ROOT) -> tuple[float, str]:
    started = time.perf_counter()
    res = subprocess.run([*egov_command(), *args], cwd=root, capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "200", "EGOV_ROOT": str(root), **env})
    seconds = time.perf_counter() - started
    if res.returncode != 0:
        sys.exit(f"egov {' '.join(args)} failed ({res.returncode}):\n{res.stdout[-4000:]}\n"
                 f"{res.stderr[-4000:]}")
    return seconds, res.stdout


def last_up() -> dict:
    return json.loads((state_dir("lab") / "last-up.json").read_text())


def node_image_tags(env: dict[str, str]) -> list[str]:
    """The lab's node and role images as `env` builds them."""
    baked = env.get(images.PACKAGES_ENV) != "converge"
    return [i.tag for i in images.stack_builds(load_stack(ROOT, "lab"), ROOT, baked)]


def cold(env: dict[str, str], with_images: bool) -> dict:
    """`egov up lab` with no node; with_images: no node image either (built by provision)."""
    egov("down", "lab", "--purge", env=env)
    if with_images:
        subprocess.run(["docker", "image", "rm", *reversed(node_image_tags(env))],
                       capture_output=True)
    seconds, _ = egov("up", "lab", env=env)
    steps = last_up()["steps"]
    part = {k.split(" ")[0]: v for k, v in steps.items()}
    return {"seconds": seconds, "provision": part.get("provision"),
            "converge": part.get("converge"), "verify": part.get("verify")}


def warm(env: dict[str, str]) -> dict:
    seconds, out = egov("converge", "lab", env=env)
    if " 0 changed task(s)" not in out:
        sys.exit(f"the warm converge changed something:\n{out[-3000:]}")
    return {"seconds": seconds}


def verify(env: dict[str, str], workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="egov-bench-") as tmp:
        seconds, _ = egov("verify", "lab", "--workers", str(workers), "--report-dir", tmp,
                          env=env)
    return {"seconds": seconds}


def onboard(env: dict[str, str], name: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="egov-bench-") as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        for item in COPIED:
            src = ROOT / item
            if src.is_dir():
                shutil.copytree(src, root / item, ignore=shutil.ignore_patterns("__pycache__"))
            elif src.exists():
                shutil.copy2(src, root / item)
        started = time.perf_counter()
        egov("service", "new", name, "--relation", "G2C", "--title", f"Benchmark {name}",
             "--agency", "Diskominfo Kota Bengkulu", env=env, root=root)
        egov("up", "lab", env=env, root=root)
        return {"seconds": time.perf_counter() - started}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    started = time.perf_counter()
    rows: dict[str, dict[str, dict]] = {}
    # The baseline first, then the project; verify before the project's onboarding adds a
    # service that the project's own stack file does not have.
    for label, env in (("baseline", BASELINE), ("project", PROJECT)):
        rows.setdefault("cold bring-up, images built", {})[label] = cold(env, True)
        rows.setdefault("cold bring-up", {})[label] = cold(env, False)
        rows.setdefault("warm no-op converge", {})[label] = warm(env)
        if label == "project":
            rows[BY_STRATEGY] = {side: warm(env) for side, env in STRATEGIES.items()}
            rows["egov verify lab"] = {
                "baseline": verify({"EGOV_VERIFY_BACKEND": "ssh"}, 1),
                "one at a time": verify(PROJECT, 1),
                "project": verify(PROJECT, VERIFY_WORKERS)}
        rows.setdefault("onboarding a service", {})[label] = onboard(env, f"bench{label[:4]}")
    egov("down", "lab", "--purge", env=PROJECT)

    table = Table(title="egov lab benchmark (one machine, one run; seconds)")
    for col in ("measure", "baseline", "project", "speed-up", "target", "verdict", "detail"):
        table.add_column(col, justify="right" if col not in ("measure", "detail") else "left")
    failed = False
    for measure, by in rows.items():
        base, proj = by["baseline"]["seconds"], by["project"]["seconds"]
        limit, ratio = TARGETS[measure]
        ok = (limit is None or proj < limit) and (ratio is None or base / proj >= ratio)
        if measure == BY_STRATEGY:
            ok = base / proj <= STOCK_WITHIN
        failed |= not ok
        target = " and ".join(t for t in (f"< {limit:.0f} s" if limit else "",
                                           f">= {ratio:.0f}x" if ratio else "") if t) or "-"
        detail = ""
        if measure == BY_STRATEGY:
            target = f"<= {STOCK_WITHIN}x"
            detail = "baseline: Ansible's linear strategy; project: Mitogen's"
        if measure.startswith("cold bring-up"):
            detail = "; ".join(f"{k}: {by['baseline'][k]:.0f} -> {by['project'][k]:.0f}"
                               for k in ("provision", "converge", "verify"))
        elif measure == "egov verify lab":
            detail = (f"baseline: testinfra's ssh backend, one at a time; project's backend "
                      f"one at a time: {by['one at a time']['seconds']:.1f} s")
        table.add_row(measure, f"{base:.1f}", f"{proj:.1f}", f"{base / proj:.2f}x", target,
                      "[green]ok[/]" if ok else "[red]missed[/]", detail)
    Console().print(table)
    print(f"total {time.perf_counter() - started:.0f} s; the lab is down (egov up lab brings "
          "it back)")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
