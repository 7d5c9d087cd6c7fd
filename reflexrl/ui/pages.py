"""The pages as HTML: Jinja2 templates shipped in the package, every value escaped
(autoescape) with its control, format and separator characters shown as escapes, no script,
no asset from anywhere but the page itself."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from ..errors import BadInputError
from ..loop.report import usage_summary
from ..loop.train import EpochMetrics
from ..memory import queries
from ..memory.queries import InspectableMemory
from ..safety.text import visible
from . import data, plots

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
    "base-uri 'none'"
)
"""What a page may load: its own inline style and `data:` images; no script, nothing remote."""

COLUMNS = (
    ("query", "query"),
    ("prompt", "prompt"),
    ("best", "best action"),
    ("reward", "reward"),
    ("visits", "visits"),
    ("clarifications", "clarifications"),
    ("mean", "mean reward"),
)
COMPARE_KEYS = ("success_rate", "success_within_2", "clarification_rate", "wrong_tool_rate")
CONVERSATION = "conversation_"
"""The prefix of the conversation-level scores `eval --record` keeps (goal reached, user
turns, gave up)."""


def _compared(evaluation: dict[str, Any]) -> list[str]:
    """The metrics an evaluation's table shows: `eval --record`'s four and the conversation
    scores it recorded, or those it holds (`bench` records macro-F1 and the rates)."""
    held = [
        *evaluation["before"],
        *(k for k in evaluation["after"] if k not in evaluation["before"]),
    ]
    if any(key in held for key in COMPARE_KEYS):
        return [*COMPARE_KEYS, *(k for k in held if k.startswith(CONVERSATION))]
    return held


def _signed(value: float) -> str:
    return f"{value:+.3g}" if value else "0"


def _as_json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


_BETWEEN_BREAKS = re.compile(r"[^\n\r\t]+")


def shown(value: Any) -> Any:
    """What `{{ value }}` writes (before escaping): text with every control, format or
    separator character shown as an escape, as the terminal shows it (`visible`), since raw
    an ESC, a NUL or a bidi override would reach the reader and U+2028 would break a line
    where the page has none. Newlines and tabs stay: in HTML they are whitespace, or the
    lines of a `<pre>` (a memory block, a message). Markup (a macro's output) is already
    made of shown values."""
    if not isinstance(value, str) or isinstance(value, Markup) or value.isprintable():
        return value
    return _BETWEEN_BREAKS.sub(lambda found: visible(found[0]), value)


def prompt_url(suite: str, prompt: str, page: int = 1) -> str:
    """The prompt page's address: of the raw text (percent-encoded), not of what is shown,
    so the link finds the prompt whatever characters it holds."""
    query = {"suite": suite, "prompt": prompt} | ({"page": str(page)} if page > 1 else {})
    return "/prompt?" + urlencode(query)


@cache
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("reflexrl.ui"),
        autoescape=select_autoescape(default=True),
        finalize=shown,
    )
    env.filters["signed"] = _signed
    env.filters["as_json"] = _as_json
    env.globals["prompt_url"] = prompt_url
    env.globals["css"] = files("reflexrl.ui").joinpath("templates/style.css").read_text()
    env.globals["csp"] = CSP
    return env


def render(template: str, store: InspectableMemory, *, links: bool = True, **values: Any) -> str:
    """A page of `store`."""
    return _env().get_template(template).render(location=store.location, links=links, **values)


def index_page(
    store: InspectableMemory, *, search: str, sort: str, descending: bool, page: int
) -> str:
    """The memory table (one page of it), the runs, the resets and rollbacks."""
    view = data.memory_page(store, search=search, sort=sort, descending=descending, page=page)

    def url(**change: Any) -> str:
        query = {"q": search, "sort": sort, "order": "desc" if descending else "asc"} | change
        return "/?" + urlencode({k: v for k, v in query.items() if v not in ("", None)})

    def sort_url(column: str) -> str:
        flip = column == sort and descending
        return url(sort=column, order="asc" if flip else "desc")

    return render(
        "index.html",
        store,
        page=view,
        counts=data.counts(store),
        runs=data.runs(store),
        changes=queries.changes_of(store),
        columns=COLUMNS,
        sortable=data.SORTS,
        sort_url=sort_url,
        page_url=lambda n: url(page=n),
    )


def prompt_page(store: InspectableMemory, suite: str, prompt: str, page: int) -> str:
    """A prompt: its row, its credits (plotted), the episodes that credited it."""
    view = data.prompt_page(store, suite, prompt, page=page)
    history = (
        plots.reward_history(
            [c.number for c in view.credits],
            [c.reward for c in view.credits],
            [c.row.reward / c.row.visits for c in view.credits],
        )
        if view.credits
        else ""
    )
    return render(
        "prompt.html",
        store,
        suite=suite,
        prompt=prompt,
        view=view,
        history_plot=history,
        episodes_url=lambda n: prompt_url(suite, prompt, n),
    )


def episode_page(store: InspectableMemory, episode_id: int) -> str:
    """An episode: its steps and its trajectory, with the memory block of each model call."""
    return render("episode.html", store, view=data.episode_page(store, episode_id))


def run_values(store: InspectableMemory, run_id: str | None) -> dict[str, Any]:
    """What the run page and the HTML report show (default: the latest run)."""
    if run_id is None:
        runs = store.runs()
        if not runs:
            raise BadInputError(f"{store.location}: no runs recorded yet")
        run_id = runs[-1].run_id
    view = data.run_view(store, run_id)
    fig = view.fig4
    return {
        "report": view,
        "usage": usage_summary(view.usage),
        "curves_plot": _curves(view.epochs),
        "fig": fig,
        "fig_plot": _fig4_plot(fig),
        "evaluations": [ev | {"keys": _compared(ev)} for ev in data.evaluations(store, run_id)],
    }


def run_page(store: InspectableMemory, run_id: str) -> str:
    """A run: learning curves, Fig. 4, Table 2, usage and cost, recorded evaluations."""
    return render("run.html", store, **run_values(store, run_id))


def report_html(store: InspectableMemory, run_id: str | None = None) -> str:
    """The run page as one self-contained file (`report --format html`): it opens offline."""
    return render("run.html", store, links=False, **run_values(store, run_id))


def _curves(epochs: Sequence[EpochMetrics]) -> str:
    if not epochs:
        return ""
    metrics = [e.metrics for e in epochs]
    series = {
        "success": [m.success_rate for m in metrics],
        "success within 2 steps": [m.success_within_2 for m in metrics],
        "clarification rate": [m.clarification_rate for m in metrics],
        "wrong-tool rate": [m.wrong_tool_rate for m in metrics],
    }
    return plots.lines([e.epoch for e in epochs], series, xlabel="epoch", ylabel="rate")


def _fig4_plot(fig: data.Fig4) -> str:
    if not fig.columns:
        return ""
    panels = {"mean episode reward": fig.reward, "mean clarifications": fig.fallbacks}
    return plots.heat_maps(fig.columns, fig.epochs, panels)
