"""Close the loop once: distil what the memory taught the local model into its weights.

For each seed: `reflexrl train` SmolLM2-135M (`local:smollm2`, the main job's defaults) on the
paper suite with the last `--holdout` prompts of each query held out; `reflexrl export
--format trl-sft` (without the memory: the decision the memory taught); fine-tune the model's
weights on those records with TRL's `SFTTrainer` (CPU, full fine-tuning); write the weights
back into a GGUF file and evaluate it with `reflexrl eval --model local:FILE.gguf --no-memory`:
the same frozen evaluation and the same scoring as `local:smollm2`. Reported per seed and
split (training prompts, held-out prompts): memory off, memory on (the exact table and the
kNN lookup), and the distilled model with memory off.

The local policy scores each action's name as the reply to the text it reads (its tool list,
the system prompt, the request: `LocalChatModel.prompt`), so each SFT record becomes that
text as the prompt and ` <action>` as the completion: the fine-tuned model is trained on
exactly what it is then scored on. Needs `pip install -e '.[local,knn,distill]'`.

    python evals/distill.py --seeds 0 1 --out evals/reports
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from seeds import reflexrl

from reflexrl.models.local.chat import LocalChatModel
from reflexrl.records import CLARIFY

ENV = dict(os.environ)
SPLITS = ("train", "heldout")
ARMS = ("off", "exact", "knn", "distilled")
SHOWN = ("success_within_2", "success_rate", "clarification_rate", "wrong_tool_rate")


def scorer_examples(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Each exported SFT record as the text the local policy reads and the action it took
    (records that read the same request and took the same action make one example)."""
    examples: list[dict[str, str]] = []
    for record in records:
        messages = record["messages"]
        model = LocalChatModel(model_name="smollm2").bind_tools(record["tools"])
        turns = [m for m in messages if m["role"] == "user" or m.get("name") == CLARIFY]
        action = messages[-1]["tool_calls"][0]["function"]["name"]
        prompt = model.prompt(messages[0]["content"], turns[-1]["content"])  # type: ignore[attr-defined]
        example = {"prompt": prompt, "completion": f" {action}"}
        if example not in examples:
            examples.append(example)
    return examples


def fine_tune(examples: list[dict[str, str]], base: Path, args: argparse.Namespace) -> Any:
    """Fine-tuning of the top `--layers` transformer layers with TRL's SFTTrainer (loss on
    the completion only; the embeddings, tied to the output layer, and the lower layers stay
    frozen: on 2 cores a full fine-tuning step of 8 examples took 114 s); the model and its
    training losses."""
    from datasets import Dataset  # noqa: PLC0415
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415
    from trl import SFTConfig, SFTTrainer  # noqa: PLC0415

    config = SFTConfig(
        output_dir=str(base.parent / "trainer"),
        num_train_epochs=args.sft_epochs,
        per_device_train_batch_size=4,
        learning_rate=args.lr,
        lr_scheduler_type="constant",
        logging_steps=5,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=args.train_seed,
        max_length=1024,
        gradient_checkpointing=False,
    )
    model = AutoModelForCausalLM.from_pretrained(base, dtype="float32")
    trained = {f"model.layers.{i}." for i in range(model.config.num_hidden_layers)[-args.layers :]}
    for name, parameter in model.named_parameters():
        parameter.requires_grad = any(name.startswith(p) for p in trained)
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(examples),
        processing_class=AutoTokenizer.from_pretrained(base),
    )
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return trainer.model, losses


def evaluate(seed: int, split: str, arm: str, db: Path, model: str, holdout: int) -> Any:
    common = ["--suite", "paper", "--seed", str(seed), "--holdout", str(holdout)]
    common += ["--split", split, "--memory", str(db)]
    if arm in ("off", "distilled"):
        return reflexrl("eval", *common, "--model", model, "--no-memory", env=ENV)[0]
    return reflexrl("eval", *common, "--model", model, "--lookup", arm, env=ENV)[0]


def run_seed(seed: int, args: argparse.Namespace, base: Path, work: Path) -> dict[str, Any]:
    from reflexrl.export.checkpoints import write_gguf  # noqa: PLC0415

    db = work / f"seed{seed}.db"
    started = time.perf_counter()
    train_args = ["--suite", "paper", "--model", "local:smollm2", "--seed", str(seed)]
    reflexrl(
        "train", *train_args, "--holdout", str(args.holdout), "--epochs", str(args.epochs),
        "--memory", str(db), env=ENV,
    )  # fmt: skip
    sft = work / f"seed{seed}-sft.jsonl"
    exported = reflexrl(
        "export", "--format", "trl-sft", "--memory", str(db), "--out", str(sft), env=ENV
    )[0]
    records = [json.loads(line) for line in sft.read_text().splitlines()]
    tuned, losses = fine_tune(scorer_examples(records), base, args)
    gguf_file = write_gguf(tuned.state_dict(), tuned.config, "smollm2", work / f"seed{seed}.gguf")
    results: dict[str, Any] = {}
    for split in SPLITS:
        for arm in ARMS:
            model = f"local:{gguf_file}" if arm == "distilled" else "local:smollm2"
            results[f"{split}/{arm}"] = evaluate(seed, split, arm, db, model, args.holdout)
    gguf_file.unlink()
    return {
        "seed": seed,
        "export": {k: v for k, v in exported.items() if k != "prompts_without_signal_list"},
        "sft_examples": len(records),
        "actions": _actions(records),
        "loss_first_last": [losses[0], losses[-1]] if losses else [],
        "seconds": round(time.perf_counter() - started, 1),
        "eval": results,
    }


def _actions(records: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        name = record["messages"][-1]["tool_calls"][0]["function"]["name"]
        counts[name] = counts.get(name, 0) + 1
    return counts


def markdown(state: dict[str, Any]) -> str:
    lines = [
        "# Distillation: the memory's decisions in SmolLM2-135M's weights",
        "",
        f"`{' '.join(state['command'])}`. Paper suite, `local:smollm2`, {state['epochs']} "
        f"epochs, the last {state['holdout']} prompts of each query held out of training "
        "(and of the export). Frozen evaluations (greedy, one pass); memory `off` / `exact` / "
        "`knn` are the base model, `distilled` is the fine-tuned model with memory off. "
        f"Fine-tuning (TRL `SFTTrainer`, CPU): {_settings(state['sft'])}.",
        "",
    ]
    for key in SHOWN:
        lines += [f"## {key}", "", "| seed | split | " + " | ".join(ARMS) + " |", "|---" * 6 + "|"]
        for run in state["runs"]:
            for split in SPLITS:
                cells = [f"{run['eval'][f'{split}/{arm}'][key]:.2f}" for arm in ARMS]
                lines.append(f"| {run['seed']} | {split} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Training data and fine-tuning", ""]
    for run in state["runs"]:
        lines.append(
            f"- seed {run['seed']}: {run['sft_examples']} SFT records "
            f"({run['export']['decisions']} decisions; actions {run['actions']}), loss "
            f"{' -> '.join(f'{x:.3f}' for x in run['loss_first_last'])}, {run['seconds']} s"
        )
    return "\n".join(lines) + "\n"


def _settings(sft: dict[str, Any]) -> str:
    return (
        f"the top {sft['layers']} of 30 layers, {sft['epochs']:g} epochs, batch {sft['batch']}, "
        f"learning rate {sft['lr']:g} (constant), loss on the completion only"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--holdout", type=int, default=2)
    parser.add_argument("--sft-epochs", type=float, default=4.0)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--layers", type=int, default=8, help="top layers fine-tuned")
    parser.add_argument("--train-seed", type=int, default=0, help="seed of the fine-tuning")
    parser.add_argument("--out", type=Path, default=Path("evals/reports"))
    args = parser.parse_args()
    from reflexrl.export.checkpoints import trainable_checkpoint  # noqa: PLC0415

    state: dict[str, Any] = {
        "command": ["python", "evals/distill.py", *sys.argv[1:]],
        "epochs": args.epochs,
        "holdout": args.holdout,
        "sft": {"epochs": args.sft_epochs, "lr": args.lr, "batch": 4, "layers": args.layers},
        "runs": [],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        base = trainable_checkpoint("smollm2", work / "base")
        for seed in args.seeds:
            state["runs"].append(run_seed(seed, args, base, work))
            within = {k: v["success_within_2"] for k, v in state["runs"][-1]["eval"].items()}
            print(f"seed {seed}: success within 2 {within}", flush=True)
            (args.out / "distill-local-smollm2.json").write_text(json.dumps(state, indent=2) + "\n")
            (args.out / "distill-local-smollm2.md").write_text(markdown(state))
    print(markdown(state))


if __name__ == "__main__":
    main()
