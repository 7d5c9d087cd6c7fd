"""The value memory: what it is (protocols), how it learns (the credit rule), how a prompt
finds it (lookups: exact, kNN), what it advises, its history, and its stores.

Open a memory with `open_memory(path, lookup="exact" | "knn")`; every store implements
`MemoryStore` and passes the same conformance tests; `copy_memory` copies one store into
another by replaying its log; `queries` is what the page and `memory log` read beyond the
protocols, in SQL both stores run. `sqlite/` is the SQLite store, split by role (store,
reader, run log, pending invocations, aggregates, vectors, snapshots, codecs, schema,
history); `postgres/` the PostgreSQL store (`open_memory("postgresql://...")`), split the
same way, imported on first use (it needs the `postgres` extra).

Within reflexrl, this subpackage imports only `files`, `safety` and the leaves (`errors`,
`records`, `usage`, `event_loop`): nothing from the layers above it (rewards, envs, prompt,
models, loop and what builds on them; `tests/test_architecture.py` checks it).
"""

from typing import TYPE_CHECKING, Any

from .advice import Advice, Exploration, advice_for, advise
from .copy import CopyError, CopyReport, copy_memory
from .credit import RewardCredit, credits
from .history import Point, RowChange, diff
from .knn import KnnLookup
from .lookup import ActionEstimate, ExactLookup, Lookup, best_estimated, estimate
from .open import (
    check_memory,
    make_lookup,
    memory_exists,
    memory_files,
    memory_location,
    open_memory,
)
from .ordering import SortKey, sort_rows
from .protocols import (
    EpisodeWriter,
    LookupKind,
    MemoryHistory,
    MemoryReader,
    MemoryStore,
    Neighbour,
    PendingLog,
    RunLog,
)
from .sqlite.store import RewardTable, SQLiteMemory

if TYPE_CHECKING:
    from .postgres.store import PostgresMemory

__all__ = [
    "ActionEstimate",
    "Advice",
    "CopyError",
    "CopyReport",
    "EpisodeWriter",
    "ExactLookup",
    "Exploration",
    "KnnLookup",
    "Lookup",
    "LookupKind",
    "MemoryHistory",
    "MemoryReader",
    "MemoryStore",
    "Neighbour",
    "PendingLog",
    "Point",
    "PostgresMemory",
    "RewardCredit",
    "RewardTable",
    "RowChange",
    "RunLog",
    "SQLiteMemory",
    "SortKey",
    "advice_for",
    "advise",
    "best_estimated",
    "check_memory",
    "copy_memory",
    "credits",
    "diff",
    "estimate",
    "make_lookup",
    "memory_exists",
    "memory_files",
    "memory_location",
    "open_memory",
    "sort_rows",
]


def __getattr__(name: str) -> Any:
    """`PostgresMemory`, imported when first asked for (psycopg is an optional extra)."""
    if name == "PostgresMemory":
        from .postgres.store import PostgresMemory  # noqa: PLC0415  (the postgres extra)

        return PostgresMemory
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
