"""Benchmark: how long `egov verify lab` takes against a running lab (target: under 20 s
on a 2-core machine), set against the same checks with no parallelism, in the same run.

Each round runs the real command in a fresh process, as a sysadmin would; the evidence goes
to a temporary folder. The lab must be up (`egov up lab`).

    python bench/verify.py [--rounds 3] [--workers 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from egov_cli import ROOT, egov_command
from rich.console import Console
from rich.table import Table

from egov.lab import VERIFY_WORKERS

TARGET_S = 20.0


def time_verify(workers: int, out: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    res = subprocess.run([*egov_command(), "verify", "lab", "--workers", str(workers),
                          "--report-dir", str(out)], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    report = json.loads((out / "verify-lab-latest.json").read_text())
    if res.returncode != 0:
        print(res.stdout[-3000:], res.stderr[-3000:], file=sys.stderr)
    return seconds, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=VERIFY_WORKERS)
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory(prefix="egov-bench-") as tmp:
        # Alternate the two so that a busy moment of the machine hits both alike.
        for _ in range(args.rounds):
            for workers in (1, args.workers):
                seconds, report = time_verify(workers, Path(tmp))
                row = rows.setdefault(workers, {"times": [], "passed": True, "checks": 0})
                row["times"].append(seconds)
                row["passed"] &= report["passed"]
                row["checks"] = sum(report["totals"].values())
    base = statistics.median(rows[1]["times"])
    table = Table(title=f"egov verify lab, {args.rounds} rounds each (fresh process per round)")
    for col in ("workers", "checks", "best s", "median s", "worst s", "speed-up", "target s",
                "verdict"):
        table.add_column(col, justify="right")
    failed = False
    for workers, row in sorted(rows.items()):
        median = statistics.median(row["times"])
        ok = row["passed"] and (workers == 1 or median < TARGET_S)
        failed |= not ok
        table.add_row(str(workers), str(row["checks"]), f"{min(row['times']):.1f}",
                      f"{median:.1f}", f"{max(row['times']):.1f}", f"{base / median:.2f}x",
                      "-" if workers == 1 else f"{TARGET_S:.0f}",
                      ("[green]ok[/]" if ok else "[red]" + ("failed checks" if not row["passed"]
                                                             else "too slow") + "[/]"))
    Console().print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
