"""Reading a stack file: from bytes on disk to a validated :class:`Stack`.

Every way a file can fail to be read (missing, unreadable, not UTF-8, not YAML, not
Pulumi stack config, invalid fields, broken rules) ends in one :class:`StackError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from egov.i18n import _
from egov.model.problems import Problem, StackError, config_problem, problems_from_pydantic
from egov.model.rules import check_rules
from egov.model.schema import DNS_LABEL, PROJECT, Stack


def stack_file(root: Path, name: str) -> Path:
    return root / "stacks" / f"Pulumi.{name}.yaml"


def load_stack(root: Path, name: str) -> Stack:
    """Read and validate `stacks/Pulumi.<name>.yaml`; raise StackError naming every problem."""
    path = stack_file(root, name)
    shown = path.relative_to(root) if path.is_relative_to(root) else path
    if not DNS_LABEL.match(name):
        raise StackError(shown, [Problem(
            _("(stack name)"), _("{name} is not a DNS-safe stack name").format(name=repr(name)),
            _("use lower-case letters, digits and '-'"))])
    if not path.is_file():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml")
                       for p in (root / "stacks").glob("Pulumi.*.yaml"))
        raise StackError(shown, [Problem(
            _("(file)"), _("no such stack file"),
            _("use one of the stacks {stacks}, or create {file}").format(
                stacks=", ".join(known) or _("(none)"), file=shown))])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StackError(shown, [Problem(
            _("(file)"), _("cannot be read: {reason}").format(reason=exc.strerror),
            _("make the file readable by this user"))]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StackError(shown, [Problem(_where(raw.decode("utf-8", "replace"),
                                                len(raw[:exc.start].decode("utf-8", "replace"))),
                                         _("not UTF-8 text"), _("save the file as UTF-8"))]) \
            from None
    try:
        document = yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        document = _load_slowly(text, shown)
    return parse_stack(document, name=name, file=str(shown))


# libyaml's loader is several times faster; the pure-Python one words errors the same
# on every machine, so a file libyaml refuses is read again by it.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_slowly(text: str, shown: Path | str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark:
            where = _where(text, mark.index)
        elif isinstance(exc, yaml.reader.ReaderError):
            where = _where(text, exc.position)
        else:
            where = _("(document)")
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
        if isinstance(exc, yaml.reader.ReaderError) and isinstance(exc.character, int):
            problem = _("character {character} is not allowed in YAML").format(
                character=repr(chr(exc.character)))
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start:
            # The opening of the unfinished construct is usually where the mistake is.
            problem += " " + _("({context} at {place})").format(
                context=context, place=_where(text, start.index))
        raise StackError(shown, [Problem(where, _("not valid YAML: {problem}").format(
            problem=problem), _("correct the YAML syntax at that place"))]) from None


def _where(text: str, index: int) -> str:
    line = text.count("\n", 0, index)
    return _("line {line}, column {column}").format(
        line=line + 1, column=index - (text.rfind(chr(10), 0, index) + 1) + 1)


def parse_stack(document: Any, *, name: str, file: str) -> Stack:
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise StackError(file, [Problem("config", _("the file has no 'config:' mapping"), _(
            "a stack file is Pulumi stack config: put the '{keys}' keys under 'config:'").format(
                keys=f"{PROJECT}:*"))])
    config: dict[str, Any] = {}
    problems = []
    for key, value in document["config"].items():
        project, _colon, short = str(key).partition(":")
        if project != PROJECT or not short:
            problems.append(Problem(f"config.{key}", _("key outside the project's namespace"),
                                    _("write it as '{form}'").format(form=f"{PROJECT}:<key>")))
            continue
        if short in ("name", "file"):
            problems.append(Problem(f"config.{key}", _(
                "the stack's {key} comes from the file's name, not from a key").format(key=short),
                _("remove this key")))
            continue
        if short == "secrets":
            # One place for secrets, the stack's ansible-vault file (egov/vault.py), so that
            # no second, drifting copy lives here, sealed or not.
            problems.append(config_problem(short, _("secrets are not kept in the stack file"), _(
                "remove this key; the secrets of a stack live encrypted in {file}, written by "
                "'egov secrets lock {stack}'").format(
                    file=f"stacks/secrets/{name}.vault.yml", stack=name)))
            continue
        config[short] = value
    if problems:
        raise StackError(file, problems)
    try:
        stack = Stack.model_validate({**config, "name": name, "file": file})
    except ValidationError as exc:
        raise StackError(file, problems_from_pydantic(exc.errors(), name)) from None
    problems = check_rules(stack)
    if problems:
        raise StackError(file, problems)
    stack.derived  # noqa: B018 - derive now so that a stack that loads is a stack that works
    return stack
