"""The egov_linear strategy runs every task on threads of the controller instead of forked
workers, decides there the tasks a node skips and runs at once the actions that never
reach a node: the run gives every node the same results as Mitogen's own strategy, which
forks a worker for each task on each node, and forks none."""

from __future__ import annotations

import itertools
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
    # handler.
    assert (our_forks, mitogen_forks) == (0, 32)


SPANS = """\
- name: Tasks on three nodes at once, and one node at a time
  hosts: nodes
  gather_facts: false
  tasks:
    # Mitogen starts the nodes' interpreters one at a time: started first, they cannot
    # stagger the spans below.
    - name: Start each node's interpreter
      ansible.builtin.ping:
    - name: At once
      ansible.builtin.command: "{{ span }} together-{{ inventory_hostname }}"
    - name: One node at a time
      ansible.builtin.command: "{{ span }} alone-{{ inventory_hostname }}"
      throttle: 1
  vars:
    span: >-
      python3 -c "import sys, time; a = time.time(); time.sleep(1);
      open(sys.argv[1], 'w').write(f'{a} {time.time()}')"
"""


def _overlaps(work: Path, kind: str) -> int:
    spans = sorted(tuple(map(float, p.read_text().split())) for p in work.glob(f"{kind}-n*"))
    assert len(spans) == 3
    return sum(1 for (_, end), (start, _) in itertools.pairwise(spans) if start < end)


def test_tasks_run_on_several_nodes_at_once_and_throttle_holds(tmp_path):
    """The threads run a task on every node at once (forks allowing), and a task's
    `throttle` limits how many nodes run it at a time, as with forked workers."""
    work = tmp_path / "spans"
    work.mkdir()
    # Mitogen runs one call at a time in an interpreter, and local nodes with the same
    # interpreter share one: each node gets its own path to it.
    for number in (1, 2, 3):
        (work / f"python{number}").symlink_to(sys.executable)
    (work / "inventory.ini").write_text(
        "[nodes]\n" + "".join(f"n{n} ansible_python_interpreter={work}/python{n}\n"
                               for n in (1, 2, 3))
        + "[nodes:vars]\nansible_connection=local\n")
    (work / "site.yml").write_text(SPANS)
    env = ansible_env(ROOT, {"EGOV_EVENTS_FILE": str(work / "events.jsonl"),
                             **strategy_settings("egov_linear")})
    run = subprocess.run([sys.executable, "-m", "ansible", "playbook", "-i", "inventory.ini",
                          "site.yml"], cwd=work, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert _overlaps(work, "together") >= 1
    assert _overlaps(work, "alone") == 0


FIRST_LOADS = """\
import sys, threading
from ansible.plugins.loader import init_plugin_loader, lookup_loader
init_plugin_loader()
sys.path.insert(0, sys.argv[1])
import egov_linear  # noqa: F401
errors = []
for name in ("ansible.builtin.url", "ansible.builtin.file", "ansible.builtin.password"):
    barrier = threading.Barrier(8)
    def load(name=name, barrier=barrier):
        barrier.wait()
        try:
            assert lookup_loader.get(name) is not None, f"{name}: not found"
        except Exception as e:
            errors.append(f"{name}: {e!r}")
    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
print(errors)
"""


def test_a_plugin_first_asked_for_by_several_threads_at_once_loads_whole():
    """Ansible puts a plugin's module in sys.modules before running its code; without the
    strategy's lock a second thread got it half made ("has no attribute 'LookupModule'"),
    which failed a lookup on some nodes of a cold bring-up."""
    run = subprocess.run([sys.executable, "-c", FIRST_LOADS, str(ROOT / "plugins" / "strategy")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == "[]"
