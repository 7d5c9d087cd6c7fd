"""The orders memory rows are listed in: by reward or visits (highest first), or by prompt.

The SQL a store sorts by and the Python sort of rows rebuilt from the log sit side by side
here, so that a listing of the memory now and one of a past point agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from ..records import MemoryRow

__all__ = ["SQL_ORDER", "SortKey", "sort_rows"]

SortKey = Literal["reward", "visits", "prompt"]

SQL_ORDER: Mapping[SortKey, str] = {
    "reward": "reward DESC, prompt",
    "visits": "visits DESC, prompt",
    "prompt": "suite, prompt",
}
"""The `ORDER BY` of each sort over the `memory` table."""


def sort_rows(rows: Iterable[MemoryRow], sort: SortKey = "prompt") -> list[MemoryRow]:
    """Rows in the order `MemoryReader.rows(sort=...)` gives them."""
    if sort == "prompt":
        return sorted(rows, key=lambda r: (r.suite, r.prompt))
    return sorted(rows, key=lambda r: (-getattr(r, sort), r.prompt))
