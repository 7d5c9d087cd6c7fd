"""Real sentence embeddings for the kNN benchmarks: up to about a million distinct lines of
English prose found on this machine, embedded once with the model the kNN memory ships.

Synthetic vectors misjudge a graph index at a million: random cluster centres in 384 dimensions
have no structure at all (HNSW recall@5 0.59 in `knn_lookup.py`), while real sentence
embeddings lie near a much lower-dimensional surface. Real text at that size is not bundled
here and nothing may be downloaded, so the corpus is the prose already on disk: comment and
docstring lines of the installed Python packages, and the lines of text files under
/usr/share (licences, manuals, READMEs). A line counts when it has at least 5 words and is
almost all letters and spaces; it is cut to its first 16 words (a request's length)
and kept once. Different machines find different lines, so the texts' sha256 is reported with
every result.

Embedding a million lines takes about 80 minutes on 2 cores, so the vectors are cached
(`--cache`, float16, resumable: the work done survives an interrupted run).

`python evals/benchmarks/corpus.py [--count 1000000] [--cache DIR]` fills the cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sysconfig
import time
from pathlib import Path

import numpy as np

from reflexrl.memory.embeddings import LocalEmbeddings

DEFAULT_CACHE = Path("/tmp/reflexrl-bench-corpus")
DIMENSIONS = 384
MAX_WORDS = 16
CHUNK = 4096
ROOTS = (Path(sysconfig.get_paths()["purelib"]), Path("/usr/share"), Path("/usr/lib/python3"))


def prose(line: str) -> str | None:
    """The line as a sentence, or None if it is not prose."""
    text = line.strip().lstrip("#").strip().strip("\"'").strip()
    words = text.split()
    if len(words) < 5 or sum(c.isalpha() or c == " " for c in text) < 0.85 * len(text):
        return None
    return " ".join(words[:MAX_WORDS])


def collect(count: int) -> list[str]:
    """Up to `count` distinct prose lines, in a fixed order (sorted walk), then shuffled."""
    seen: dict[str, None] = {}
    for root in ROOTS:
        for folder, dirs, names in os.walk(root):
            dirs.sort()
            for name in sorted(n for n in names if n.endswith((".py", ".md", ".rst", ".txt"))):
                try:
                    text = (Path(folder) / name).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                seen.update((s, None) for s in map(prose, text.splitlines()) if s)
    texts = list(seen)
    order = np.random.default_rng(0).permutation(len(texts))
    return [texts[i] for i in order[:count]]


def digest(texts: list[str]) -> str:
    return hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]


def texts(count: int, cache: Path = DEFAULT_CACHE) -> list[str]:
    """The corpus's first `count` lines (collected once, then read from the cache)."""
    cache.mkdir(parents=True, exist_ok=True)
    texts_file = cache / "texts.json"
    if texts_file.exists():
        found = json.loads(texts_file.read_text())
    else:
        found = collect(count)
        texts_file.write_text(json.dumps(found))
    if len(found) < count:
        raise SystemExit(f"only {len(found):,} prose lines in {texts_file}, {count:,} asked")
    return list(found[:count])


def embedded(
    count: int, cache: Path = DEFAULT_CACHE, *, wait: bool = False
) -> tuple[list[str], np.ndarray]:
    """`count` texts and their unit vectors (float32), embedding what the cache lacks (or,
    with `wait`, waiting for the process that embeds them)."""
    lines = texts(count, cache)
    vectors_file, done_file = cache / "vectors.f16", cache / "done.json"
    done = _done(done_file)
    while wait and done < count:
        print(f"waiting for corpus.py: {done:,} of {count:,} lines embedded", flush=True)
        time.sleep(60)
        done = _done(done_file)
    rows = vectors_file.stat().st_size // (2 * DIMENSIONS) if vectors_file.exists() else count
    vectors = np.memmap(
        vectors_file,
        dtype=np.float16,
        mode="r+" if vectors_file.exists() else "w+",
        shape=(rows, DIMENSIONS),
    )
    if len(vectors) < count:
        raise SystemExit(f"{vectors_file} holds {len(vectors):,} vectors: remove {cache}")
    model = LocalEmbeddings()
    start, first = time.perf_counter(), done
    while done < count:
        end = min(done + CHUNK, count)
        # by length, so a batch pads little (a quarter faster)
        order = sorted(range(done, end), key=lambda i: len(lines[i]))
        vectors[order] = model.embed_array([lines[i] for i in order])
        vectors.flush()
        done = end
        done_file.write_text(json.dumps({"done": done}))
        rate = (done - first) / (time.perf_counter() - start)
        print(f"embedded {done:,} of {count:,} ({rate:.0f}/s)", flush=True)
    out = np.asarray(vectors[:count], dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return lines, out


def _done(done_file: Path) -> int:
    return int(json.loads(done_file.read_text())["done"]) if done_file.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    lines, vectors = embedded(args.count, args.cache)
    print(f"{len(lines):,} texts (sha256 {digest(lines)}), vectors {vectors.shape}")


if __name__ == "__main__":
    main()
