"""The `egov` command's help in the chosen language.

The help texts are the commands' docstrings and the options' `help=`, written in English in
egov/cli.py. They are catalogue messages through a Babel extractor (`egov_cli_help` in
babel.cfg) that reads them from the command tree, and `translate` puts them through the
catalogue before the help is shown, so egov/cli.py keeps plain strings.
"""

from __future__ import annotations

from collections.abc import Iterator

import click

from egov.i18n import _

_SOURCE = "_egov_help_source"


def _helped(command: click.Command) -> Iterator[click.Command | click.Parameter]:
    yield command
    yield from command.params
    for sub in getattr(command, "commands", {}).values():
        yield from _helped(sub)


def translate(command: click.Command) -> None:
    """Every help text of the command tree in the current language (the English kept)."""
    for item in _helped(command):
        source = getattr(item, _SOURCE, None) or getattr(item, "help", None)
        if source:
            setattr(item, _SOURCE, source)
            item.help = _(source)


def extract_messages(fileobj, keywords, comment_tags, options):
    """Babel extractor for egov/cli.py: its `_()` messages, then every help text."""
    import typer.main
    from babel.messages.extract import extract_python

    yield from extract_python(fileobj, keywords, comment_tags, options)
    from egov.cli import app

    for item in _helped(typer.main.get_command(app)):
        text = getattr(item, "help", None)
        if text:
            yield 0, None, text, []
