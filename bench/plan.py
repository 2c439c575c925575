"""Benchmark: how long `egov plan <stack>` takes (target: under 3 s for prod).

Each round runs the real command in a fresh Python process, as a sysadmin or auditor
would, so imports and the Pulumi mock runtime's start-up are counted.

    python bench/plan.py [--rounds 5] [stack ...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from egov_cli import ROOT, egov_command
from rich.console import Console
from rich.table import Table

TARGET_S = {"prod": 3.0}


def time_plan(stack: str, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run([*egov_command(), "plan", stack, "--out", str(out)],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stacks", nargs="*", default=["lab", "staging", "prod"])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    table = Table(title=f"egov plan, {args.rounds} rounds each (fresh process per round)")
    for col in ("stack", "best s", "median s", "worst s", "target s", "verdict"):
        table.add_column(col, justify="right" if col != "stack" else "left")
    failed = False
    with tempfile.TemporaryDirectory(prefix="egov-bench-") as tmp:
        for stack in args.stacks:
            times = [time_plan(stack, Path(tmp)) for _ in range(args.rounds)]
            target = TARGET_S.get(stack)
            ok = target is None or statistics.median(times) < target
            failed |= not ok
            table.add_row(stack, f"{min(times):.2f}", f"{statistics.median(times):.2f}",
                          f"{max(times):.2f}", f"{target:.1f}" if target else "-",
                          "[green]ok[/]" if ok else "[red]too slow[/]")
    Console().print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
