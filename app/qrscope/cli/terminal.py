"""Text on its way to a terminal: values that came from the network, shown harmlessly.

A PACS or any caller of our listener chooses the UIDs, AE titles, names and
descriptions we print. Printed raw, a newline forges a line of output (a
fake "stored" line, a fake log entry), an escape sequence recolours or
clears the terminal, and a bidirectional override reverses what follows.
:func:`for_terminal` shows each such character as a visible escape
(``\\n``, ``\\x1b``, ``\\u202e``), the way Python's ``repr`` would, so the
value is still readable and can be reported. Every received value the CLI
prints goes through it; ``--json`` output escapes them as JSON does.
"""

from __future__ import annotations

import re
import unicodedata

from qrscope.diagnosis.hints import Hint

__all__ = ["for_terminal", "hint_for_terminal", "json_for_terminal"]

# Cc: C0 and C1 controls (ESC, CSI 0x9B, newline, carriage return, DEL);
# Cf: format characters (bidirectional overrides, zero-width); Zl, Zp: the
# Unicode line and paragraph separators, which some terminals break on.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def for_terminal(value: object) -> str:
    """*value* as text with every control or format character shown as an escape.

    ``None`` is shown as nothing.
    """
    text = "" if value is None else str(value)
    if text.isprintable():
        return text
    return "".join(_escape(c) if unicodedata.category(c) in _UNSAFE_CATEGORIES else c
                   for c in text)


def hint_for_terminal(hint: Hint) -> str:
    """The hint as :meth:`Hint.as_text` lays it out, each part escaped.

    Hints quote AE titles and statuses the peer sent; only the line breaks
    between the parts are ours.
    """
    lines = [f"{for_terminal(hint.title)} [{for_terminal(hint.id)}]", for_terminal(hint.summary)]
    lines += [f"  likely: {for_terminal(cause)}" for cause in hint.causes]
    lines += [f"  do: {for_terminal(action.label)}" for action in hint.actions]
    return "\n".join(lines)


# json.dumps(ensure_ascii=False) leaves C1 controls (0x9B is a CSI on some
# terminals), DEL and the Unicode separators raw; inside JSON strings their
# \u escapes mean the same, so the document is unchanged for a parser.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def json_for_terminal(text: str) -> str:
    """JSON text with the characters ``json.dumps`` leaves raw escaped as ``\\uXXXX``."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
