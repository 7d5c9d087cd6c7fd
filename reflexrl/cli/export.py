"""`reflexrl export`: the log as training data for a weight-update stage."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Annotated, Literal

import typer

from ..envs.suite import Suite, bundled_suites
from ..errors import BadInputError
from ..export import (
    ExportFormat,
    ExportOptions,
    check_dataset_dir,
    export_records,
    save_dataset,
    write_jsonl,
)
from ..files.atomic import check_folder
from ..memory import MemoryStore, open_memory
from .common import DEFAULT_MEMORY, JsonOpt, MemoryOpt, check_out, cli_errors, err, print_json, say


@cli_errors
def export_cmd(
    out_path: Annotated[
        Path,
        typer.Option(
            "--out",
            help="FILE.jsonl (JSON lines), or a new directory: a Hugging Face dataset "
            "(`datasets.load_from_disk`; needs the `distill` extra).",
        ),
    ],
    format: Annotated[ExportFormat, typer.Option(help="Record format.")] = "trl-sft",
    memory: MemoryOpt = DEFAULT_MEMORY,
    suite: Annotated[
        str | None,
        typer.Option(help="Suite of the runs (default: theirs, if it is bundled)."),
    ] = None,
    run: Annotated[list[str] | None, typer.Option(help="Only this run (repeatable).")] = None,
    epoch: Annotated[
        list[int] | None, typer.Option(min=1, help="Only this epoch (repeatable).")
    ] = None,
    last_epochs: Annotated[
        int | None, typer.Option(min=1, help="Only the last N epochs of each run.")
    ] = None,
    explored: Annotated[
        Literal["include", "exclude", "only"],
        typer.Option(help="Episodes that saw every value as zero (epsilon resets)."),
    ] = "include",
    successful_only: Annotated[
        bool, typer.Option("--successful-only", help="Only episodes that reached a valid tool.")
    ] = False,
    min_visits: Annotated[
        int, typer.Option(min=1, help="Only prompts decided on at least N times.")
    ] = 1,
    dedupe: Annotated[bool, typer.Option(help="Write each distinct record once.")] = True,
    with_memory: Annotated[
        bool,
        typer.Option(
            "--with-memory",
            help="Keep the memory block the agent saw (distils the memory-conditioned "
            "policy). Default: without it, the decision the memory taught, for a model that "
            "runs without memory.",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Export the log as training data for a weight-update stage (SFT, DPO, KTO, GRPO).

    Every record carries the tool schemas the agent was offered.

    The memory is only read; the output is written whole or not at all.

    Example: reflexrl export --format trl-dpo --last-epochs 5 --out dpo.jsonl
    """
    as_jsonl = out_path.suffix == ".jsonl"
    _check_export_output(out_path, as_jsonl, memory)
    options = ExportOptions(
        format=format,
        runs=tuple(run or ()),
        epochs=tuple(epoch or ()),
        last_epochs=last_epochs,
        explored=explored,
        successful_only=successful_only,
        min_visits=min_visits,
        dedupe=dedupe,
        with_memory=with_memory,
    )
    with closing(open_memory(memory, read_only=True)) as store:
        loaded = Suite.load(suite or _runs_suite(store, options.runs))
        result = export_records(store, loaded, options)
    (write_jsonl if as_jsonl else save_dataset)(result, out_path)
    summary = result.summary()
    if json_out:
        print_json({**summary, "out": str(out_path)})
        return
    say(f"wrote {summary['records']} {format} records to {out_path}", err)
    say(
        f"{summary['decisions']} decisions, {summary['situations']} situations, "
        f"{summary['duplicates']} duplicates left out, {summary['prompts_without_signal']} "
        "prompts without a preference signal (every decision the same reward)",
        err,
    )


def _runs_suite(store: MemoryStore, runs: Sequence[str]) -> str:
    """The one suite of the runs to export (all runs if none is named)."""
    known = {r.run_id: r.suite for r in store.runs()}
    unknown = [r for r in runs if r not in known]
    if unknown:
        raise BadInputError(f"--run: no run {unknown[0]!r} in {store.location}")
    suites = {s for r, s in known.items() if not runs or r in runs}
    if len(suites) != 1:
        found = ", ".join(sorted(suites)) or "none"
        raise BadInputError(f"--suite: name the suite to export (suites in the memory: {found})")
    name = suites.pop()
    if name not in bundled_suites():
        raise BadInputError(f"--suite: suite {name} is not bundled: pass its YAML file")
    return name


def _check_export_output(path: Path, as_jsonl: bool, memory: str) -> None:
    """Refuse an output that cannot be written before anything is read."""
    if as_jsonl:
        check_out(path, memory)
        return
    try:
        check_dataset_dir(path)
        check_folder(path)
    except BadInputError as exc:
        raise BadInputError(f"--out: {exc}") from None
