"""The page's figures: matplotlib drawn to SVG, embedded as `data:` images.

An SVG shown through `<img>` runs no script and loads nothing, whatever text it holds; the
numbers behind every figure are also on the page as a table. Labels are shown as the page
shows text (`visible`: an ESC or a bidi override as an escape, not a missing glyph) and
never read as mathtext (a query named `$\\foo$` is drawn as written, not parsed).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

from ..safety.text import visible

matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "reflexrl", "font.size": 9})


def _data_uri(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")  # not bbox_inches="tight": it draws the figure twice
    plt.close(figure)
    encoded = base64.b64encode(buffer.getvalue().encode("utf-8")).decode("ascii")
    return "data:image/svg+xml;base64," + encoded


def lines(
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    *,
    xlabel: str,
    ylabel: str,
    markers: bool = True,
) -> str:
    """A line plot of several series over `x`, as a data URI."""
    figure, axes = plt.subplots(figsize=(6.4, 2.8))
    figure.subplots_adjust(left=0.1, right=0.98, top=0.96, bottom=0.16)
    for label, values in series.items():
        axes.plot(x, values, marker="o" if markers else None, markersize=3, label=visible(label))
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    _plain(axes.legend(loc="best", fontsize=8).get_texts())
    return _data_uri(figure)


def reward_history(x: Sequence[int], rewards: Sequence[float], means: Sequence[float]) -> str:
    """A prompt's credits: each reward (points) and the mean reward so far (line)."""
    figure, axes = plt.subplots(figsize=(6.4, 2.6))
    figure.subplots_adjust(left=0.1, right=0.98, top=0.96, bottom=0.17)
    axes.scatter(x, rewards, s=14, color="tab:gray", label="reward of the credit", zorder=3)
    axes.step(x, means, where="post", color="tab:blue", label="mean reward (the memory)")
    axes.axhline(0, color="black", linewidth=0.6)
    axes.set_xlabel("credit (in log order)")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("reward")
    axes.set_ylim(-1.15, 1.15)
    axes.grid(alpha=0.3)
    _plain(axes.legend(loc="lower right", fontsize=8).get_texts())
    return _data_uri(figure)


def heat_maps(
    columns: Sequence[str],
    epochs: Sequence[int],
    panels: Mapping[str, Sequence[Sequence[float | None]]],
) -> str:
    """Fig. 4 of Curuksu's paper: one heat map per panel, prompts across, epochs top to bottom (the
    reward panel centred on 0, the others from 0)."""
    width = min(14.0, 2.0 + 0.28 * len(columns))
    figure, axes_list = plt.subplots(
        1,
        len(panels),
        figsize=(width * len(panels) / 1.6, 0.32 * len(epochs) + 1.6),
    )
    height = 0.32 * len(epochs) + 1.6  # fixed margins: a layout engine draws the figure twice
    figure.subplots_adjust(left=0.06, right=0.97, top=1 - 0.35 / height, bottom=0.85 / height)
    for axes, (title, grid) in zip(_as_list(axes_list), panels.items(), strict=True):
        values = [[float("nan") if v is None else v for v in row] for row in grid]
        seen = [v for row in grid for v in row if v is not None]
        if "reward" in title:  # a diverging scale centred on 0: red for wrong tools
            top = max([1.0, *(abs(v) for v in seen)])
            image = axes.imshow(values, aspect="auto", cmap="RdYlGn", vmin=-top, vmax=top)
        else:
            image = axes.imshow(values, aspect="auto", cmap="Blues", vmin=0, vmax=max([1.0, *seen]))
        axes.set_title(visible(title), parse_math=False)
        axes.set_yticks(range(len(epochs)), [str(e) for e in epochs])
        axes.set_ylabel("epoch")
        step = max(1, len(columns) // 30)
        ticks = list(range(0, len(columns), step))
        labels = [visible(columns[i]) for i in ticks]
        axes.set_xticks(ticks, labels, rotation=90, fontsize=7, parse_math=False)
        figure.colorbar(image, ax=axes, fraction=0.04)
    return _data_uri(figure)


def _plain(texts: Iterable[Text]) -> None:
    """Draw these labels as written: `$...$` in a label is not mathtext."""
    for text in texts:
        text.set_parse_math(False)


def _as_list(axes: object) -> list[plt.Axes]:
    return list(axes.flat) if hasattr(axes, "flat") else [axes]  # type: ignore[list-item]
