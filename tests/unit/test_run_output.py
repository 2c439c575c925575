"""What a sysadmin sees of a playbook run: a recap per node at the end (the changed tasks
only when asked for), and, where no progress line can be drawn (a log file, a pipe), each
play as it starts and ends.

data/converge-events.jsonl was written by egov_events during a run of two plays on three
local nodes: app1 changes three things, backup two and skips one, gateway fails a check.
Its "managed" events are left out: their checksums read as secrets to the secrets scan."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from egov.ansible_run import RunResult, Watch, recap

EVENTS = Path(__file__).parent / "data" / "converge-events.jsonl"


def _replay(console: Console | None) -> RunResult:
    result = RunResult("site.yml", 2, Path("converge.log"), 7.0)
    with Watch(result, "converge", console) as watch:
        for line in EVENTS.read_text().splitlines():
            watch.take(json.loads(line))
    return result


def _seconds(line: str) -> float:
    return float(line.split()[-2])


def test_the_recap_has_a_line_per_node_with_its_counts_and_time():
    lines = recap(_replay(None))
    assert lines[0].split() == ["node", "ok", "changed", "failed", "time"]
    rows = {line.split()[0]: line.split()[1:4] for line in lines[1:]}
    assert rows == {"app1": ["5", "3", "0"], "backup": ["4", "2", "0"],
                    "gateway": ["3", "2", "1"]}
    # the time its tasks took: app1 slept 1 s and 2 s, gateway skipped the 2 s
    times = {line.split()[0]: _seconds(line) for line in lines[1:]}
    assert times["app1"] >= 3 and times["gateway"] < times["app1"], times
    assert not any("changed:" in line for line in lines), "changed tasks listed unasked"


def test_verbose_lists_each_changed_task_under_its_node():
    lines = recap(_replay(None), verbose=True)
    app1 = lines.index(next(line for line in lines if line.split()[0] == "app1"))
    assert [line.strip() for line in lines[app1 + 1:app1 + 4]] == [
        "changed: Write the node's settings", "changed: Reload the settings",
        "changed: Start the service where flagged"]
    assert sum("changed:" in line for line in lines) == 3 + 2 + 2


def test_a_run_without_a_terminal_prints_each_play_as_it_starts_and_ends():
    out = io.StringIO()
    # narrower than the lines: a log file has no width, they are never wrapped
    _replay(Console(file=out, force_terminal=False, width=30))
    lines = out.getvalue().splitlines()
    assert lines == ["converge: play started: Baseline of every node",
                     "converge: play ended in 10 s: Baseline of every node",
                     "converge: play started: Services of the app nodes",
                     "converge: play ended in 5 s: Services of the app nodes"]


def test_a_run_on_a_terminal_draws_its_progress_line_and_no_play_lines():
    out = io.StringIO()
    _replay(Console(file=out, force_terminal=True, width=200))
    assert "play started" not in out.getvalue()


def test_a_play_cut_short_still_ends(monkeypatch):
    """A run killed before its stats: the play open at the end is ended when the run is."""
    out = io.StringIO()
    result = RunResult("site.yml", -9, Path("converge.log"), 0.0)
    monkeypatch.setattr("time.time", lambda: 1060.0)
    with Watch(result, "converge", Console(file=out, force_terminal=False)) as watch:
        watch.take({"event": "play", "name": "Baseline", "time": 1000.0})
    assert out.getvalue().splitlines()[-1] == "converge: play ended in 60 s: Baseline"


@pytest.mark.parametrize("verbose", [False, True])
def test_egov_converge_prints_the_recap(verbose, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from egov import lab
    from egov.cli import app

    monkeypatch.setenv("EGOV_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(lab, "converge", lambda *a, **k: _replay(None))
    res = CliRunner().invoke(app, ["converge", "lab", *(["--verbose"] if verbose else [])])
    assert res.exit_code == 0, res.output
    assert "converge: 7 changed task(s) in 7 s, strategy linear (log: " in res.output
    assert "gateway" in res.output and "ok" in res.output
    assert ("changed: Reload the settings" in res.output) is verbose, res.output


def test_a_failed_converge_prints_the_recap_before_the_error(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from egov import lab
    from egov.cli import app

    def failing(*args, **kwargs):
        run = _replay(None)
        raise lab.LabError("converge failed (log: converge.log)", run=run)

    monkeypatch.setenv("EGOV_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(lab, "converge", failing)
    res = CliRunner().invoke(app, ["converge", "lab"])
    assert res.exit_code == 1, res.output
    gateway = next(line.split() for line in res.output.splitlines()
                   if line.split()[:1] == ["gateway"])
    assert gateway[1:4] == ["3", "2", "1"], res.output
    assert res.output.index("gateway") < res.output.index("converge failed"), res.output
