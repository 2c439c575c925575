"""What egov does to keep a converge's controller work short, and that it changes no result:
the inventory's machine-dependent variables handed over resolved, the builtin Jinja plugins
loaded and the templates compiled before the tasks run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from egov import inventory, lab
from egov.ansible_run import RunResult, ansible_env
from egov.model import load_stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("via", ["EGOV_STATE_DIR", "HOME"])
def test_the_resolved_machine_vars_are_what_the_inventory_gives(via, tmp_path, monkeypatch):
    """A run by hand resolves the inventory's lookups; egov's runs get the values resolved
    in advance. Both must be the same, whichever way the state folder is found."""
    if via == "HOME":
        monkeypatch.delenv("EGOV_STATE_DIR", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
    else:
        monkeypatch.setenv("EGOV_STATE_DIR", str(tmp_path / "state"))
    stack = load_stack(ROOT, "lab")
    out = tmp_path / "resolved.json"
    names = ", ".join(f"'{n}': {n}" for n in inventory.machine_vars(stack))
    env = ansible_env(ROOT, {"ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "False",
                             "EGOV_ANSIBLE_STRATEGY": "linear"})
    run = subprocess.run(
        ["ansible", "bastion", "-i", str(ROOT / "inventory" / "lab"), "-c", "local",
         "-m", "ansible.builtin.copy",
         "-a", f"dest={out} content={{{{ {{{names}}} | to_json }}}}"],
        cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(out.read_text()) == inventory.machine_vars(stack)
    assert str(tmp_path) in inventory.machine_vars(stack)["egov_state_dir"]


@pytest.mark.parametrize("setting", [None, "inventory"])
def test_converge_hands_over_the_machine_vars_unless_told_not_to(setting, monkeypatch):
    if setting:
        monkeypatch.setenv("EGOV_MACHINE_VARS", setting)
    else:
        monkeypatch.delenv("EGOV_MACHINE_VARS", raising=False)
    stack = load_stack(ROOT, "lab")
    calls = []

    def fake_run(root, playbook, **kwargs):
        calls.append(kwargs)
        return RunResult(playbook, 0, Path("log"), 0.0)

    monkeypatch.setattr(lab, "run_playbook", fake_run)
    monkeypatch.setattr(lab, "record_baseline", lambda stack, res: None)
    lab.converge(stack, ROOT, show=False)
    extra = [json.loads(e) for e in calls[0]["extra_vars"]]
    assert extra == ([] if setting else [inventory.machine_vars(stack)])


def test_the_builtin_filters_and_tests_are_loaded_when_the_playbook_starts():
    probe = (
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'plugins' / 'callback')!r})\n"
        "import egov_preload\n"
        "def loaded(kind):\n"
        "    return any(m.startswith(f'ansible.plugins.{kind}.core') for m in sys.modules)\n"
        "before = loaded('filter') or loaded('test')\n"
        "egov_preload.CallbackModule().v2_playbook_on_start(None)\n"
        "print(before, loaded('filter') and loaded('test'))\n")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert run.stdout.split() == ["False", "True"], run.stdout + run.stderr


def test_every_egov_run_and_a_run_by_hand_enable_the_preload():
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    enabled = [c.strip() for c in cfg["defaults"]["callbacks_enabled"].split(",")]
    assert "egov_preload" in enabled


COMPILE_PROBE = """
import json, os, sys
sys.path.insert(0, {plugins!r})
import egov_preload as p
from types import SimpleNamespace
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader()
from ansible.playbook.task import Task
from ansible.template import Templar, trust_as_template
from ansible._internal._templating._jinja_bits import AnsibleEnvironment

CASES = [
    ("{{% if x %}}\\n{{{{ x }}}}-{{{{ items | length }}}}\\n{{% endif %}}\\n", {{}}),
    ("{{% if x %}}\\n{{{{ x }}}}-{{{{ items | length }}}}\\n{{% endif %}}\\n",
     {{"overrides": {{"trim_blocks": False}}}}),
    ("  {{% if x %}}\\n{{{{ x }}}}\\n  {{% endif %}}", {{"overrides": {{"lstrip_blocks": True}}}}),
    ('{{{{ "a\\\\tb" }}}}', {{}}),
    ('{{{{ "a\\\\tb" }}}}', {{"escape_backslashes": False}}),
    ("#jinja2:variable_start_string:'[[', variable_end_string:']]'\\n[[ x ]] {{{{ x }}}}", {{}}),
    ("{{{{ items | map('string') | join(',') }}}}", {{}}),
]
variables = {{"x": "a", "items": [1, 2], "condition": trust_as_template("x == 'b'")}}

CONDITIONS = ["x == 'a'", "items | length > 1 and x is string", " '\\t' not in x ",
              "{{{{ condition }}}}"]

def render_all():
    templar = Templar(variables=variables)
    return ([repr(templar.template(trust_as_template(s), **kw)) for s, kw in CASES]
            + [repr(templar.evaluate_conditional(trust_as_template(c))) for c in CONDITIONS])

cached = AnsibleEnvironment.compile, AnsibleEnvironment.compile_expression
out = {{"first": render_all(), "kept": len(p._code)}}
compiles = []
jinja_compile = p._jinja_compile
p._jinja_compile = lambda *a: compiles.append(a) or jinja_compile(*a)
out["again"] = render_all()
p._jinja_compile = jinja_compile
out["compiled_again"] = len(compiles)
out["kept_again"] = len(p._code)
AnsibleEnvironment.compile = p._jinja_compile
AnsibleEnvironment.compile_expression = p._jinja_compile_expression
out["uncached"] = render_all()
AnsibleEnvironment.compile, AnsibleEnvironment.compile_expression = cached
out["expressions"] = sum(1 for k in p._code if k[0] == "expression")

env = AnsibleEnvironment()
text = trust_as_template("{{{{ x | upper }}}} and {{{{ items }}}}")
out["same_bytecode"] = env.compile(text) == p._jinja_compile(env, text)

bad = trust_as_template("{{{{ x | }}}}")
errors = []
for _ in range(2):
    try:
        Templar(variables=variables).template(bad)
    except Exception as e:
        errors.append(type(e).__name__)
out["errors"] = errors
out["bad_kept"] = any(k[0] == str(bad) for k in p._code)

task = Task.load({{"name": "say {{{{ x }}}}", "ansible.builtin.debug": {{"msg": "{{{{ items }}}}"}},
                  "loop": "{{{{ items }}}}", "loop_control": {{"label": "{{{{ item }}}} of x"}},
                  "when": ["item > 1 "], "changed_when": "x != 'z'"}})
p.CallbackModule().v2_playbook_on_task_start(task, False)
kept = {{k[0] for k in p._code}}
out["task_kept"] = [s in kept
                    for s in ("say {{{{ x }}}}", "{{{{ items }}}}", "{{{{ item }}}} of x")]
expressions = {{k[2] for k in p._code if k[0] == "expression"}}
out["conditions_kept"] = [s in expressions for s in ("item > 1", "x != 'z'")]

role = {role!r}
tpl = SimpleNamespace(action="ansible.builtin.template", args={{"src": "motd.j2", "dest": "/x"}},
                      _role=SimpleNamespace(_role_path=role))
p.CallbackModule().v2_playbook_on_task_start(tpl, False)
content = open(os.path.join(role, "templates", "motd.j2")).read()
out["file_kept"] = [k[9] for k in p._code if k[0] == content]
tpl.args["trim_blocks"] = False
out["file_with_own_settings"] = p.template_file(tpl)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def compile_probe(tmp_path_factory):
    role = tmp_path_factory.mktemp("role")
    (role / "templates").mkdir()
    (role / "templates" / "motd.j2").write_text("{% for i in items %}{{ i }}\n{% endfor %}")
    probe = COMPILE_PROBE.format(plugins=str(ROOT / "plugins" / "callback"), role=str(role))
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(run.stdout.splitlines()[-1])


def test_a_kept_compile_renders_what_a_fresh_compile_renders(compile_probe):
    """Whitespace options, backslash escaping and a template's own delimiter header all
    change what Jinja compiles: each gives its own entry, and the result of a fresh
    compile, the first time and when it is used again."""
    assert compile_probe["first"] == compile_probe["uncached"]
    assert compile_probe["again"] == compile_probe["uncached"]
    assert compile_probe["kept_again"] == compile_probe["kept"]
    assert compile_probe["compiled_again"] == 0
    # every case and condition, and the expression the templated condition renders to
    assert compile_probe["kept"] == len(compile_probe["first"]) + 1
    assert compile_probe["same_bytecode"] is True


def test_conditions_are_kept_as_expressions(compile_probe):
    """The three bare conditions are kept as expressions; the one all in {{ }} is kept as
    a template, and the expression it renders to as one more."""
    assert compile_probe["first"][-4:] == ["True", "True", "True", "False"]
    assert compile_probe["expressions"] == 4


def test_a_template_that_does_not_compile_fails_every_time_and_is_not_kept(compile_probe):
    assert len(compile_probe["errors"]) == 2
    assert compile_probe["bad_kept"] is False


def test_a_task_is_compiled_in_the_controller_when_it_starts(compile_probe):
    assert compile_probe["task_kept"] == [True, True, True]
    assert compile_probe["conditions_kept"] == [True, True]
    # a role's template file, as the template action compiles it: no backslash escaping
    assert compile_probe["file_kept"] == [False]
    assert compile_probe["file_with_own_settings"] is None
