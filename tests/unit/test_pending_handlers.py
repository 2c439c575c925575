"""Handlers a killed run left pending are run by the next one: the events of a run are
folded into what is still pending, and the pending_handlers role notifies them again."""

from __future__ import annotations

import json
from pathlib import Path

from egov.ansible_run import drop_undefined, pending_handlers, run_playbook

PLAY = "Configure a thing"


def _events(path: Path, *events: dict) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def test_notified_handlers_stay_pending_until_they_run(tmp_path):
    first = _events(tmp_path / "1.jsonl",
                    {"event": "notified", "play": "p", "host": "a", "handlers": ["Restart x"]},
                    {"event": "notified", "play": "p", "host": "b", "handlers": ["Restart x"]},
                    {"event": "handled", "play": "p", "host": "b", "names": ["Restart x"]},
                    {"event": "notified", "play": "q", "host": "a", "handlers": ["Reload y"]})
    # a run killed while it wrote its last line
    (tmp_path / "2.jsonl").write_text(
        json.dumps({"event": "handled", "play": "q", "host": "a", "names": ["Reload y"]})
        + "\n" + '{"event": "notif')
    assert pending_handlers({}, [first]) == {"p": {"a": ["Restart x"]}, "q": {"a": ["Reload y"]}}
    assert pending_handlers({}, [first, tmp_path / "2.jsonl"]) == {"p": {"a": ["Restart x"]}}
    assert pending_handlers({"p": {"a": ["Restart x"]}}, [_events(
        tmp_path / "3.jsonl",
        {"event": "handled", "play": "p", "host": "a", "names": ["Restart x"]})]) == {}


def _project(tmp_path: Path, project_ansible_cfg) -> Path:
    """A playbook whose role changes a file and notifies a handler that records it ran."""
    role = tmp_path / "roles" / "thing"
    (role / "tasks").mkdir(parents=True)
    (role / "handlers").mkdir()
    (role / "tasks" / "main.yml").write_text(
        "- name: Change the thing's settings\n"
        f"  ansible.builtin.copy: {{dest: '{tmp_path}/settings', content: 'on'}}\n"
        "  notify: Restart the thing\n")
    (role / "handlers" / "main.yml").write_text(
        "- name: Restart the thing\n"
        f"  ansible.builtin.shell: echo restarted >> {tmp_path}/restarts\n")
    (tmp_path / "play.yml").write_text(
        f"- name: {PLAY}\n  hosts: localhost\n  gather_facts: false\n"
        "  roles: [pending_handlers, thing]\n")
    return project_ansible_cfg(tmp_path, roles=tmp_path / "roles")


def test_a_handler_a_killed_run_left_pending_runs_in_the_next_run(tmp_path, project_ansible_cfg):
    root = _project(tmp_path, project_ansible_cfg)
    logs = root / "logs"
    local = ["ansible_connection=local"]
    res = run_playbook(root, "play.yml", inventory=None, extra_vars=local, log_dir=logs,
                       progress_label="play", show=False, limit="localhost")
    assert res.ok and (root / "restarts").read_text() == "restarted\n"
    assert not list(logs.glob("egov-play-*.jsonl"))
    assert not (logs / "pending-handlers-play.json").exists()

    # A run killed after the file changed, before its handler: the events file stays.
    (root / "settings").write_text("off")
    _events(logs / "egov-play-killed.jsonl",
            {"event": "notified", "play": PLAY, "host": "localhost",
             "handlers": ["Restart the thing"]})
    (root / "settings").write_text("on")  # what the killed run wrote
    res = run_playbook(root, "play.yml", extra_vars=local, log_dir=logs, progress_label="play",
                       show=False, limit="localhost")
    assert res.ok, res.failed
    assert res.changed == {"localhost": ["pending_handlers : Notify again the handlers an "
                                         "interrupted run left pending",
                                         "thing : Restart the thing"]}
    assert (root / "restarts").read_text() == "restarted\nrestarted\n"
    assert not list(logs.glob("egov-play-*.jsonl"))
    assert not (logs / "pending-handlers-play.json").exists()

    # Nothing pending any more: a third run changes nothing.
    res = run_playbook(root, "play.yml", extra_vars=local, log_dir=logs, progress_label="play",
                       show=False, limit="localhost")
    assert res.ok and res.changed == {}


def test_a_pending_handler_the_playbook_no_longer_defines_is_dropped(tmp_path,
                                                                  project_ansible_cfg):
    """A handler renamed or removed since the run that left it pending (an upgrade of the
    project) would fail every later run with "handler not found": it is left out, said in
    the log, and the handlers still defined run."""
    root = _project(tmp_path, project_ansible_cfg)
    logs = root / "logs"
    logs.mkdir()
    (logs / "pending-handlers-play.json").write_text(json.dumps({"egov_pending_handlers": {
        PLAY: {"localhost": ["Restart the thing's old daemon", "Restart the thing"]}}}))
    res = run_playbook(root, "play.yml", extra_vars=["ansible_connection=local"],
                       log_dir=logs, progress_label="play", show=False, limit="localhost")
    assert res.ok, res.failed
    assert "thing : Restart the thing" in res.changed["localhost"]
    assert "Restart the thing's old daemon" in res.log.read_text()
    assert not (logs / "pending-handlers-play.json").exists()


def test_a_handler_with_a_templated_name_is_known_by_every_name_it_renders_to():
    defined = {"Restart {{ service__unit }}", "thing : Reload the {{ x }} settings", "Plain"}
    pending = {"p": {"a": ["Restart egov-esppd", "Plain", "Gone"],
                     "b": ["thing : Reload the proxy settings", "Restart "]}}
    kept, dropped = drop_undefined(pending, defined)
    assert kept == {"p": {"a": ["Restart egov-esppd", "Plain"],
                          "b": ["thing : Reload the proxy settings"]}}
    assert dropped == ["Gone", "Restart "]
