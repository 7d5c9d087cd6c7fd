"""The Postgres memory as the kNN lookup's `VectorCache`: embeddings kept in the database (so
each text is embedded once, across the fleet) and the embedding model they were made with.
There is no index folder: every process builds its in-memory index from the cached vectors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ...errors import MemoryStoreError
from .session import PostgresWriter, now

__all__ = ["PostgresVectorCache"]


class PostgresVectorCache(PostgresWriter):
    """The `VectorCache` of a Postgres memory."""

    def index_folder(self) -> Path | None:
        """None: a database has no folder beside it to keep large vector indexes in."""
        return None

    def embedding_model(self) -> str | None:
        """The embedding model this memory's kNN lookup was built with (None: not yet)."""
        sql = "SELECT value FROM memory_meta WHERE key = 'embedding_model'"
        with self._reading() as db:
            found = db.value(sql)
        return None if found is None else str(found)

    def bind_embedding_model(self, model_id: str) -> None:
        """Record the embedding model (the first time), or refuse a different one.

        Raises:
            MemoryStoreError: the memory was built with another embedding model.
        """
        recorded = self.embedding_model()
        if recorded is None and not self.read_only:
            with self._write(logged=False) as db:
                record = {"key": "embedding_model", "value": model_id}
                db.insert_new("memory_meta", record, key="key")
            recorded = self.embedding_model()
        if recorded is not None and recorded != model_id:
            msg = (
                f"{self.location}: its kNN lookup was built with the embedding model "
                f"'{recorded}', not '{model_id}' (vectors of two models cannot be compared)"
            )
            raise MemoryStoreError(msg)

    def cached_vectors(self, model_id: str, hashes: Sequence[str]) -> dict[str, bytes]:
        """Stored embeddings (float32 bytes) of the texts with these hashes, by hash."""
        sql = "SELECT text_hash, vector FROM embeddings WHERE model = %s AND text_hash = ANY(%s)"
        with self._reading() as db:
            return {str(h): bytes(v) for h, v in db.execute(sql, [model_id, list(hashes)])}

    def cache_vectors(self, model_id: str, vectors: dict[str, bytes]) -> None:
        """Keep embeddings (float32 bytes by text hash) in the database (nothing if
        read-only); a vector another process stored first is kept."""
        if self.read_only or not vectors:
            return
        at = now()
        rows = [(model_id, h, len(v) // 4, v, at) for h, v in vectors.items()]
        sql = "INSERT INTO embeddings VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
        with self._write(logged=False) as db, db.conn.cursor() as cursor:
            cursor.executemany(sql, rows)
