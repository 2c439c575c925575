"""Do once, in the controller, work every task would otherwise do again.

Every task on every node runs in the controller's process (on a thread of the egov_linear
strategy, or in a worker forked from it with Mitogen's or Ansible's strategy, which starts
with what the controller holds at that moment and loses what it does itself when it ends):

- Ansible's own filter and test plugins are loaded before the playbook starts (about
  17 ms a task on a 2-core machine, when each worker loaded them the first time it
  rendered a template).
- Every template Ansible renders is compiled by Jinja (parsed, turned into Python source,
  compiled to bytecode) each time, a quarter of a worker's CPU in a warm converge. Here
  the bytecode is kept by the template's text and everything in the environment the
  compilation reads (delimiters, whitespace options, extensions, the backslash setting
  of the compile), as Jinja's own bytecode cache keys a template file by its source.
  The strings a play and a task will template (variables of the play, its roles and its
  hosts, task fields and arguments, the role files of template tasks) are compiled in the
  controller before the task runs, so a forked worker inherits the bytecode too.

A hit gives the same bytecode a compile would have given; only a new Template object is
made from it (as a loaded bytecode cache entry is), bound to the asking environment.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from types import CodeType

from ansible._internal._templating._engine import TemplateEngine, TemplateOptions
from ansible._internal._templating._jinja_bits import (
    _TEMPLATE_OVERRIDE_FIELD_NAMES,
    AnsibleEnvironment,
    _TemplateCompileContext,
    is_possibly_all_template,
    is_possibly_template,
)
from ansible._internal._templating._jinja_common import _TemplateConfig
from ansible.plugins.callback import CallbackBase
from ansible.plugins.loader import filter_loader, test_loader
from ansible.template import trust_as_template
from jinja2.environment import TemplateExpression

DOCUMENTATION = """
name: egov_preload
type: aggregate
short_description: load the Jinja plugins and compile the templates before tasks run
description:
  - At the start of a playbook, loads every builtin Jinja filter and test plugin in the
    controller process, so every task (and a worker forked for it) finds them loaded.
  - Keeps the bytecode of every Jinja template compiled, by its text and the compile's
    settings, and compiles the templates of each play and task in the controller before
    the task runs.
"""

TEMPLATE_ACTIONS = {"template", "ansible.builtin.template", "ansible.legacy.template"}
# Task arguments of the template action that change how its file is compiled: a task that
# sets any of them is left to compile its file in the worker.
TEMPLATE_COMPILE_ARGS = {"block_start_string", "block_end_string", "variable_start_string",
                         "variable_end_string", "comment_start_string", "comment_end_string",
                         "trim_blocks", "lstrip_blocks", "newline_sequence"}
# Task fields a worker templates besides the arguments.
TASK_FIELDS = ("name", "loop", "vars", "environment", "delegate_to", "loop_control",
               "become_user")
# Fields holding conditions (a task's `when` includes its blocks' and role's).
CONDITION_FIELDS = ("when", "changed_when", "failed_when", "until")
CONDITION_OPTIONS = TemplateOptions(escape_backslashes=False, preserve_trailing_newlines=False)

_code: dict[tuple, CodeType] = {}
_jinja_compile = AnsibleEnvironment.compile
_jinja_compile_expression = AnsibleEnvironment.compile_expression
# the key of the expression compile_expression_once is compiling
_expression: ContextVar[tuple | None] = ContextVar("egov_expression", default=None)


def compile_key(env: AnsibleEnvironment, source: str) -> tuple:
    """Everything Jinja's compilation of `source` in `env` depends on."""
    ctx = _TemplateCompileContext.current(optional=True)
    return (str(source), type(env), env.code_generator_class,
            tuple(getattr(env, name) for name in _TEMPLATE_OVERRIDE_FIELD_NAMES),
            env.optimized, env.autoescape, env.finalize, env.is_async,
            tuple(sorted(env.extensions)),
            None if ctx is None else ctx.escape_backslashes,
            _TemplateConfig.allow_embedded_templates)


def compile_once(self, source, name=None, filename=None, raw=False, defer_init=False):
    """AnsibleEnvironment.compile, keeping the bytecode of a template given as text, and of
    the expression compile_expression_once is compiling."""
    if (name is not None or filename is not None or raw or defer_init
            or self._debuggable_template_source):
        return _jinja_compile(self, source, name, filename, raw, defer_init)
    if isinstance(source, str):
        key = compile_key(self, source)
    else:
        # the tree Jinja built for the expression being compiled, if one is
        key, _ = _expression.get(), _expression.set(None)
        if key is None:
            return _jinja_compile(self, source, name, filename, raw, defer_init)
    code = _code.get(key)
    if code is None:
        # a template that does not compile raises here, and is never kept
        code = _code[key] = _jinja_compile(self, source, name, filename, raw, defer_init)
    return code


def compile_expression_once(self, source, undefined_to_none=True):
    """AnsibleEnvironment.compile_expression, keeping the bytecode as compile_once does.
    Jinja parses the expression into a template tree and compiles that tree: the bytecode
    is kept by the expression's text."""
    if not isinstance(source, str) or self._debuggable_template_source:
        return _jinja_compile_expression(self, source, undefined_to_none)
    key = ("expression", undefined_to_none, *compile_key(self, source))
    code = _code.get(key)
    if code is None:
        token = _expression.set(key)
        try:
            return _jinja_compile_expression(self, source, undefined_to_none)
        finally:
            _expression.reset(token)
    # what Jinja's compile_expression returns, from the bytecode its tree compiled to
    template = self.template_class.from_code(self, code, self.make_globals(None), None)
    return TemplateExpression(template, undefined_to_none)


AnsibleEnvironment.compile = compile_once
AnsibleEnvironment.compile_expression = compile_expression_once
_engine = TemplateEngine()


def strings(value):
    """Every string inside `value` (nested dicts, lists and task field objects)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from strings(v)
    elif hasattr(value, "fattributes"):  # loop_control
        for name in value.fattributes:
            yield from strings(getattr(value, name, None))


def precompile(values, options: TemplateOptions = TemplateOptions.DEFAULT) -> None:
    for text in strings(values):
        if is_possibly_template(text):
            # the same path the worker's templating takes; a compile error is kept by
            # the engine for the worker to report, not raised here
            _engine._compile_template(trust_as_template(text), options)


def precompile_conditions(conditions) -> None:
    """Compile conditions as the worker's evaluation does: a bare expression, stripped,
    without backslash escaping (a condition all in {{ }} is a template for an expression,
    compiled as a template)."""
    for text in strings(conditions):
        text = text.strip()
        if text and is_possibly_all_template(text):
            precompile([text])
        elif text:
            _engine._compile_expression(trust_as_template(text), CONDITION_OPTIONS)


def template_file(task) -> str | None:
    """The file a template task renders, when its name is fixed and it is in its role."""
    args = task.args or {}
    src = args.get("src")
    if (task.action not in TEMPLATE_ACTIONS or not isinstance(src, str)
            or is_possibly_template(src) or TEMPLATE_COMPILE_ARGS & set(args)):
        return None
    role = getattr(task, "_role", None)
    if role is None or os.path.isabs(src):
        return None
    path = os.path.join(role._role_path, "templates", src)
    return path if os.path.isfile(path) else None


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "egov_preload"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_start(self, playbook):
        for loader in (filter_loader, test_loader):
            for _plugin in loader.all():
                pass

    def v2_playbook_on_play_start(self, play):
        precompile(play.vars)
        for role in play.get_roles():
            precompile([role._default_vars, role._role_vars])
        inventory = play.get_variable_manager()._inventory
        hosts = inventory.get_hosts(play.hosts)
        precompile([h.vars for h in hosts])
        precompile([g.vars for g in {g for h in hosts for g in h.get_groups()}])

    def v2_playbook_on_task_start(self, task, is_conditional=False):
        precompile(task.args)
        precompile([getattr(task, f, None) for f in TASK_FIELDS])
        precompile_conditions([getattr(task, f, None) for f in CONDITION_FIELDS])
        path = template_file(task)
        if path:
            with open(path, encoding="utf-8") as f:
                # as the template action compiles its file: no backslash escaping
                precompile([f.read()], TemplateOptions(escape_backslashes=False))

    # a handler's start passes no is_conditional
    v2_playbook_on_handler_task_start = v2_playbook_on_task_start
