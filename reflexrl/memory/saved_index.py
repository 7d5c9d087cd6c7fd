"""HNSW indexes saved beside a memory file, so that a large kNN memory opens without a rebuild.

Linking a million prompts into an HNSW graph takes about 17 minutes on 2 cores; loading the
saved graph takes seconds. A suite's index is saved as `<memory>.knn/<key>-<count>.usearch`
with a record `<key>.json` naming the file, the embedding model, the suite, the last row id it
covers and a digest of its prompts in row order. A saved index is used only while all of them
still match the memory, and while the index file itself holds the prompts' own vectors (a
sample of them is compared with the memory's: an index file copied from another memory is
caught even under a matching record); otherwise (a reset, another model, a file from
elsewhere) the lookup builds the index again, as it would without one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..files.atomic import write_text_atomically
from .vector_index import AnnIndex

SAMPLE = 32
"""Ids of a loaded index whose vectors are compared with the memory's."""
SAME_VECTOR = 0.99
"""Least cosine of a stored vector (bf16 in the index) to the memory's own."""


@dataclass(frozen=True)
class SavedIndex:
    """The record of a saved index: what it holds and which rows of the memory it covers."""

    model: str
    suite: str
    file: str
    count: int
    last_id: int
    digest: str


@dataclass(frozen=True)
class LoadedIndex:
    """A saved index that matches the memory, and the prompts it holds (by index id)."""

    ann: AnnIndex
    prompts: list[str]
    last_id: int


def prompts_digest(prompts: Sequence[str]) -> str:
    """sha256 of the prompts in order (index id i is prompts[i])."""
    digest = hashlib.sha256()
    for prompt in prompts:
        digest.update(prompt.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def _file_name(key: str, count: int) -> str:
    return f"{key}-{count}.usearch"


def _key(model: str, suite: str) -> str:
    return hashlib.sha256(f"{model}\0{suite}".encode()).hexdigest()[:16]


def save_index(
    folder: Path, model: str, suite: str, ann: AnnIndex, prompts: Sequence[str], last_id: int
) -> None:
    """Save `ann` (whose id i is prompts[i], covering rows up to `last_id`) for `suite`.

    Each file is written whole (`atomic_file`): the index first, the record last, so a
    reader sees the old pair or the new one; older index files of the suite are removed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    key = _key(model, suite)
    name = _file_name(key, len(prompts))
    ann.save(folder / name)
    record = SavedIndex(model, suite, name, len(prompts), last_id, prompts_digest(prompts))
    write_text_atomically(folder / f"{key}.json", json.dumps(asdict(record)))
    for old in folder.glob(f"{key}-*.usearch"):
        if old.name != name:
            with contextlib.suppress(OSError):  # another process may have removed it
                old.unlink()


def load_index(
    folder: Path,
    model: str,
    suite: str,
    stored: Sequence[tuple[int, str]],
    vectors: Callable[[Sequence[str]], np.ndarray],
) -> LoadedIndex | None:
    """The saved index of `suite`, if it matches `stored` (the suite's (row id, prompt) in id
    order) and holds their `vectors` (unit vectors of texts); None if there is none or it is
    stale."""
    key = _key(model, suite)
    record = _record(folder / f"{key}.json")
    if record is None or (record.model, record.suite) != (model, suite):
        return None
    if record.file != _file_name(key, record.count):  # a name, never a path elsewhere
        return None
    prompts = [prompt for row_id, prompt in stored if row_id <= record.last_id]
    if len(prompts) != record.count or prompts_digest(prompts) != record.digest:
        return None
    ann = AnnIndex.load(folder / record.file)
    if ann is None or len(ann) != record.count or not _holds(ann, prompts, vectors):
        return None
    return LoadedIndex(ann, prompts, record.last_id)


def _holds(
    ann: AnnIndex, prompts: Sequence[str], vectors: Callable[[Sequence[str]], np.ndarray]
) -> bool:
    """Whether `ann` stores each prompt's own vector under its id, checked on `SAMPLE` ids
    spread over the index (the first and last included)."""
    last = len(prompts) - 1
    ids = sorted({round(i * last / (SAMPLE - 1)) for i in range(SAMPLE)}) if prompts else []
    found = ann.stored(ids)
    expected = vectors([prompts[i] for i in ids])
    return all(
        got is not None and float(np.dot(got, want)) >= SAME_VECTOR
        for got, want in zip(found, expected, strict=True)
    )


def _record(path: Path) -> SavedIndex | None:
    try:
        return SavedIndex(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
