"""The kNN lookup searched by PostgreSQL itself: pgvector, exact for small suites and through
an HNSW index per suite past a size, so the fleet shares one index instead of each process
building its own in memory.

Prompts are embedded as `KnnLookup` embeds them (the same model, the same vector cache in
the database, the same k and threshold); their vectors go to `memory_vectors`, keyed by
(model, suite, prompt). A suite's HNSW index is partial (`WHERE model = .. AND suite = ..`),
so its search walks that suite's vectors only: no neighbour is lost to a filter applied after
the index found k of another suite's. The table and the extension are made on first use
(they need pgvector on the server: `CREATE EXTENSION vector`), outside the versioned schema.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import psycopg
from langchain_core.embeddings import Embeddings
from psycopg import sql

from ...errors import BadInputError, MemoryStoreError
from ..knn import DEFAULT_K, DEFAULT_THRESHOLD, KnnLookup
from ..lookup import RowSource, VectorCache
from ..protocols import LookupKind, Neighbour
from .schema import MIGRATION_LOCK
from .session import PostgresWriter, Session

__all__ = ["DEFAULT_ANN_THRESHOLD", "PgvectorLookup"]

DEFAULT_ANN_THRESHOLD = 10_000
"""Vectors of a suite past which it gets an HNSW index (below, an exact scan is as fast)."""
EF_SEARCH = 40
"""HNSW candidates per search by default (pgvector's own default). On a million real
all-MiniLM-L6-v2 embeddings (`evals/benchmarks/postgres.py --data real`, 2 cores) a lookup
took 3.6 ms p50 at recall@5 0.977 with 40, 3.2 ms at 0.966 with 30 and 4.1 ms at 0.984 with
60."""

_TABLE = """
CREATE TABLE IF NOT EXISTS memory_vectors (
    model TEXT NOT NULL, suite TEXT COLLATE "C" NOT NULL, prompt TEXT COLLATE "C" NOT NULL,
    memory_id BIGINT NOT NULL, embedding vector NOT NULL, PRIMARY KEY (model, suite, prompt)
);
CREATE INDEX IF NOT EXISTS memory_vectors_added ON memory_vectors (model, suite, memory_id);
"""


@dataclass
class _Suite:
    last_id: int
    """Every memory row of the suite up to this id has its prompt's vector in the table."""
    count: int
    indexed: bool = False


class PgvectorLookup:
    """The k nearest stored prompts of the suite above a similarity threshold, searched by
    pgvector in the memory's database (a `PostgresMemory` only).

    Args:
        embeddings: As for `KnnLookup` (default: all-MiniLM-L6-v2, local).
        k: Neighbours per prompt (default 5).
        threshold: Least cosine similarity of a neighbour (default 0.5).
        ann_threshold: Vectors of a suite past which it is searched through an HNSW index.
        ef_search: HNSW candidates per search (`hnsw.ef_search`): more finds more of the
            true nearest and takes longer.
    """

    kind: LookupKind = "knn"

    def __init__(
        self,
        embeddings: Embeddings | None = None,
        *,
        k: int = DEFAULT_K,
        threshold: float = DEFAULT_THRESHOLD,
        ann_threshold: int = DEFAULT_ANN_THRESHOLD,
        ef_search: int = EF_SEARCH,
    ) -> None:
        if ef_search < 1:
            raise BadInputError(f"pgvector lookup: ef_search must be at least 1, not {ef_search}")
        self.embedder = KnnLookup(embeddings, k=k, threshold=threshold)
        self.ann_threshold = ann_threshold
        self.ef_search = ef_search
        self._store: PostgresWriter | None = None
        self._suites: dict[str, _Suite] = {}
        self._lock = threading.RLock()

    def bind(self, cache: VectorCache) -> None:
        """Use the memory's database: its embedding model, vector cache and vector table.

        Raises:
            BadInputError: `cache` is not a PostgreSQL memory.
            MemoryStoreError: the server has no pgvector (or the table cannot be made).
        """
        if not isinstance(cache, PostgresWriter):
            raise BadInputError("the pgvector lookup searches a PostgreSQL memory only")
        self.embedder.bind(cache)
        self._store = cache
        with cache.transaction(write=not cache.read_only) as db:
            if not cache.read_only:
                _create_table(db, cache.location)
            elif db.value("SELECT to_regclass('memory_vectors')") is None:
                msg = (
                    f"{cache.location}: no pgvector table yet (open the memory once for "
                    "writing with this lookup)"
                )
                raise MemoryStoreError(msg)

    def configure(self, conn: psycopg.Connection) -> None:
        """Set up each connection of the memory's pool: its HNSW searches keep `ef_search`
        candidates (set once per connection, so a search is one statement)."""
        conn.execute("SELECT set_config('hnsw.ef_search', %s, false)", [str(self.ef_search)])

    def nearest(self, source: RowSource, suite: str, prompt: str) -> Sequence[Neighbour]:
        """The k most similar stored prompts with a row in `source`, above the threshold."""
        k = self.embedder.k
        with self._lock:
            state = self._synced(source, suite)
            empty = state.count == 0
        if empty:
            return []
        query = self.embedder.vectors([prompt])[0]
        hits = self._search(suite, query, 2 * k)
        close = [(p, s) for p, s in hits if s >= self.embedder.threshold]
        rows = source.lookup_many(suite, [p for p, _ in close])
        found = [Neighbour(rows[p], min(s, 1.0)) for p, s in close if p in rows]
        return found[:k]

    def _synced(self, source: RowSource, suite: str) -> _Suite:
        """The suite's state, with the vectors of the rows added since it was last read
        (a read-only store searches what is there)."""
        store = self._db()
        state = self._suites.get(suite)
        if state is None:
            state = self._suites[suite] = self._state(suite)
        new = source.prompts_after(suite, state.last_id)
        if new and not store.read_only:
            vectors = self.embedder.vectors([p for _, p in new])
            state.count += self._add(suite, new, vectors)
            state.last_id = new[-1][0]
            if state.count >= self.ann_threshold and not state.indexed:
                self._index(suite, vectors.shape[1])
                state.indexed = True
        return state

    def _state(self, suite: str) -> _Suite:
        found = """SELECT coalesce(max(memory_id), 0), count(*) FROM memory_vectors
            WHERE model = %s AND suite = %s"""
        with self._db().transaction() as db:
            last, count = db.execute(found, [self.embedder.model_id, suite]).fetchone() or (0, 0)
        return _Suite(int(last), int(count), indexed=int(count) >= self.ann_threshold)

    def _add(self, suite: str, new: list[tuple[int, str]], vectors: np.ndarray) -> int:
        model = self.embedder.model_id
        rows = [
            (model, suite, text, memory_id, _literal(vector))
            for (memory_id, text), vector in zip(new, vectors, strict=True)
        ]
        insert = """INSERT INTO memory_vectors VALUES (%s, %s, %s, %s, %s::vector)
            ON CONFLICT DO NOTHING"""
        with self._db().transaction(write=True) as db, db.conn.cursor() as cursor:
            cursor.executemany(insert, rows)
            return max(cursor.rowcount, 0)

    def _index(self, suite: str, dims: int) -> None:
        """The suite's partial HNSW index (made once, by whichever process gets there)."""
        model = self.embedder.model_id
        digest = hashlib.sha256(f"{model}\0{suite}".encode()).hexdigest()[:16]
        ddl = sql.SQL(
            "CREATE INDEX IF NOT EXISTS {} ON memory_vectors USING hnsw "
            "((embedding::vector({})) vector_cosine_ops) WHERE model = {} AND suite = {}"
        ).format(
            sql.Identifier(f"memory_vectors_hnsw_{digest}"),
            sql.Literal(dims),
            sql.Literal(model),
            sql.Literal(suite),
        )
        with self._db().transaction(write=True) as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
            db.conn.execute(ddl)
            # A table filled since its last statistics looks empty to the planner, which then
            # sorts every vector instead of using the new index (107 ms against 11 ms a
            # lookup at 100k prompts: evals/benchmarks/postgres.py).
            db.conn.execute("ANALYZE memory_vectors")

    def _search(self, suite: str, query: np.ndarray, limit: int) -> list[tuple[str, float]]:
        """(prompt, cosine similarity) of the suite's nearest vectors: one statement in
        autocommit. The model and suite are written into the statement, so the planner can
        match the suite's partial index."""
        dims = sql.Literal(int(query.shape[0]))
        search = sql.SQL(
            "SELECT prompt, 1 - (embedding::vector({dims}) <=> %s::vector({dims})) "
            "FROM memory_vectors WHERE model = {model} AND suite = {suite} "
            "ORDER BY embedding::vector({dims}) <=> %s::vector({dims}) LIMIT %s"
        ).format(
            dims=dims,
            model=sql.Literal(self.embedder.model_id),
            suite=sql.Literal(suite),
        )
        vector = _literal(query)
        with self._db().statements() as db:
            found = db.conn.execute(search, [vector, vector, limit]).fetchall()
        return [(str(p), float(s)) for p, s in found]

    def _db(self) -> PostgresWriter:
        if self._store is None:
            raise MemoryStoreError("the pgvector lookup is not bound to a memory")
        return self._store


def _create_table(db: Session, location: str) -> None:
    """The extension and the vector table, if missing (under the migration lock)."""
    db.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
    try:
        with db.conn.transaction():  # a savepoint: a refusal leaves a clear message
            db.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.Error as exc:
        msg = f"{location}: the pgvector lookup needs the `vector` extension ({exc})"
        raise MemoryStoreError(" ".join(msg.split())) from None
    db.conn.execute(_TABLE)


def _literal(vector: np.ndarray) -> str:
    """pgvector's text form of a float32 vector (exact: each float32 is written in full)."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"
