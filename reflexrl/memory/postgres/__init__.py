"""The memory on PostgreSQL, for a fleet of processes on several machines sharing one memory:
a pool of connections (psycopg 3), versioned migrations, credits applied as atomic
increments in one transaction per episode, idempotent episode writes, suites indexed.

`PostgresMemory` (store.py) implements every role protocol of `reflexrl.memory.protocols`,
with the observable behaviour of `SQLiteMemory` (the conformance test runs over both). The
roles live in modules beside it, as in `sqlite/`: the URL and connecting (`connect`), the
schema (`schema`), transactions (`session`), reads (`reader`), the run log (`run_log`), the
episode write (`writer`), the aggregates (`aggregates`), invocations waiting for a reward
(`pending`), history (`history`), the embedding cache (`vectors`) and snapshots (`snapshots`).
`PgvectorLookup` (pgvector.py) searches kNN in the database (pgvector, an HNSW index per
suite) instead of in each process. Needs the `postgres` extra.
"""

from .pgvector import PgvectorLookup
from .store import PostgresMemory

__all__ = ["PgvectorLookup", "PostgresMemory"]
