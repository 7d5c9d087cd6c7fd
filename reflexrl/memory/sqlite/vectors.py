"""The SQLite memory as the kNN lookup's `VectorCache`: embeddings kept in the file (so each
text is embedded once, across processes), the embedding model they were made with, and the
folder beside the file for vector indexes too large to rebuild on every open."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ...errors import MemoryStoreError
from .codecs import storable
from .writer import SQLiteWriter, now

__all__ = ["SQLiteVectorCache", "index_folder_of"]

_CHUNK = 500
"""Hashes per query (SQLite limits the parameters of one statement)."""


class SQLiteVectorCache(SQLiteWriter):
    """The `VectorCache` of a SQLite memory at `path`."""

    path: Path

    def index_folder(self) -> Path | None:
        """Where a kNN lookup keeps its large vector indexes: `<file>.knn/` beside the file
        (None for ":memory:")."""
        return None if self.location == ":memory:" else index_folder_of(self.path)

    def embedding_model(self) -> str | None:
        """The embedding model this memory's kNN lookup was built with (None: not yet)."""
        sql = "SELECT value FROM memory_meta WHERE key = 'embedding_model'"
        found = self.db.execute(sql).fetchone()
        return None if found is None else str(found[0])

    def bind_embedding_model(self, model_id: str) -> None:
        """Record the embedding model (the first time), or refuse a different one.

        Raises:
            MemoryStoreError: the file was built with another embedding model.
        """
        recorded = self.embedding_model()
        if recorded is None and not self.read_only:
            with self._write() as db:
                db.execute(
                    "INSERT OR IGNORE INTO memory_meta VALUES ('embedding_model', ?)",
                    storable([model_id]),
                )
            recorded = self.embedding_model()
        if recorded is not None and recorded != model_id:
            msg = (
                f"{self.location}: its kNN lookup was built with the embedding model "
                f"'{recorded}', not '{model_id}' (vectors of two models cannot be compared)"
            )
            raise MemoryStoreError(msg)

    def cached_vectors(self, model_id: str, hashes: Sequence[str]) -> dict[str, bytes]:
        """Stored embeddings (float32 bytes) of the texts with these hashes, by hash."""
        found: dict[str, bytes] = {}
        for start in range(0, len(hashes), _CHUNK):
            chunk = list(hashes[start : start + _CHUNK])
            marks = ", ".join("?" * len(chunk))
            sql = (
                "SELECT text_hash, vector FROM embeddings "
                f"WHERE model = ? AND text_hash IN ({marks})"
            )
            found.update(self.db.execute(sql, storable([model_id, *chunk])).fetchall())
        return found

    def cache_vectors(self, model_id: str, vectors: dict[str, bytes]) -> None:
        """Keep embeddings (float32 bytes by text hash) in the file (nothing if read-only)."""
        if self.read_only or not vectors:
            return
        at = now()
        rows = [(model_id, h, len(v) // 4, v, at) for h, v in vectors.items()]
        with self._write() as db:
            db.conn.executemany("INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?, ?, ?)", rows)


def index_folder_of(path: Path) -> Path:
    """The kNN index folder of the memory file at `path`."""
    return path.with_name(path.name + ".knn")
