"""Scoring a fixed set of continuations with llama.cpp, reusing the KV cache of the prefix.

A decision scores each action name as a continuation of the same prompt. The prompt's tokens
are evaluated once (only the part that differs from the previous call: the static system
prompt stays cached). Then every candidate is scored in one decode: the candidates' tokens
form a trie (shared leading tokens are one batch entry), each candidate is a llama.cpp
sequence that shares the prefix's cache cells, and every entry keeps its logits. The scores
of a prompt already scored are remembered: a frozen memory shows the same text again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["MAX_CANDIDATES", "REMEMBERED", "PrefixScorer", "parallel_context"]

MAX_CANDIDATES = 31
"""Candidates one decision can score (llama.cpp sequences besides the prefix's)."""
REMEMBERED = 4096
"""Scored prompts kept (least recently used dropped)."""


def _log_softmax(logits: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


def parallel_context(llama: Any) -> None:
    """Give `llama` a context whose KV cache is shared by up to `MAX_CANDIDATES` + 1
    sequences (the prefix's and one per candidate), in place of the one it was built with."""
    from llama_cpp._internals import LlamaContext  # noqa: PLC0415  (optional dependency)

    params = llama.context_params
    params.n_seq_max = MAX_CANDIDATES + 1
    params.kv_unified = True
    llama._ctx.close()
    llama._ctx = LlamaContext(model=llama._model, params=params, verbose=False)
    llama.n_tokens = 0


@dataclass
class _Node:
    """A trie entry: one token after its parent's, on the sequences of every candidate
    passing through it."""

    token: int
    depth: int
    seqs: list[int] = field(default_factory=list)
    children: dict[int, _Node] = field(default_factory=dict)


class PrefixScorer:
    """Log-likelihoods of continuations after a prompt, on one `llama_cpp.Llama` whose
    context was made by `parallel_context`."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self._lock = threading.Lock()
        self._seen: OrderedDict[tuple[str, tuple[str, ...]], dict[str, float]] = OrderedDict()

    def tokens(self, text: str, *, bos: bool) -> list[int]:
        """Tokenize with the model's tokenizer (special tokens parsed)."""
        return list(self.llama.tokenize(text.encode(), add_bos=bos, special=True))

    def score(self, prompt: str, continuations: Sequence[str]) -> dict[str, float]:
        """Sum of token log-probabilities of each continuation after `prompt`."""
        if len(continuations) > MAX_CANDIDATES:
            raise ValueError(f"at most {MAX_CANDIDATES} continuations, got {len(continuations)}")
        key = (prompt, tuple(continuations))
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return dict(self._seen[key])
            prefix = self.tokens(prompt, bos=True)
            base = self._logprobs_after(prefix)
            scores = self._continuations(len(prefix), base, continuations)
            self._seen[key] = scores
            if len(self._seen) > REMEMBERED:
                self._seen.popitem(last=False)
            return dict(scores)

    def _logprobs_after(self, prefix: list[int]) -> np.ndarray[Any, Any]:
        llama = self.llama
        cached = llama.input_ids[: llama.n_tokens].tolist()
        common = 0
        for a, b in zip(cached, prefix, strict=False):
            if a != b:
                break
            common += 1
        llama.n_tokens = min(common, len(prefix) - 1)  # always re-decode at least one token
        llama.eval(prefix[llama.n_tokens :])
        return _log_softmax(self._last_logits())

    def _continuations(
        self, n_past: int, base: np.ndarray[Any, Any], texts: Sequence[str]
    ) -> dict[str, float]:
        """Each text's log-likelihood: its first token from `base`, the rest from one
        decode of the trie of every text's tokens but the last."""
        tokens = [self.tokens(t, bos=False) for t in texts]
        root = _Node(token=-1, depth=0)
        paths: list[list[_Node]] = []
        for seq, toks in enumerate(tokens, start=1):
            node, path = root, []
            for depth, token in enumerate(toks[:-1]):
                node = node.children.setdefault(token, _Node(token, depth))
                node.seqs.append(seq)
                path.append(node)
            paths.append(path)
        nodes = _flatten(root)
        rows = self._decode_trie(nodes, n_past) if nodes else np.empty((0, 0))
        index = {id(node): i for i, node in enumerate(nodes)}
        scores = {}
        for text, toks, path in zip(texts, tokens, paths, strict=True):
            total = float(base[toks[0]])
            for node, nxt in zip(path, toks[1:], strict=True):
                total += float(_log_softmax(rows[index[id(node)]])[nxt])
            scores[text] = total
        return scores

    def _decode_trie(self, nodes: list[_Node], n_past: int) -> np.ndarray[Any, Any]:
        """Decode every trie entry after the first `n_past` cached tokens, keeping the
        logits of each. The candidates' sequences share the prefix's cells and are dropped
        after; the prefix stays cached for the next candidate set and call."""
        llama = self.llama
        ctx, batch = llama._ctx, llama._batch.batch
        ctx.kv_cache_seq_rm(-1, n_past, -1)
        n_seqs = max(s for node in nodes for s in node.seqs)
        for seq in range(1, n_seqs + 1):
            ctx.kv_cache_seq_cp(0, seq, 0, n_past)
        batch.n_tokens = len(nodes)
        for i, node in enumerate(nodes):
            batch.token[i] = node.token
            batch.pos[i] = n_past + node.depth
            batch.n_seq_id[i] = len(node.seqs)
            for j, seq in enumerate(node.seqs):
                batch.seq_id[i][j] = seq
            batch.logits[i] = True
        try:
            ctx.decode(llama._batch)
            shape = (len(nodes), llama.n_vocab())
            return np.ctypeslib.as_array(ctx.get_logits(), shape=shape).copy()
        finally:
            for seq in range(1, n_seqs + 1):
                ctx.kv_cache_seq_rm(seq, -1, -1)
            llama.n_tokens = n_past

    def _last_logits(self) -> np.ndarray[Any, Any]:
        n_vocab = self.llama.n_vocab()
        return np.ctypeslib.as_array(self.llama._ctx.get_logits(), shape=(n_vocab,)).copy()


def _flatten(root: _Node) -> list[_Node]:
    """The trie's entries, parents before children."""
    out, todo = [], list(root.children.values())
    while todo:
        node = todo.pop(0)
        out.append(node)
        todo.extend(node.children.values())
    return out
