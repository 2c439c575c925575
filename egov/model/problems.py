"""Problems with a stack file: each one a field path, what is wrong and how to fix it.

:class:`StackError` carries every problem of a file at once; pydantic's validation
errors are turned here into problems worded for the stack file's author.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from egov.i18n import N_, _
from egov.model.schema import PROJECT, FieldValueError


class StackError(Exception):
    """A stack file that cannot be used: every problem, each with its field path and fix."""

    def __init__(self, file: Path | str, problems: list[Problem]):
        self.file = str(file)
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        lines = []
        for p in self.problems:
            lines.append(f"{self.file}: {p.path}: {p.message}")
            lines.append("  " + _("fix: {fix}").format(fix=p.fix))
        return "\n".join(lines)


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    fix: str


def config_problem(path: str, message: str, fix: str) -> Problem:
    """A problem at a path under the project's config keys (`egov-dc:<path>`)."""
    return Problem(f"{PROJECT}:{path}", message, fix)


_FIX_BY_TYPE = {
    "missing": N_("add this field"),
    "extra_forbidden": N_("remove this field or correct its spelling"),
    "enum": N_("use one of the listed values"),
    "literal_error": N_("use one of the listed values"),
    "ip_v4_address": N_("write an IPv4 address such as 10.0.0.10"),
    "ip_v4_network": N_("write the subnet in CIDR form such as 10.0.3.0/24 (host bits zero)"),
    "string_pattern_mismatch": N_("write a value of the documented form"),
    "too_short": N_("give at least one entry"),
    "int_parsing": N_("write a whole number"),
    "greater_than_equal": N_("use a larger number"),
    "less_than_equal": N_("use a smaller number"),
    "greater_than": N_("use a larger number"),
    "bool_parsing": N_("write true or false"),
    "list_type": N_("write a list"),
    "model_type": N_("write a mapping of fields"),
    "dict_type": N_("write a mapping"),
    "string_type": N_("write a text value"),
    "int_type": N_("write a whole number"),
    "int_from_float": N_("write a whole number"),
    "int_parsing_size": N_("write a whole number in the allowed range"),
    "finite_number": N_("write a finite number"),
    "float_parsing": N_("write a number"),
    "float_type": N_("write a number"),
    "bool_type": N_("write true or false"),
}
# pydantic's messages as the catalogue holds them: its text with the found value as {value}
# and the error's context values ({le}, {expected}, ...) as placeholders; any other message
# stays as pydantic words it.
_PYDANTIC_MESSAGES = (
    N_("Field required"), N_("{value} should be {expected}"),
    N_("{field_type} should have at least {min_length} item after validation, "
       "not {actual_length}"),
    N_("{value} should be a valid string"), N_("{value} should be a valid list"),
    N_("{value} should be a valid dictionary"), N_("{value} should be a valid integer"),
    N_("{value} should be a valid integer, unable to parse string as an integer"),
    N_("{value} should be a valid number, unable to parse string as a number"),
    N_("{value} should be a valid boolean"),
    N_("{value} should be a valid boolean, unable to interpret input"),
    N_("{value} should be less than or equal to {le}"),
    N_("{value} should be greater than or equal to {ge}"),
    N_("{value} should be greater than {gt}"),
    N_("{value} is not a valid IPv4 address"), N_("{value} is not a valid IPv4 network"),
    N_("List"),
)


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not out:
            out = f"{PROJECT}:{part}"
        else:
            out += path_step(part)
    return out or PROJECT


def path_step(key: Any) -> str:
    """A mapping key as a path step; odd keys (empty, spaces, control characters) quoted."""
    return f".{key}" if isinstance(key, str) and re.fullmatch(r"[\w-]+", key, re.ASCII) \
        else f"[{key!r}]"


def _shown(value: Any) -> str:
    """A value as a stack file's author wrote it, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float):
        return repr(value)
    return _("a list") if isinstance(value, list) else _("a mapping")


# Fields checked by a pattern: what the value should be, and how to write it.
_PATTERN_FIELDS = {
    "domain": (N_("a lower-case DNS domain"),
               N_("write a lower-case DNS domain such as lab.bengkulukota.go.id")),
    "url": (N_("a Docker host URL"), N_("write unix:///var/run/docker.sock, ssh://user@host "
                                        "or tcp://host:2376")),
    "volumes": (N_("an absolute mount path"), N_("write an absolute path without spaces or "
                                                 "':', such as /var/lib/data")),
    "adminKeys": (N_("an SSH public key"), N_("paste the whole public key line, starting with "
                                             "ssh-ed25519 or ssh-rsa")),
    "healthPath": (N_("a URL path"), N_("write a path starting with '/', such as /healthz")),
}
# Union branches pydantic names in an error's location; they are not fields.
_BRANCH = re.compile(r"^[a-z_-]+\[")


def problems_from_pydantic(errors: list[Any], stack: str) -> list[Problem]:
    """One problem per field: the errors of a union's branches become a single problem."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for err in errors:
        parts = [p for p in err["loc"] if p != "[key]"]
        branch = next((i for i, p in enumerate(parts) if isinstance(p, str) and (
            _BRANCH.match(p) or (i >= 2 and parts[i - 1] == "address"))), None)
        if branch is None:
            problem = _problem_from_pydantic(err, tuple(parts))
        else:
            problem = _union_problem(err, tuple(parts[:branch]), stack)
        if problem.path not in seen:
            seen.add(problem.path)
            problems.append(problem)
    return problems


def _union_problem(err: dict[str, Any], loc: tuple[Any, ...], stack: str) -> Problem:
    if loc and loc[-1] == "address":
        return Problem(_path(loc), _("{value} is neither an IPv4 address nor 'auto'").format(
            value=_shown(err["input"])), _("write an IPv4 address such as 10.0.0.10, or 'auto'"))
    return _problem_from_pydantic(err, loc)


def _pydantic_message(err: dict[str, Any], value: Any) -> str:
    """pydantic's message in the current language (see _PYDANTIC_MESSAGES)."""
    template = err["msg"].removeprefix("Value error, ").replace("{", "{{").replace("}", "}}")
    # Name the offending value: "Input should be ..." alone does not say what was found.
    if template.startswith("Input "):
        template = "{value}" + template.removeprefix("Input")
    template = re.sub(r" or instance of \w+", "", template)
    ctx = {k: str(v) for k, v in (err.get("ctx") or {}).items()
           if k != "error" and str(v) and not set("{}") & set(str(v))}
    for key, shown in sorted(ctx.items(), key=lambda kv: -len(kv[1])):
        template = re.sub(rf"(?<![\w{{]){re.escape(shown)}(?![\w}}])", "{" + key + "}", template)
    if "expected" in ctx:  # 'lab', 'staging' or 'prod'
        head, sep, last = ctx["expected"].rpartition(" or ")
        ctx["expected"] = head + _(" or ") + last if sep else last
    kind = ctx.get("field_type")
    if kind:  # List
        ctx["field_type"] = _(kind)
    return _(template).format(value=_shown(value), **ctx)


def _problem_from_pydantic(err: dict[str, Any], loc: tuple[Any, ...]) -> Problem:
    value = err.get("input")
    error = (err.get("ctx") or {}).get("error")
    if isinstance(error, FieldValueError):  # the schema's own check says what to do
        return Problem(_path(loc), error.message(), _(error.fix))
    if err["type"] == "extra_forbidden":
        message = _("unknown field {name}").format(name=repr(loc[-1]))
    else:
        message = _pydantic_message(err, value)
    fix = _(_FIX_BY_TYPE.get(err["type"], N_("correct this value")))
    field = next((p for p in reversed(loc) if isinstance(p, str) and p in _PATTERN_FIELDS), None)
    if err["type"] == "string_pattern_mismatch" and field:
        what, fix = _PATTERN_FIELDS[field]
        message = _("{value} is not {what}").format(value=repr(value), what=_(what))
        fix = _(fix)
    if err["type"] == "ip_v4_network" and isinstance(value, str):
        try:
            net = ipaddress.IPv4Network(value, strict=False)
        except ValueError:
            pass
        else:
            message = _("{value} has host bits set").format(value=repr(value))
            fix = _("write the network address: {network}").format(network=net)
    return Problem(_path(loc), message, fix)
