"""User text made inert for each place reflexrl shows it: the memory block and the terminal.

Prompts, query ids, file paths, model specs and tool arguments come from users (or from a
model). Shown raw they could forge a line of the memory block (U+2028, U+0085 and friends
split lines), reorder what a reader sees (bidi overrides), hide text (zero-width characters),
drive the terminal (ESC sequences: colours, window titles, OSC-8 links) or be read as Rich
markup (`[/]`, `[link=...]`). Every such text goes through one of these functions:

- `for_block`: the memory block of the system prompt. A JSON string (quoted: data never
  reads as an instruction) with `<`, `>` and every character that is not printable escaped,
  so a block's lines are exactly the lines reflexrl wrote, whatever `splitlines` is used.
- `for_terminal`: a Rich `Text` (never parsed as markup) with control, format and line
  separator characters shown as escapes (`\\x1b`, `\\u202e`).
- `for_storage`: text SQLite can hold (UTF-8): a lone surrogate, which a JSON `\\ud800`
  escape can produce, becomes U+FFFD instead of failing the write.
"""

from __future__ import annotations

import json
import unicodedata

from rich.text import Text

__all__ = ["for_block", "for_storage", "for_terminal", "visible"]


def _unsafe(char: str) -> bool:
    """Control, format, surrogate, private-use, unassigned, line and paragraph separator
    characters (`str.isprintable`'s "Other" and "Separator" classes), but not spaces."""
    return not char.isprintable() and unicodedata.category(char) != "Zs"


def _json_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def for_block(value: object) -> str:
    """`value` (a string, or a row holding strings) as one line of inert JSON.

    Decoding it with `json.loads` gives `value` back unchanged.
    """
    quoted = json.dumps(value, ensure_ascii=False)
    if quoted.isprintable() and "<" not in quoted and ">" not in quoted:
        return quoted
    return "".join(_json_escape(c) if c in "<>" or _unsafe(c) else c for c in quoted)


def _python_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def visible(text: str) -> str:
    """`text` with every control, format or separator character shown as an escape."""
    if text.isprintable():
        return text
    return "".join(_python_escape(c) if _unsafe(c) else c for c in text)


def for_terminal(text: object) -> Text:
    """`text` for a terminal: escapes shown (see `visible`), never read as Rich markup."""
    return Text(visible(str(text)))


def for_storage(text: str) -> str:
    """`text` as UTF-8 can hold it: lone surrogates replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return text
