"""Benchmark: a warm, no-op converge of the running lab (`egov converge lab`), with the
project's Ansible settings against a baseline of the same playbooks with Ansible's default
settings, measured in the same run (target: under 30 s and at least 5x the baseline).

Project settings: Mitogen's strategy (one interpreter per node for the whole run), SSH
pipelining and connection reuse, 10 forks, smart fact gathering (ansible.cfg).
Baseline: Ansible's linear strategy, its default SSH arguments, 5 forks, implicit fact
gathering; pipelining stays on, because without it Ansible cannot hand its temporary files
to an unprivileged user it becomes (postgres) on nodes without setfacl, and the converge
fails. Both must change nothing: the lab must be up (`egov up lab`).

    python bench/converge.py [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from egov_cli import ROOT, egov_command
from rich.console import Console
from rich.table import Table

TARGET_S = 30.0
TARGET_RATIO = 5.0
# Ansible's own defaults for what ansible.cfg and the project's environment change.
BASELINE = {
    "EGOV_ANSIBLE_STRATEGY": "linear",
    "ANSIBLE_SSH_ARGS": "-C -o ControlMaster=auto -o ControlPersist=60s",
    "ANSIBLE_FORKS": "5",
    "ANSIBLE_GATHERING": "implicit",
}


def time_converge(extra_env: dict[str, str]) -> tuple[float, bool]:
    started = time.perf_counter()
    res = subprocess.run([*egov_command(), "converge", "lab"], cwd=ROOT, capture_output=True,
                         text=True, env={**os.environ, "COLUMNS": "200", **extra_env})
    seconds = time.perf_counter() - started
    no_op = res.returncode == 0 and " 0 changed task(s)" in res.stdout
    if not no_op:
        print(res.stdout[-3000:], res.stderr[-3000:], file=sys.stderr)
    return seconds, no_op


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    rows: dict[str, dict] = {}
    for _ in range(args.rounds):
        for name, env in (("baseline (Ansible defaults)", BASELINE), ("project", {})):
            seconds, no_op = time_converge(env)
            row = rows.setdefault(name, {"times": [], "no_op": True})
            row["times"].append(seconds)
            row["no_op"] &= no_op
    base = statistics.median(rows["baseline (Ansible defaults)"]["times"])
    table = Table(title=f"warm no-op converge of the lab, {args.rounds} round(s) each")
    for col in ("settings", "median s", "speed-up", "target", "verdict"):
        table.add_column(col, justify="right")
    failed = False
    result = {}
    for name, row in rows.items():
        median = statistics.median(row["times"])
        ratio = base / median
        is_project = name == "project"
        ok = row["no_op"] and (not is_project or (median < TARGET_S and ratio >= TARGET_RATIO))
        failed |= not ok
        verdict = "ok" if ok else ("changed something" if not row["no_op"] else "too slow")
        table.add_row(name, f"{median:.1f}", f"{ratio:.2f}x",
                      f"< {TARGET_S:.0f} s, >= {TARGET_RATIO:.0f}x" if is_project else "-",
                      f"[{'green' if ok else 'red'}]{verdict}[/]")
        result[name] = {"median_s": round(median, 1), "ratio": round(ratio, 2),
                        "no_op": row["no_op"]}
    Console().print(table)
    print(json.dumps(result))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
