"""The language of what a person reads: English (the source language) or Bahasa Indonesia.

Messages are marked with `_()` / `ngettext()` in Python and with Jinja's i18n extension in
the report templates; Babel extracts them (babel.cfg) into one gettext domain, `egov`, whose
catalogue is `egov/locale/id/LC_MESSAGES/egov.po`. The language is `--lang id|en` when given,
else the locale (LC_ALL, LC_MESSAGES, LANG: `id_ID.UTF-8` is Indonesian), else English.

No .mo file is kept or built ahead: the .po is compiled in memory (Babel's read_po and
write_mo) the first time Indonesian is asked for, so a fresh clone, an editable install and
a just-edited catalogue all work with nothing generated to forget or to go stale. English
needs no catalogue and pays nothing.
"""

from __future__ import annotations

import gettext
import io
import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Jinja is imported by the reports only: the model's messages need none
    import jinja2

DOMAIN = "egov"
LOCALE_DIR = Path(__file__).with_name("locale")
SOURCE = "en"
LANGUAGES = (SOURCE, "id")

_chosen: str | None = None


def from_locale(environ=os.environ) -> str:
    """The language the locale asks for: the first of LC_ALL, LC_MESSAGES, LANG that is set
    (as the C library reads them); 'id_ID.UTF-8' -> 'id'; anything else is English."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(var)
        if value:
            code = value.split(".")[0].split("@")[0].split("_")[0].lower()
            return code if code in LANGUAGES else SOURCE
    return SOURCE


def set_language(lang: str | None) -> str:
    """Use `lang` from now on; None goes back to the locale's choice."""
    global _chosen
    if lang is not None and lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}: use one of {', '.join(LANGUAGES)}")
    _chosen = lang
    return language()


def language() -> str:
    return _chosen or from_locale()


def catalogue_file(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def _compiled(lang: str, mtime_ns: int) -> gettext.NullTranslations:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with catalogue_file(lang).open("rb") as po:
        catalog = read_po(po, locale=lang, domain=DOMAIN)
    mo = io.BytesIO()
    # Fuzzy entries are not translations yet: English shows until a translator confirms them.
    write_mo(mo, catalog, use_fuzzy=False)
    mo.seek(0)
    return gettext.GNUTranslations(mo)


def translations(lang: str | None = None) -> gettext.NullTranslations:
    lang = lang or language()
    if lang == SOURCE:
        return gettext.NullTranslations()
    return _compiled(lang, catalogue_file(lang).stat().st_mtime_ns)


def _(message: str) -> str:
    return translations().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations().ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a message for the catalogue where it is defined; `_()` translates it where it
    is shown."""
    return message


# Words of the evidence and plan data (kept in English in the JSON, for machines) as a
# report shows them; the `word` filter of the report templates translates them.
WORDS = {
    "passed": N_("passed"), "failed": N_("failed"), "error": N_("error"),
    "skipped": N_("skipped"), "no evidence": N_("no evidence"),
    "current": N_("current"), "stale": N_("stale"), "missing": N_("missing"),
    "Container": N_("Container"), "Network": N_("Network"), "Volume": N_("Volume"),
    "Image": N_("Image"), "Provider": N_("Provider"),
}


def word(value: str) -> str:
    return _(WORDS[value]) if value in WORDS else value


def environment(loader: jinja2.BaseLoader, **options) -> jinja2.Environment:
    """A Jinja environment whose `{% trans %}` and `_()` speak the current language."""
    import jinja2

    env = jinja2.Environment(loader=loader, extensions=["jinja2.ext.i18n"], **options)
    # Whitespace inside {% trans %} is layout, not part of the message.
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(translations(), newstyle=True)
    env.filters["word"] = word
    # Data that has a translation (a control's title): plain text, escaped like any value.
    env.filters["t"] = lambda text: translations().gettext(text)
    env.globals["lang"] = language()
    return env
