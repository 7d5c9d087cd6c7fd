"""The one error hierarchy of reflexrl.

Every error the library raises on purpose is a `ReflexRLError`. The CLI turns it into a
one-line message and its `exit_code` (2: bad input or usage, 1: runtime failure).
"""

from __future__ import annotations


class ReflexRLError(Exception):
    """Base class of every error reflexrl raises on purpose."""

    exit_code = 1


class BadInputError(ReflexRLError):
    """Input the user can fix: a file, a field, a flag. Exit code 2."""

    exit_code = 2


class SuiteError(BadInputError):
    """A suite that cannot be found or does not validate."""


class ModelSpecError(BadInputError):
    """A model spec that is unknown, unavailable, or missing its API key."""


class MemoryNotFoundError(BadInputError):
    """A memory database that was asked for but does not exist."""


class MemoryStoreError(ReflexRLError):
    """A memory database that cannot be read or written (schema too new, corrupt file)."""


class EpisodeError(ReflexRLError):
    """An episode that could not run to its end (the model or a tool failed)."""


class BudgetExceededError(ReflexRLError):
    """A model call was refused because the run could go over `--max-cost`."""
