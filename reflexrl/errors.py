"""The one error hierarchy of reflexrl.

Every error the library raises on purpose is a `ReflexRLError`. The CLI turns it into a
one-line message and its `exit_code` (2: bad input or usage, 1: runtime failure). An error
about one setting names it in `setting` (a `RunConfig` field or a parameter: `max_cost`)
and its text begins with it (`max_cost: ...`); the CLI shows the flag instead
(`--max-cost: ...`).
"""

from __future__ import annotations

from typing import Any


class ReflexRLError(Exception):
    """Base class of every error reflexrl raises on purpose.

    Attributes:
        message: The text without the setting.
        setting: The setting the error is about (None: no one setting).
    """

    exit_code = 1

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.message, self.setting = message, setting

    def __str__(self) -> str:
        return f"{self.setting}: {self.message}" if self.setting else self.message


class BadInputError(ReflexRLError):
    """Input the user can fix: a file, a field, a flag. Exit code 2."""

    exit_code = 2


class SuiteError(BadInputError):
    """A suite that cannot be found or does not validate."""


class ModelSpecError(BadInputError):
    """A model spec that is unknown, unavailable, or missing its API key."""


class MemoryNotFoundError(BadInputError):
    """A memory database that was asked for but does not exist."""


class MemoryStoreError(BadInputError):
    """A file that cannot be used as a memory database (or response cache): not SQLite,
    truncated, a directory, a newer schema, another application's tables. Exit code 2."""


class FeedbackError(BadInputError):
    """A reward for an invocation that cannot take it: unknown, expired, or out of range."""


class JudgeError(ReflexRLError):
    """A judge's reply that is not a judgment (it breaks the schema, or names a label that
    does not apply): the judge counts it as a failure and credits nothing. `usage` is what
    the call consumed (it is paid for all the same)."""

    def __init__(self, message: str, *, usage: Any = None) -> None:
        super().__init__(message)
        self.usage = usage


class EpisodeError(ReflexRLError):
    """An episode that could not run to its end (the model or a tool failed)."""


class RunFailedError(EpisodeError):
    """A training run stopped because too many episodes failed in a row.

    Attributes:
        result: The run as it stands (a `TrainResult` with status "failed"): it is saved,
            and `resume` continues it.
    """

    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        self.result = result


class BudgetExceededError(ReflexRLError):
    """A model call was refused because the run could go over its budget (setting
    `max_cost`)."""

    def __init__(self, message: str, *, setting: str | None = "max_cost") -> None:
        super().__init__(message, setting=setting)
