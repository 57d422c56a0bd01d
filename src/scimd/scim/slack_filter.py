"""Slack's filter literals (spec §5.3): values in single quotes or bare.

Slack accepts ``userName eq "x"``, ``restricted eq '1'`` and
``members[value eq U123]``. :func:`normalize_literals` rewrites the last two
forms into RFC 7644 JSON strings so the standard grammar parses them; quoted
strings, numbers, ``true``, ``false`` and ``null`` are left as they are.
"""

from __future__ import annotations

import json
import re

_OPERATOR = re.compile(r"(?i)(?<![A-Za-z0-9_$.:-])(eq|ne|co|sw|ew|gt|ge|lt|le)(\s+)")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_KEYWORDS = ("true", "false", "null")


def normalize_literals(text: str) -> str:
    """Turn single-quoted and bare comparison values into JSON strings."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            end = _string_end(text, i)
            out.append(text[i:end])
            i = end
            continue
        match = _OPERATOR.match(text, i)
        if match and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "_$.:-")):
            out.append(match.group(0))
            i = match.end()
            if i >= n:
                break
            if text[i] == "'":
                close = text.find("'", i + 1)
                if close == -1:
                    out.append(text[i:])
                    break
                out.append(json.dumps(text[i + 1:close]))
                i = close + 1
            elif text[i] != '"':
                end = i
                while end < n and not text[end].isspace() and text[end] not in ")]":
                    end += 1
                token = text[i:end]
                if token.lower() in _KEYWORDS or _NUMBER.fullmatch(token):
                    out.append(token)
                else:
                    out.append(json.dumps(token))
                i = end
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _string_end(text: str, start: int) -> int:
    """Index just after the JSON string starting at ``start`` (or the end of text)."""
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i + 1
        i += 1
    return len(text)


def check_spacing(text: str) -> None:
    """Slack's filter shape rules (spec §5.3, §7.3): tokens separated by single spaces
    (``incomplete_filter``) and balanced parentheses (``invalid_filter_group``)."""
    from scimd.scim.errors import invalid_filter

    depth, i = 0, 0
    while i < len(text):
        if text[i] == '"':
            i = _string_end(text, i)
            continue
        if text.startswith("  ", i):
            raise invalid_filter("Filter tokens must be separated by single spaces.",
                                 code="incomplete_filter")
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth < 0:
                break
        i += 1
    if depth != 0:
        raise invalid_filter("The filter's parentheses do not pair up.",
                             code="invalid_filter_group")
