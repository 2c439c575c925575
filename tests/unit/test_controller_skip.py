"""The egov_linear strategy decides in the controller the tasks a node skips and runs there
the actions that never reach a node: the run gives every node the same results as
Mitogen's own strategy, and forks a worker only for what runs on a node."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from egov.ansible_run import ansible_env, strategy_settings

ROOT = Path(__file__).resolve().parents[2]

PLAYBOOK = """\
- name: Tasks that some nodes skip
  hosts: nodes
  gather_facts: false
  tasks:
    - name: Only where flagged
      ansible.builtin.command: echo hi
      when: flag | bool
      register: echoed
      changed_when: true
      notify: Said hi
    - name: Nowhere
      ansible.builtin.command: echo never
      when: false
      no_log: true
      register: never
    - name: A loop decides per item, in the worker
      ansible.builtin.debug: {msg: "{{ item }}"}
      loop: [1, 2]
      when: item > 1
    - name: Many items, each called back through the results queue before the result
      ansible.builtin.assert:
        that: item >= 0
        quiet: true
      loop: "{{ range(60) | list }}"
    - name: Set a fact in the controller
      ansible.builtin.set_fact:
        greeting: "hello {{ inventory_hostname }}"
    - name: See the registered results and the fact as a worker gives them
      ansible.builtin.assert:
        that:
          - never is skipped
          - never.false_condition == false
          - (echoed is skipped) != (flag | bool)
          - greeting == 'hello ' ~ inventory_hostname
    - name: A failing check fails its node only
      ansible.builtin.assert:
        that: not (flag | bool)
        fail_msg: "flagged: {{ inventory_hostname }}"
      ignore_errors: true
    - name: A secret stays out of the output
      ansible.builtin.debug: {msg: "secret {{ inventory_hostname }}"}
      no_log: true
    - name: A condition on an undefined variable is the worker's error
      ansible.builtin.debug: {msg: x}
      when: not_defined_anywhere
      ignore_errors: true
    - name: Include only where flagged
      ansible.builtin.include_tasks: included.yml
      when: flag | bool
  handlers:
    - name: Said hi
      ansible.builtin.debug: {msg: handler}
"""

# ansible-playbook in this process, counting the workers the controller forks.
COUNTING_RUNNER = """\
import atexit, os, sys
from ansible.executor.process import worker
out, parent, forks = sys.argv[1], os.getpid(), []
start = worker.WorkerProcess.start
def counted(self):
    forks.append(1)
    return start(self)
worker.WorkerProcess.start = counted
atexit.register(lambda: os.getpid() == parent and open(out, "w").write(str(len(forks))))
sys.argv = ["ansible-playbook", *sys.argv[2:]]
from ansible.cli.playbook import main
main()
"""


def _run(tmp_path: Path, strategy: str) -> tuple[list[dict], int, str]:
    work = tmp_path / strategy
    work.mkdir()
    (work / "inventory.ini").write_text(textwrap.dedent(f"""\
        [nodes]
        n1 flag=true
        n2 flag=false
        n3 flag=false
        [nodes:vars]
        ansible_connection=local
        ansible_python_interpreter={sys.executable}
        """))
    (work / "site.yml").write_text(PLAYBOOK)
    (work / "included.yml").write_text(
        "- name: Inside the include\n  ansible.builtin.debug: {msg: inside}\n")
    (work / "runner.py").write_text(COUNTING_RUNNER)
    events, forks = work / "events.jsonl", work / "forks"
    env = ansible_env(ROOT, {"EGOV_EVENTS_FILE": str(events),
                             **strategy_settings(strategy)})
    run = subprocess.run([sys.executable, str(work / "runner.py"), str(forks),
                          "-i", str(work / "inventory.ini"), str(work / "site.yml")],
                         cwd=work, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = [{k: ev[k] for k in ("status", "host", "task", "msg")}
               for ev in map(json.loads, events.read_text().splitlines())
               if ev["event"] == "result"]
    return sorted(results, key=json.dumps), int(forks.read_text()), run.stdout


def test_the_controller_decides_and_runs_what_never_reaches_a_node(tmp_path):
    ours, our_forks, our_log = _run(tmp_path, "egov_linear")
    mitogen, mitogen_forks, _ = _run(tmp_path, "mitogen_linear")
    assert ours == mitogen
    skipped = {(r["host"], r["task"]) for r in ours if r["status"] == "skipped"}
    assert ("n2", "Nowhere") in skipped and ("n1", "Only where flagged") not in skipped
    assert {(r["host"], r["status"]) for r in ours if r["task"].startswith("A failing")} == {
        ("n1", "ignored"), ("n2", "ok"), ("n3", "ok")}
    assert {r["status"] for r in ours if r["task"].startswith("A condition on")} == {"ignored"}
    assert "secret n" not in our_log
    # Mitogen's strategy forks for each of 10 tasks on 3 nodes, the included task and the
    # handler; only the command and the include on n1 reach a node.
    assert (our_forks, mitogen_forks) == (2, 32)
