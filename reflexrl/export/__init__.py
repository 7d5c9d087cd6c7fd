"""Distillation export: the log's decisions as training data for a weight-update stage.

```python
from reflexrl import Suite, open_memory
from reflexrl.export import export_records, write_jsonl

result = export_records(open_memory("memory/reflexrl.db"), Suite.load("paper"), format="trl-dpo")
write_jsonl(result, "dpo.jsonl")
```

See `formats` for what each format holds and `selection.ExportOptions` for the filters.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.utils.function_calling import convert_to_openai_tool

from ..agent.build import SYSTEM_PROMPT
from ..envs.clarification import ask_user_for_clarification
from ..envs.suite import Suite
from ..errors import BadInputError
from ..files.atomic import new_mode, replacing
from ..memory import MemoryStore
from ..prompt.instructions import static_system
from .decisions import Decision
from .formats import Context, Record, build, kto_label, pairs
from .schemas import SCHEMAS
from .selection import FORMATS, ExportFormat, ExportOptions, Situation, select, situations
from .tool_reward import called_action, tool_reward

DATASETS_HINT = "pip install 'reflexrl[distill]'"


@dataclass(frozen=True)
class ExportResult:
    """An export's records and what the log held for them."""

    format: ExportFormat
    records: tuple[Record, ...]
    decisions: int
    """Decisions that passed the filters."""
    situations: int
    duplicates: int
    """Records left out as copies of one already written (with `dedupe`)."""
    pairs: int = 0
    """DPO pairs (before deduplication)."""
    labels: Mapping[str, int] = field(default_factory=dict)
    """KTO labels: desirable / undesirable."""
    without_signal: tuple[str, ...] = ()
    """Prompts whose decisions all earned the same reward: no preference to learn there (RL
    trainers skip such zero-variance groups)."""

    def summary(self) -> dict[str, Any]:
        """What was exported, without the records (`reflexrl export --json`)."""
        return {
            "format": self.format,
            "records": len(self.records),
            "decisions": self.decisions,
            "situations": self.situations,
            "duplicates": self.duplicates,
            "dpo_pairs": self.pairs,
            "kto_labels": dict(self.labels),
            "prompts_without_signal": len(self.without_signal),
            "prompts_without_signal_list": list(self.without_signal),
        }


def export_records(
    memory: MemoryStore,
    suite: Suite,
    options: ExportOptions | None = None,
    *,
    system_prompt: str = SYSTEM_PROMPT,
    **settings: Any,
) -> ExportResult:
    """The records of one format, from the suite's runs in `memory`.

    Args:
        memory: The memory whose log to read (read only).
        suite: The suite the runs trained on (its tools and valid tools).
        options: Filters and format (`**settings` override its fields).
        system_prompt: The agent's own system prompt (default: the CLI agent's).

    Raises:
        BadInputError: an unknown run, no run of the suite, nothing that passes the filters,
            no data the format needs (no DPO pair), memory blocks asked for but not logged.
    """
    options = ExportOptions.model_validate(
        {**(options or ExportOptions()).model_dump(), **settings}
    )
    chosen = select(memory, suite.name, options)
    if not chosen:
        raise BadInputError(
            f"{memory.location}: no decision of suite {suite.name} passes the filters"
        )
    groups = situations(chosen)
    ctx = Context(
        tools=tuple(_tools(suite)),
        valid_tools={q.id: sorted(q.valid_tools) for q in suite.spec.queries},
        system=_system(memory, suite.name, options, system_prompt, chosen),
    )
    records, duplicates = _unique(list(build(options.format, groups, ctx)), options.dedupe)
    if not records:
        raise BadInputError(f"{options.format}: {_why_empty(options.format, len(chosen))}")
    schema = SCHEMAS[options.format]
    for record in records:
        schema.model_validate(record)
    return ExportResult(
        format=options.format,
        records=tuple(records),
        decisions=len(chosen),
        situations=len(groups),
        duplicates=duplicates,
        pairs=sum(1 for _ in pairs(groups)) if options.format.endswith("dpo") else 0,
        labels=_labels(groups) if options.format == "trl-kto" else {},
        without_signal=tuple(g.decisions[0].prompt for g in groups if not g.has_signal),
    )


def write_jsonl(result: ExportResult, path: str | Path) -> Path:
    """Write the records as JSON lines, whole or not at all; the path written.

    Raises:
        BadInputError: the file cannot be written.
    """
    target = Path(path)
    try:
        with replacing(target) as tmp, tmp.open("w", encoding="utf-8") as out:
            for record in result.records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise BadInputError(f"{target}: cannot write ({exc.strerror or exc})") from exc
    return target


def save_dataset(result: ExportResult, directory: str | Path) -> Path:
    """Save the records as a Hugging Face dataset directory (`datasets.load_from_disk`),
    built beside it and renamed into place: whole or not at all.

    Raises:
        BadInputError: the directory exists and is not empty, or cannot be written.
    """
    target = Path(directory)
    check_dataset_dir(target)
    dataset = to_dataset(result)
    try:
        temp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    except OSError as exc:
        raise BadInputError(f"{target}: cannot write ({exc.strerror or exc})") from exc
    try:
        dataset.save_to_disk(str(temp))
        temp.chmod(new_mode(target, directory=True))  # mkdtemp's is 0700
        temp.replace(target)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return target


def check_dataset_dir(path: Path) -> None:
    """Refuse a dataset directory that exists and is not empty (or is not a directory)."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BadInputError(f"{path}: exists and is not an empty directory")


def to_dataset(result: ExportResult) -> Any:
    """The records as a Hugging Face `datasets.Dataset` (the `distill` extra)."""
    try:
        from datasets import Dataset  # noqa: PLC0415  (optional dependency)
    except ImportError as exc:
        raise BadInputError(f"a Hugging Face dataset needs `datasets`: {DATASETS_HINT}") from exc
    return Dataset.from_list([dict(r) for r in result.records])


def _tools(suite: Suite) -> list[dict[str, Any]]:
    """The tools in the order the agent is offered them (the middleware's tool first)."""
    return [convert_to_openai_tool(t) for t in [ask_user_for_clarification, *suite.tools]]


def _system(
    memory: MemoryStore,
    suite: str,
    options: ExportOptions,
    prompt: str,
    chosen: Sequence[Decision],
) -> Any:
    if not options.with_memory:
        text = static_system(prompt)
        return lambda d: text
    missing = next((d for d in chosen if d.block is None), None)
    if missing is not None:
        msg = (
            f"with_memory: run {missing.run_id} episode {missing.episode} logged no memory "
            "block (trained with memory off?)"
        )
        raise BadInputError(msg)
    renders = {r.run_id: str(r.settings.get("render", "focused")) for r in memory.runs()}
    statics = {run: static_system(prompt, render) for run, render in renders.items()}
    return lambda d: f"{statics[d.run_id]}\n\n{d.block}"


def _unique(records: list[Record], dedupe: bool) -> tuple[list[Record], int]:
    if not dedupe:
        return records, 0
    seen: set[str] = set()
    kept = []
    for record in records:
        key = json.dumps(record, sort_keys=True)
        if key not in seen:
            seen.add(key)
            kept.append(record)
    return kept, len(records) - len(kept)


def _labels(groups: Sequence[Situation]) -> dict[str, int]:
    labels = [kto_label(d, g) for g in groups for d in g.decisions]
    return {"desirable": labels.count(True), "undesirable": labels.count(False)}


def _why_empty(fmt: str, decisions: int) -> str:
    if fmt.endswith("dpo"):
        return (
            f"no preference pair in {decisions} decisions (a pair needs a wrong tool and a "
            "better action taken on the same conversation)"
        )
    return f"no record from {decisions} decisions (no action that earned 0 or more)"


__all__ = [
    "FORMATS",
    "SCHEMAS",
    "ExportFormat",
    "ExportOptions",
    "ExportResult",
    "called_action",
    "check_dataset_dir",
    "export_records",
    "save_dataset",
    "to_dataset",
    "tool_reward",
    "write_jsonl",
]
