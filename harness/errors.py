"""One exception class per pipeline stage.

Every error says what failed and what to do about it; the CLI prints
``str(error)`` and exits non-zero, the pytest plugin fails with it.
"""

from __future__ import annotations


class HarnessError(Exception):
    """A stage failed. ``hint`` tells the user what to do next."""

    stage = "harness"

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        text = f"[{self.stage}] {self.message}"
        if self.hint:
            text += f"\n  what to do: {self.hint}"
        return text


class ToolMissing(HarnessError):
    stage = "setup"


class SourceError(HarnessError):
    stage = "source"


class PatchError(HarnessError):
    stage = "patches"


class ConfigError(HarnessError):
    stage = "config"


class BuildError(HarnessError):
    stage = "build"


class GuestError(HarnessError):
    stage = "guest"


class GuestTimeout(GuestError):
    """The guest did not finish in time (hung boot or hung command)."""


class GuestPanic(GuestError):
    """The guest kernel panicked."""


class SelftestError(HarnessError):
    stage = "selftests"
