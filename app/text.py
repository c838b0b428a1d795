"""Text from storage shown on a terminal: control and bidi-format characters escaped, so a name cannot hide
itself, reorder the line it is printed in (U+202E RIGHT-TO-LEFT OVERRIDE) or move the cursor."""
from __future__ import annotations

import unicodedata

_HIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # controls, formats (bidi, zero-width), unassigned, separators


def printable(text: str) -> str:
    """`text` with each hidden or reordering character written as \\uXXXX (\\xXX for ASCII controls)."""
    return "".join(_escape(ch) if unicodedata.category(ch) in _HIDDEN else ch for ch in str(text))


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
