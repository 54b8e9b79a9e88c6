"""Masking credentials in text and argv before they reach a log line.

A deploy pipeline's COMMAND often carries a database URL (``postgres://u:pw@h/db``) or a
``--password=x`` flag, and its log lines end up in CI systems that many people can read.
The runner's JSON events therefore show COMMAND through :func:`mask_argv`, and the JSON
formatter passes every string through :func:`mask_text` as a last line of defence.

The rules err on the side of hiding: a bare userinfo (``scheme://secret@host``) is
masked as :func:`gatekeeper._parsers.redact_url` does, because it is often a password put
in the wrong place, and a flag is recognised by any of the words below in its name.
Masking only removes text: what is left is always a substring of the original with
``***`` in the holes, so a masked command still says which tool ran against which host.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["MASK", "mask_argv", "mask_text"]

MASK = "***"

_WORDS = r"(?:password|passwd|pwd|secret|token|api[-_]?key|credentials?)"

# scheme://userinfo@ : userinfo runs to the authority's last "@" (no "/?#" or space).
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s/?#]*)@")
# ?password=x or &token=x in a URL's query (redis URLs take ?password=).
_QUERY = re.compile(rf"(?P<key>[?&;]\w*{_WORDS}\w*=)[^&\s#]*", re.IGNORECASE)
# --password=x, --db-password=x, -token=x; also inside a ``sh -c`` string.
_FLAG_VALUE = re.compile(rf"(?P<flag>(?<!\S)--?[\w-]*{_WORDS}[\w-]*=)\S*", re.IGNORECASE)
# PGPASSWORD=x, DB_TOKEN=x (an ``env`` argument, or a ``sh -c`` string).
_ENV_VALUE = re.compile(rf"(?P<name>(?<![\w-])[A-Z][A-Z0-9_]*{_WORDS.upper()}[A-Z0-9_]*=)\S*")
# A flag whose value is the next argument: --password x.
_FLAG_ALONE = re.compile(rf"--?[\w-]*{_WORDS}[\w-]*", re.IGNORECASE)


def _userinfo(match: re.Match[str]) -> str:
    user, colon, _ = match["userinfo"].partition(":")
    return f"{match['scheme']}{user}:{MASK}@" if colon else f"{match['scheme']}{MASK}@"


def mask_text(text: str) -> str:
    """``text`` with URL passwords, secret query values, ``--password=x`` and
    ``PASSWORD=x`` values replaced by ``***``."""
    text = _URL_USERINFO.sub(_userinfo, text)
    text = _QUERY.sub(lambda m: m["key"] + MASK, text)
    text = _FLAG_VALUE.sub(lambda m: m["flag"] + MASK, text)
    return _ENV_VALUE.sub(lambda m: m["name"] + MASK, text)


def mask_argv(argv: Sequence[str]) -> list[str]:
    """Each argument through :func:`mask_text`; the argument after a lone secret flag
    (``--password x``, ``--token x``) becomes ``***``."""
    masked: list[str] = []
    hide_next = False
    for arg in argv:
        masked.append(MASK if hide_next else mask_text(arg))
        hide_next = not hide_next and _FLAG_ALONE.fullmatch(arg) is not None
    return masked
