"""What a memory block advises: a tool that earned a reward, else one not tried yet,
and asking when the prompts like an unseen one needed different tools.

Optimism under uncertainty: a tool never tried for a prompt might be the valid one, so it
ranks above every action whose record is not positive, asking included. Without it, a prompt
whose one tried tool earned -1 advises asking (0) forever, and nobody ever tries the tool
that serves it. Once every tool was tried, the best record wins, asking counting 0.

One tool at a time, drawn per prompt: the advice names one untried tool, not all of them. A
small model told "try one of these six" picks the one it prefers, often the same wrong one
on every prompt of a request; told one name, it tries it. Which one is drawn by a hash of the
prompt and how many tools it tried (`next_to_try`), among those no similar prompt tried yet
(else those whose tries on similar prompts went least badly): the prompts of one request then
try different tools at once, and the first success travels to the rest through the kNN
lookup, where advising every prompt the same order swept the tools one epoch at a time (on
workplace, seeds 8-10, the held-out kNN gain went from 86% to 98% of the table's; chosen on
other seeds and suites, evals/reports/rule-choice/random-untried/). The draw is a hash, not a
random number, so the same memory gives the same block: runs replay and resume.

Disagreement is ambiguity: a prompt the memory never saw, whose nearest stored prompts were
served by different tools, is one the agent cannot tell apart from requests of another kind
(a calculator or an interpreter, a pizza or a dessert). Pooling those neighbours' estimates
advises whichever tool the closer ones used, often the other request's; the paper's answer
to ambiguity is to ask. So each neighbour votes for the tool that served it (similarity-
weighted): the advice is the tool that has `AGREEMENT` of the votes, else to ask.

Asking once is enough: when the prompt is the user's answer to the agent's question
(`answered`), neighbours that still disagree advise the tool with most votes, not a second
question. And a prompt's own record comes first: a stored prompt on which a tool earned a
positive reward is advised that tool, as the table advises it, whatever its neighbours did
(their pooled estimate could otherwise prefer a tool this prompt never tried, served by
near-identical prompts of another query).

Kinds travel where tools do not: when similar requests came with other tools (item suites,
each request with its own), their votes still say which kind of action served them: a
call, a question or declining (`vote`).

Exploring by asking (`explore="ask"`, the default of an agent that learns in production): a
stored prompt on which a tool failed and none earned a reward is advised to ask, not to try
a tool it never tried. With users, a tool tried is an action taken for them (a hotel booked
for someone who wanted a table); the question costs a turn, and the answer tells which tool
serves the request, which then earns its reward on it (credited to the request, and to the
answer: `reflexrl.rewards.online.episode_of`). Learning online from the answer key as
feedback, the last pass's gain over memory off went from +18.5 to +34.5 points on assistant
and from +55.6 to +64.4 on paper (seeds 0-2, evals/reports/online-choice/ask-to-explore/). A
training run explores by trying tools (`"try"`): there the answer key scores a wrong tool at
no one's cost. A prompt on which only questions failed still gets a tool to try: a model
that asks until the turn limit is never told to call one otherwise (paper stayed at 0.33).
When the user's answer is itself a stored prompt, its own record advises the turn after it,
and the tool it draws to try is never one that already failed on the request it clarifies
(its own record knows only the tries that followed it, not the request's before the
question). With noisy feedback, that raised the last pass on paper from +32.2 to +41.1
points (seeds 0-2, evals/reports/online-choice/clarified-request/). A tool that won as often
as it lost on a request (noisy feedback: a success flipped to -1, or a wrong tool's loss
flipped to +1) has not served it either: the request asks, where it used to draw a tool it
never tried, often another request's. With a tenth of feedback flipped, that took
assistant's last pass from +9.5 to +19.6 points (seeds 0-2,
evals/reports/online-choice/tied-ask/); with the answer key no tool can tie, and nothing
changed. After the user's answer, the tie is tried again: a tool that won as often as it
lost on the answer or on the request it clarifies, and lost on neither, is the advice before
the neighbours' estimate or a draw (`_tied`), so the next reward settles it; the estimate and
the draws named other tools instead, often another request's. With noisy feedback the last
pass's gain went from +27.7 (worst +23) to +29.5 (+25) points on assistant and from +50.9
(+30) to +51.6 (+33) on paper (seeds 0-9, evals/reports/online-choice/tie-after-answer/).

Exploring by asking, only close neighbours vote: an unseen prompt follows the neighbours at
least `CLOSE` similar (a near-verbatim request), and with none the model decides as it
would without memory. With users, a near-identical request of another kind ("Book a table /
a ride for two tonight at eight", 0.72) is no paraphrase, and its tool advised is an action
taken for someone who wanted another (the first pass of the online runs on assistant lost
to memory off on 7 of 10 seeds). Learning online from the answer key, the first pass's gain
over memory off went from -2.7 (worst -11) to +2.3 (worst +0) points on assistant and from
+9.3 to +7.3 (worst +0 both) on paper; the last pass's from +37.5 (worst +29) to +42.2 (+39)
on assistant and from +63.0 to +62.3 on paper (seeds 0-9, evals/reports/online-choice/
close-votes/). The price: a paraphrase MiniLM scores lower ("Please work out 5 plus 5 plus
10 for me", 0.59) gets no advice until it is stored itself. A training run (`"try"`) keeps
every neighbour's vote: there a wrong tool costs no one.

Exploring by asking, a tool that serves other prompts is drawn last: the tool a stored
prompt (a user's answer, mostly) is advised to try is drawn first among those that earned a
reward on no stored prompt of the suite (`MemoryReader.served`). A tool mostly serves
requests of one kind, so one that serves some already is a poor guess for a request it never
served; the draws otherwise kept naming tools found passes before for other requests
(`book_table` to track an order). A request's own tool is drawn last too once it served
another of its wordings: the neighbours' estimate, which advises it before any draw, is what
finds it then. Learning online, the first pass's gain over memory off with the answer key
went from +13.7 (worst +3) to +21.3 (+13) points on paper and from +4.5 (+4) to +6.7 (+4) on
assistant; with noisy feedback, the last pass's from +47.7 (+33) to +50.9 (+30) on paper and
from +27.2 (+21) to +27.7 (+23) on assistant (seeds 0-9,
evals/reports/online-choice/served-last/). Training (`"try"`) draws as before.

Only successes travel to unseen prompts: when none of an unseen prompt's neighbours was
served by a tool, there is no advice, and the model decides as it would without memory.
Learning online from feedback, the failures of a near-identical request of another kind
otherwise sent new prompts away from the tool their model rightly chose (evals/reports/).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ..records import CLARIFY, DECLINE, Kind, MemoryRow, best_by_value, kind_of
from .lookup import ActionEstimate, best_estimated, estimate, own_row
from .protocols import Neighbour


@dataclass(frozen=True)
class Advice:
    """The best action of a record (`best`), or, when no tool has earned a positive reward
    and some were never tried, those tools (`untried`, `best` None); asking (`best` is
    `CLARIFY`) when the prompts like an unseen one were served by different tools
    (`contested`)."""

    best: str | None
    untried: tuple[str, ...] = ()
    """The tool never tried on this prompt that it should try next (`next_to_try`); one, or
    none."""
    contested: tuple[str, ...] = ()
    """When the advice is to ask because similar prompts disagree: their tools, most votes
    first."""
    kind: Kind | None = None
    """`call` (`best` None): similar prompts were served by calling a tool, none of which this
    request offers: call one of its own."""

    @property
    def actions(self) -> frozenset[str]:
        """The actions following this advice means taking."""
        return frozenset(self.untried) if self.best is None else frozenset({self.best})


def advise(
    estimates: Mapping[str, ActionEstimate],
    tools: Sequence[str] = (),
    tried: Collection[str] | None = None,
    prompt: str = "",
    served: Collection[str] = (),
) -> Advice:
    """The advice of per-action estimates (a row's means, or a kNN estimate).

    Args:
        estimates: Estimated reward per action tried (for the prompt or its neighbours).
        tools: Every tool the agent can call (may include asking, which is never "untried":
            its reward is known, unless declining is among them too). Empty: unknown, so
            nothing is untried and the advice is the best record, asking counting 0.
        tried: The actions the prompt itself has tried, when it is stored (None: those with
            an estimate). A tool that only similar prompts tried is untried for this one:
            what failed for a neighbour of another query may be this prompt's valid tool.
        prompt: The prompt advised, which draws the untried tool to try next.
        served: The tools that serve other prompts, tried after the rest (`next_to_try`).
    """
    worked = {a: e for a, e in estimates.items() if a != CLARIFY and e.n and e.value > 0}
    if worked:
        return Advice(best_estimated(worked))
    if tried is None:
        tried = [a for a, e in estimates.items() if e.n > 0]
    # Where declining is an action (requests that expect a behaviour), asking's reward is not
    # known in advance either: it is +1 where asking is right.
    triable = [t for t in tools if t != CLARIFY] if DECLINE not in tools else tools
    untried = tuple(t for t in triable if t not in tried)
    if untried:
        key = f"{prompt}|{len(tried)}"
        return Advice(None, (next_to_try(untried, estimates, key, served),))
    return Advice(best_estimated(estimates))


def next_to_try(
    untried: Sequence[str],
    estimates: Mapping[str, ActionEstimate],
    key: str,
    served: Collection[str] = (),
) -> str:
    """The tool of `untried` to try next: among those that serve no other prompt (not in
    `served`), then among those no similar prompt tried (else those whose tries went least
    badly), the one a hash of `key` (the prompt and its tries so far) draws."""

    def rank(tool: str) -> tuple[bool, int, float]:
        found = estimates.get(tool)
        tried = (0, 0.0) if found is None or not found.n else (1, -round(found.value, 6))
        return (tool in served, *tried)

    ranks = {t: rank(t) for t in untried}
    best = min(ranks.values())
    group = [t for t in untried if ranks[t] == best]
    return group[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(group)]


Exploration = Literal["try", "ask"]
"""How a stored prompt on which a tool failed, and none earned a reward, is advised: to try
a tool it never tried, or to ask the user."""


CLOSE = 0.8
"""Exploring by asking, the least similarity of a neighbour whose vote an unseen prompt
follows: with all-MiniLM-L6-v2 (the default embeddings) a paraphrase scores about 0.8, and a
near-identical request of another kind ("Book a table / a room for two tonight") 0.5-0.75."""


AGREEMENT = 0.75
"""The share of the neighbours' similarity-weighted votes the leading tool needs for an
unseen prompt to be advised it; below it the neighbours disagree and the advice is to ask."""


def advice_for(
    neighbours: Sequence[Neighbour],
    prompt: str,
    tools: Sequence[str] = (),
    *,
    answered: bool = False,
    explore: Exploration = "try",
    request: MemoryRow | None = None,
    served: Collection[str] = (),
) -> tuple[dict[str, ActionEstimate], Advice | None]:
    """The estimate per action for `prompt` from the rows found for it (`estimate`), and its
    advice (None: nothing is known). A stored prompt is advised by its own record first (a
    tool that earned a positive reward on it), else, when a tool was tried on it and none
    earned a reward (`_unserved`) and `explore` is "ask", to ask (unless `answered`), else
    by the estimate (`advise`: a tool it never tried first); an unseen one by its
    neighbours' votes (`vote`; `answered`: the prompt answers the agent's question, so no
    second question), and not at all when none of them was served by a tool: what failed
    for similar prompts, often of another request, is no reason to steer a prompt away from
    the tool its model would choose. Exploring by asking, only neighbours at least `CLOSE`
    similar vote (`_voters`), the tool a stored prompt is advised to try is drawn among those
    not `served` (on other prompts) first, and for an answer it is a tool tied on it or on
    the `request` it clarifies (its row; `_tied`), else never one that failed on the
    request (`_clarifying`)."""
    estimates = estimate(neighbours, prompt)
    if not estimates:
        return estimates, None
    own = own_row(neighbours, prompt)
    if own is None:
        return estimates, vote(_voters(neighbours, explore), answered=answered, offered=tools)
    if (earned := _earned(own)) is not None:
        return estimates, Advice(earned)
    if explore == "ask" and not answered and _unserved(own):
        return estimates, Advice(CLARIFY)
    if explore == "ask" and answered and (tied := _tied(own, request)) is not None:
        return estimates, Advice(tied)
    tried = list(own.actions)
    found = advise(estimates, tools, tried, prompt, served)
    if explore == "ask" and answered and request is not None:
        found = _clarifying(request, found, estimates, tools, tried, prompt, served)
    return estimates, found


def _voters(neighbours: Sequence[Neighbour], explore: Exploration) -> Sequence[Neighbour]:
    """The neighbours whose votes an unseen prompt follows: all of them when exploring by
    trying (training), only those at least `CLOSE` similar when exploring by asking."""
    return neighbours if explore == "try" else [n for n in neighbours if n.similarity >= CLOSE]


def _clarifying(
    request: MemoryRow,
    advice: Advice,
    estimates: Mapping[str, ActionEstimate],
    tools: Sequence[str],
    tried: list[str],
    prompt: str,
    served: Collection[str],
) -> Advice:
    """`advice` for the user's answer to a question about `request`, unless it names a tool
    to try that already failed on `request`: then another one, drawn among the rest."""
    failed = _failed_tools(request)
    if advice.best is not None or not failed.intersection(advice.untried):
        return advice
    left = {a: e for a, e in estimates.items() if a not in failed}
    return advise(left, tools, [*tried, *failed], prompt, served)


def _tied(answer: MemoryRow, request: MemoryRow | None) -> str | None:
    """The tool (not a question) that won as often as it lost on the `answer` or on the
    `request` it clarifies, and lost more than it won on neither: most tries on both first,
    then by name (None: there is none)."""
    rows = [answer] if request is None else [answer, request]
    failed = set().union(*map(_failed_tools, rows))
    tries: dict[str, int] = {}
    for row in rows:
        for action, stats in row.actions.items():
            if action != CLARIFY and action not in failed and stats.n > 1 and stats.mean == 0:
                tries[action] = tries.get(action, 0) + stats.n
    return min(tries, key=lambda t: (-tries[t], t)) if tries else None


def _unserved(row: MemoryRow) -> bool:
    """Whether a tool (not a question) was tried on `row` and is not ahead: its mean reward
    is not positive (it lost, or it won as often as it lost: noisy rewards)."""
    return any(a != CLARIFY and s.mean <= 0 for a, s in row.actions.items())


def _failed_tools(row: MemoryRow) -> set[str]:
    """The tools (not a question) that lost on `row`: their mean reward is negative."""
    return {a for a, s in row.actions.items() if a != CLARIFY and s.mean < 0}


def _earned(row: MemoryRow) -> str | None:
    """The action of highest positive mean reward on `row` (None: none earned a reward).
    Asking and declining earn a positive reward only where a request expects them (item
    suites); in the paper's rewards asking earns 0, so this is a tool."""
    served = {a: (s.mean, s.n) for a, s in row.actions.items() if s.mean > 0}
    return best_by_value(served, known={})


def votes(neighbours: Sequence[Neighbour]) -> dict[str, float]:
    """Per action, the similarity of the neighbours it served: each neighbour votes for its
    action of highest positive mean reward (one that never earned a reward abstains)."""
    tally: dict[str, float] = {}
    for nb in neighbours:
        if (tool := _earned(nb.row)) is not None:
            tally[tool] = tally.get(tool, 0.0) + nb.similarity
    return tally


def vote(
    neighbours: Sequence[Neighbour], *, answered: bool = False, offered: Sequence[str] = ()
) -> Advice | None:
    """What the neighbours' votes advise (None when no neighbour voted).

    First the kind of action (call, ask, decline): the leading kind needs `AGREEMENT` of the
    votes, else the advice is to ask, with the actions in play (`contested`, most votes
    first), unless the user has `answered` a question already. Asking or declining is
    advised as such. For a call, the tools: those of them this request offers (`offered`;
    empty: unknown, all count), the leading one with `AGREEMENT` of their votes (or, after
    an answer, most votes), else asking; and when it offers none of them, to call one of its
    own (`kind` "call"): requests with other tools still say that a tool served them."""
    tally = votes(neighbours)
    if not tally:
        return None
    ranked = tuple(sorted(tally, key=lambda t: (-tally[t], t)))
    kinds: dict[Kind, float] = {}
    for action, weight in tally.items():
        kinds[kind_of(action)] = kinds.get(kind_of(action), 0.0) + weight
    lead = max(kinds, key=lambda k: kinds[k])
    if not answered and kinds[lead] < AGREEMENT * sum(kinds.values()):
        return Advice(CLARIFY, contested=ranked)
    if lead != "call":
        return Advice(CLARIFY if lead == "ask" else DECLINE)
    calls = {
        t: w for t, w in tally.items() if kind_of(t) == "call" and (not offered or t in offered)
    }
    if not calls:
        return Advice(None, kind="call")
    tools = tuple(t for t in ranked if t in calls)
    if answered or calls[tools[0]] >= AGREEMENT * sum(calls.values()):
        return Advice(tools[0])
    return Advice(CLARIFY, contested=tools)
