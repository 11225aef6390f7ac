"""Text from data, made safe for where it is shown.

Ids, file names, model names and messages that quote them come from users' files. On a terminal they must
not act as Rich markup (``[/]`` would crash the print, ``[link=…]`` would become a link) nor as control
sequences (an escape code would drive the terminal); in Markdown they must not open tags, links or table
cells. Each destination has one function here, and every piece of data goes through it.
"""

from __future__ import annotations

import html

from rich.markup import escape


def visible(text: object) -> str:
    """Control and invisible format characters (escape codes, NUL, bidi overrides, newlines) written as
    ``\\x1b``-style escapes; everything printable as it is."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text))


def terminal(text: object) -> str:
    """For a Rich string with markup of our own: the data shown literally, one line."""
    return escape(visible(text))


def markdown(text: object) -> str:
    """For Markdown prose or a table cell: HTML escaped, Markdown's link, emphasis and cell syntax taken
    literally, one line."""
    escaped = html.escape(visible(text), quote=False)
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in escaped)


_MARKDOWN_SPECIAL = set("\\`*_[]|~$")
