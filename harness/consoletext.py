"""What console and program output carry besides text: terminal escapes,
control characters, and printk prefixes that a kernel message put inside
another line. ktap.py and splat.py clean lines with these."""

from __future__ import annotations

import re

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# "[   12.345678] " with an optional printk caller id, anywhere in a line.
EMBEDDED_PRINTK = re.compile(r"\[\s*\d+\.\d{6}\](?:\[\s*[TC]\d+\])? ")


def plain(text: str) -> str:
    """``text`` without terminal escapes, control characters and trailing blanks."""
    return CONTROL.sub("", ANSI.sub("", text)).rstrip()
