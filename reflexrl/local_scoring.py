"""Scoring a fixed set of continuations with llama.cpp, reusing the KV cache of the prefix.

A decision scores each action name as a continuation of the same prompt. The prompt's tokens
are evaluated once (only the part that differs from the previous call: the static system
prompt stays cached); each candidate then costs one batched decode of its tokens.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np


def _log_softmax(logits: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


class PrefixScorer:
    """Log-likelihoods of continuations after a prompt, on one `llama_cpp.Llama`."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self._lock = threading.Lock()

    def tokens(self, text: str, *, bos: bool) -> list[int]:
        """Tokenize with the model's tokenizer (special tokens parsed)."""
        return list(self.llama.tokenize(text.encode(), add_bos=bos, special=True))

    def score(self, prompt: str, continuations: Sequence[str]) -> dict[str, float]:
        """Sum of token log-probabilities of each continuation after `prompt`."""
        prefix = self.tokens(prompt, bos=True)
        with self._lock:
            base = self._logprobs_after(prefix)
            return {c: self._continuation(prefix, base, c) for c in continuations}

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

    def _continuation(self, prefix: list[int], base: np.ndarray[Any, Any], text: str) -> float:
        tokens = self.tokens(text, bos=False)
        total = float(base[tokens[0]])
        if len(tokens) > 1:  # one batched decode scores every later token of the candidate
            logits = self._decode_all(tokens[:-1], n_past=len(prefix))
            total += sum(
                float(_log_softmax(row)[t]) for row, t in zip(logits, tokens[1:], strict=True)
            )
        return total

    def _decode_all(self, tokens: list[int], n_past: int) -> np.ndarray[Any, Any]:
        """Decode `tokens` after the first `n_past` cached ones, keeping every token's logits.

        The cache past `n_past` is dropped first, and `n_tokens` stays at `n_past`: the
        continuation is scratch, the prefix stays cached for the next candidate and call.
        """
        llama = self.llama
        llama.n_tokens = n_past
        llama._ctx.kv_cache_seq_rm(-1, n_past, -1)
        llama._batch.set_batch(batch=tokens, n_past=n_past, logits_all=True)
        llama._ctx.decode(llama._batch)
        shape = (len(tokens), llama.n_vocab())
        return np.ctypeslib.as_array(llama._ctx.get_logits(), shape=shape).copy()

    def _last_logits(self) -> np.ndarray[Any, Any]:
        n_vocab = self.llama.n_vocab()
        return np.ctypeslib.as_array(self.llama._ctx.get_logits(), shape=(n_vocab,)).copy()
