"""The memory on SQLite: one file per memory (WAL), its schema and migrations, the run log,
the aggregates, snapshots for concurrent readers, the vector cache, the history of changes,
and the queries the inspection page runs.

`SQLiteMemory` (store.py) implements every role protocol of `reflexrl.memory.protocols`.
"""

from .store import RewardTable, SQLiteMemory

__all__ = ["RewardTable", "SQLiteMemory"]
