"""One exception class per pipeline stage.

Every error says what failed and what to do about it; the CLI prints
``str(error)`` and exits non-zero, the pytest plugin fails with it. A
stage's class names its stage once, in its header:
``class BuildError(HarnessError, stage="build")``; its subclasses inherit it.
"""

from __future__ import annotations

from typing import Any


class HarnessError(Exception):
    """A stage failed. ``hint`` tells the user what to do next."""

    stage = "harness"

    def __init_subclass__(cls, stage: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if stage is not None:
            cls.stage = stage

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        text = f"[{self.stage}] {self.message}"
        if self.hint:
            text += f"\n  what to do: {self.hint}"
        return text


class ToolMissing(HarnessError, stage="setup"):
    """A program or package the harness needs is not installed."""


class SourceError(HarnessError, stage="source"):
    """The kernel source could not be had or recorded."""


class PatchError(HarnessError, stage="patches"):
    """The series does not apply or export."""


class ConfigError(HarnessError, stage="config"):
    """The kernel configuration lost an option or could not be made."""


class BuildError(HarnessError, stage="build"):
    """The kernel or a program did not build."""


class GuestError(HarnessError, stage="guest"):
    """A guest did not boot or run what it was given."""


class GuestTimeout(GuestError):
    """The guest did not finish in time (hung boot or hung command)."""


class GuestPanic(GuestError):
    """The guest kernel panicked."""


class SelftestError(HarnessError, stage="selftests"):
    """The selftests did not build or their results could not be read."""
