"""The advice a memory block gives: optimism for untried tools, read back as it was told."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, messages_to_dict

from reflexrl import ReflexMiddleware, RewardTable, Suite, evaluate, load_model, open_memory, train
from reflexrl.envs.context import EpisodeContext
from reflexrl.envs.simulated_user import RephrasingUser
from reflexrl.loop.metrics import advice_taken, summarize
from reflexrl.memory import ActionEstimate, Advice, Neighbour, advise
from reflexrl.memory.advice import (
    AGREEMENT,
    CLOSE,
    Exploration,
    advice_for,
    next_to_try,
    vote,
    votes,
)
from reflexrl.models.fake import ScriptedChatModel
from reflexrl.models.local.chat import LocalChatModel
from reflexrl.prompt.block import advice_line, advised_actions, is_silent, split_memory
from reflexrl.prompt.renderers import render_advice, render_focused
from reflexrl.records import CLARIFY, ActionStats, Episode, MemoryRow, Step

TOOLS = ["calculator", "python_interpreter", "create_image", CLARIFY]
_INDEX = itertools.count()


def _e(value: float, n: int = 1) -> ActionEstimate:
    return ActionEstimate(value, float(n), n)


def _neighbour(prompt: str, similarity: float, **rewards: float) -> Neighbour:
    actions = {a: ActionStats(1, r) for a, r in rewards.items()}
    row = MemoryRow("paper", prompt, None, sum(rewards.values()), len(actions), 0, actions)
    return Neighbour(row, similarity)


def test_each_neighbour_votes_for_the_tool_that_served_it_by_its_similarity() -> None:
    found = [
        _neighbour("a", 0.9, calculator=1.0, python_interpreter=-1.0),
        _neighbour("b", 0.8, python_interpreter=1.0),
        _neighbour("c", 0.7, calculator=-1.0),  # served by nothing: abstains
        _neighbour("d", 0.6, **{CLARIFY: 0.0}),  # asked: abstains
    ]
    assert votes(found) == {"calculator": 0.9, "python_interpreter": 0.8}
    assert vote(found) == Advice(CLARIFY, contested=("calculator", "python_interpreter"))
    assert vote(found[2:]) is None  # nobody voted


@pytest.mark.parametrize(("lead", "other", "split"), [(0.75, 0.25, False), (0.7, 0.3, True)])
def test_the_neighbours_disagree_below_the_agreement_share(
    lead: float, other: float, split: bool
) -> None:
    found = [_neighbour("a", lead, calculator=1.0), _neighbour("b", other, create_image=1.0)]
    assert AGREEMENT == 0.75 and bool(vote(found).contested) is split
    _, advice = advice_for(found, "an unseen prompt", TOOLS)
    assert advice is not None and (advice.best == CLARIFY) is split
    assert advice.best == (CLARIFY if split else "calculator")


def test_neighbours_that_agree_advise_their_tool_over_the_pooled_estimate() -> None:
    """One neighbour was served by the tool; the others only lost with it (their means
    drag the pooled estimate below 0): the vote still advises it, not an untried tool."""
    found = [
        _neighbour("a", 0.9, create_image=1.0),
        _neighbour("b", 0.85, create_image=-1.0),
        _neighbour("c", 0.8, create_image=-1.0),
    ]
    estimates, advice = advice_for(found, "an unseen prompt", TOOLS)
    assert estimates["create_image"].value < 0 and advice == Advice("create_image")


def test_a_stored_prompt_is_advised_by_its_record_whatever_its_neighbours_say() -> None:
    found = [_neighbour("own", 1.0, calculator=1.0), _neighbour("b", 0.95, create_image=1.0)]
    _, advice = advice_for(found, "own", TOOLS)
    assert advice is not None and advice.best != CLARIFY and advice.contested == ()


def test_a_stored_prompt_is_advised_its_own_tool_over_one_only_neighbours_were_served_by() -> None:
    """Its calculator earned +1 once; near-identical prompts of another query were served
    by the interpreter. Pooled, the interpreter would lead (the calculator's own +1 is
    shrunk towards the neighbours' 0); the prompt's own record decides, as the table's."""
    found = [
        _neighbour("own", 1.0, calculator=1.0),
        _neighbour("b", 0.95, python_interpreter=1.0),
        _neighbour("c", 0.9, python_interpreter=1.0),
    ]
    estimates, advice = advice_for(found, "own", TOOLS)
    assert estimates["python_interpreter"].value > estimates["calculator"].value
    assert advice == Advice("calculator")


def test_after_the_user_answered_disagreeing_neighbours_advise_their_leading_tool() -> None:
    found = [_neighbour("a", 0.7, calculator=1.0), _neighbour("b", 0.6, python_interpreter=1.0)]
    assert advice_for(found, "unseen", TOOLS)[1] == vote(found)
    assert vote(found).best == CLARIFY
    _, answered = advice_for(found, "unseen", TOOLS, answered=True)
    assert answered == vote(found, answered=True) == Advice("calculator")


def test_an_unseen_prompt_whose_neighbours_only_failed_gets_no_advice() -> None:
    """Their failures (often a near-identical request of another kind) do not steer it:
    the model decides as without memory. A stored prompt still gets a tool it never tried."""
    found = [_neighbour("a", 0.9, create_image=-1.0), _neighbour("b", 0.8, **{CLARIFY: 0.0})]
    estimates, advice = advice_for(found, "an unseen prompt", TOOLS)
    assert estimates and advice is None
    _, own = advice_for([_neighbour("a", 1.0, create_image=-1.0)], "a", TOOLS)
    assert own is not None and own.best is None and "create_image" not in own.untried


def test_a_tool_that_earned_a_reward_is_the_advice() -> None:
    estimates = {"calculator": _e(-1), "python_interpreter": _e(1, 2), CLARIFY: _e(0, 3)}
    assert advise(estimates, TOOLS) == Advice("python_interpreter")


def test_untried_tools_beat_asking_while_no_tool_earned_a_reward() -> None:
    # the ask-forever trap: calculator lost, asking earns 0, python was never tried
    estimates = {"calculator": _e(-1), CLARIFY: _e(0, 4)}
    advice = advise(estimates, TOOLS, prompt="5 plus 5 plus 10")
    assert advice.best is None and len(advice.untried) == 1  # one at a time
    assert advice.actions == set(advice.untried) < {"python_interpreter", "create_image"}
    # without the tools (or --no-untried) the best record, asking counting 0, as before
    assert advise(estimates) == Advice(CLARIFY)


def test_a_tool_only_neighbours_tried_is_untried_for_a_stored_prompt() -> None:
    # a neighbour of another query lost with python_interpreter: this prompt never tried it
    estimates = {"calculator": _e(-1), "python_interpreter": _e(-1), CLARIFY: _e(0, 3)}
    # ... so it may try it, after create_image, which no similar prompt tried
    assert advise(estimates, TOOLS, tried=["calculator", CLARIFY]) == Advice(
        None, ("create_image",)
    )
    assert advise(estimates, TOOLS, tried=["calculator", CLARIFY, "create_image"]) == Advice(
        None, ("python_interpreter",)
    )
    # a prompt never seen counts what its neighbours tried
    assert advise(estimates, TOOLS) == Advice(None, ("create_image",))


def test_the_tool_to_try_next_is_drawn_among_those_nobody_near_tried() -> None:
    estimates = {"a": _e(-1), "b": _e(-0.2), "c": _e(0.0, 0)}
    drawn = [next_to_try(["a", "b", "c", "d"], estimates, f"prompt {i}|1") for i in range(40)]
    # the prompts of one request spread over the tools nobody near tried...
    assert set(drawn) == {"c", "d"}
    # ... the same prompt after the same tries draws the same (runs replay and resume)
    assert drawn == [
        next_to_try(["a", "b", "c", "d"], estimates, f"prompt {i}|1") for i in range(40)
    ]
    # ... and once every tool was tried near it, the one that went least badly
    assert {next_to_try(["a", "b"], estimates, f"prompt {i}|3") for i in range(40)} == {"b"}


def test_exploring_by_asking_advises_a_question_where_a_tool_failed() -> None:
    prompt = "5 plus 5 plus 10"
    failed = [_neighbour(prompt, 1.0, calculator=-1.0), _neighbour("b", 0.8, create_image=1.0)]
    assert advice_for(failed, prompt, TOOLS, explore="ask")[1] == Advice(CLARIFY)
    # trying (training's way): the tool a neighbour earned, which this prompt never tried
    assert advice_for(failed, prompt, TOOLS)[1] == Advice("create_image")
    # the user answered already: no second question
    answered = advice_for(failed, prompt, TOOLS, answered=True, explore="ask")[1]
    assert answered == Advice("create_image")
    # a tool that earned a reward on it is still the advice; a question alone failed nothing
    served = [_neighbour(prompt, 1.0, calculator=-1.0, python_interpreter=1.0)]
    assert advice_for(served, prompt, TOOLS, explore="ask")[1] == Advice("python_interpreter")
    asked = advice_for([_neighbour(prompt, 1.0, **{CLARIFY: 0.0})], prompt, TOOLS, explore="ask")
    assert asked[1] is not None and asked[1].best is None and asked[1].untried


def test_exploring_by_asking_advises_a_question_where_a_tool_won_as_often_as_it_lost() -> None:
    prompt = "5 plus 5 plus 10"

    def advised(calculator: ActionStats, explore: Exploration) -> Advice | None:
        row = MemoryRow("paper", prompt, None, calculator.reward, 1, 0, {"calculator": calculator})
        found = [Neighbour(row, 1.0), _neighbour("b", 0.8, create_image=1.0)]
        return advice_for(found, prompt, TOOLS, explore=explore)[1]

    # +1 once and -1 once (noisy feedback): not served, so ask, as after a loss
    assert advised(ActionStats(2, 0.0), "ask") == Advice(CLARIFY)
    # trying (training's way) is unchanged: the tool a neighbour earned
    assert advised(ActionStats(2, 0.0), "try") == Advice("create_image")
    # one win more than its losses: it served the request
    assert advised(ActionStats(3, 1.0), "ask") == Advice("calculator")


def test_exploring_by_asking_an_unseen_prompt_follows_only_close_neighbours() -> None:
    near = [_neighbour("a", CLOSE, calculator=1.0)]
    far = [_neighbour("b", CLOSE - 0.1, create_image=1.0)]
    assert advice_for(far, "new", TOOLS, explore="ask")[1] is None
    assert advice_for(near + far, "new", TOOLS, explore="ask")[1] == Advice("calculator")
    # trying (training's way): every neighbour votes, so these two disagree
    assert advice_for(far, "new", TOOLS)[1] == Advice("create_image")
    assert advice_for(near + far, "new", TOOLS)[1] == Advice(
        CLARIFY, contested=("calculator", "create_image")
    )


def test_an_answer_never_tries_again_a_tool_that_failed_on_the_request_it_clarifies() -> None:
    request = _neighbour("the request", 1.0, calculator=-1.0).row
    answers = [f"answer {i}" for i in range(20)]

    def advised(answer: str, explore: Exploration, row: MemoryRow | None) -> Advice | None:
        found = [_neighbour(answer, 1.0, create_image=-1.0)]
        return advice_for(found, answer, TOOLS, answered=True, explore=explore, request=row)[1]

    # the answer's own record alone draws either tool it never tried, the failed one too
    alone = {advised(a, "ask", None) for a in answers}
    assert alone == {Advice(None, ("calculator",)), Advice(None, ("python_interpreter",))}
    # told the request, never the tool that failed on it
    assert {advised(a, "ask", request) for a in answers} == {Advice(None, ("python_interpreter",))}
    # exploring by trying (training) ignores the request
    assert {advised(a, "try", request) for a in answers} == alone
    # a tool the answer earned is still its advice, even one that failed on the request
    served = [_neighbour("answer", 1.0, calculator=1.0)]
    earned = advice_for(served, "answer", TOOLS, answered=True, explore="ask", request=request)
    assert earned[1] == Advice("calculator")


def test_after_an_answer_a_tool_that_won_as_often_as_it_lost_is_tried_again() -> None:
    def row(prompt: str, **stats: ActionStats) -> MemoryRow:
        return MemoryRow("paper", prompt, None, 0.0, 2, 0, stats)

    tied, lost = ActionStats(2, 0.0), ActionStats(1, -1.0)
    answer = row("answer", calculator=tied, create_image=lost)
    found = [Neighbour(answer, 1.0), _neighbour("b", 0.7, python_interpreter=1.0)]

    def advised(request: MemoryRow | None = None, explore: Exploration = "ask") -> Advice | None:
        got = advice_for(found, "answer", TOOLS, answered=True, explore=explore, request=request)
        return got[1]

    # the question settles the tie: the tool is tried again, over the neighbours' estimate
    assert advised() == Advice("calculator")
    assert advice_for(found, "answer", TOOLS, explore="ask")[1] == Advice(CLARIFY)  # asked first
    # tied on the request it clarifies counts too, most tries first
    assert advised(row("req", python_interpreter=ActionStats(4, 0.0))) == Advice(
        "python_interpreter"
    )
    # never one that lost on the request
    assert advised(row("req", calculator=lost)) == Advice("python_interpreter")
    # training (exploring by trying) follows the estimate
    assert advised(explore="try") == Advice("python_interpreter")


def test_an_answer_tries_a_tool_that_serves_no_other_prompt_first() -> None:
    answers = [f"answer {i}" for i in range(20)]

    def advised(answer: str, served: frozenset[str]) -> Advice | None:
        found = [_neighbour(answer, 1.0, **{CLARIFY: 0.0})]
        got = advice_for(found, answer, TOOLS, answered=True, explore="ask", served=served)
        return got[1]

    tools = {"calculator", "python_interpreter", "create_image"}
    assert {a.untried[0] for a in map(advised, answers, [frozenset()] * 20) if a} == tools
    # the calculator serves other prompts: the draw is among the other two
    others = {advised(a, frozenset({"calculator"})) for a in answers}
    assert others == {Advice(None, ("python_interpreter",)), Advice(None, ("create_image",))}
    # every tool serves some prompt: the draw is among all, as before
    assert {advised(a, frozenset(tools)) for a in answers} == {
        advised(a, frozenset()) for a in answers
    }


def test_once_every_tool_lost_asking_is_the_advice() -> None:
    estimates = {t: _e(-1) for t in TOOLS if t != CLARIFY}
    assert advise(estimates, TOOLS) == Advice(CLARIFY)


@pytest.mark.parametrize(
    "advice",
    [Advice("calculator"), Advice(None, ("python_interpreter",)), Advice(None, ("a tool, odd",))],
)
def test_the_advice_line_reads_back_as_the_actions_advised(advice: Advice) -> None:
    block = (
        f"<reflexrl_memory>\n{advice_line(advice)}\n- x\n{advice_line(advice)}\n</reflexrl_memory>"
    )
    assert advised_actions(block) == advice.actions


def test_a_block_without_advice_reads_as_none(memory: RewardTable) -> None:
    assert advised_actions(render_focused(memory, "paper", "never seen", False)) is None


def _record(memory: RewardTable, prompt: str, *steps: tuple[str, float]) -> None:
    recorded = tuple(Step(i, prompt, a, {}, r, r > 0) for i, (a, r) in enumerate(steps))
    episode = Episode("r", next(_INDEX), 1, "paper", "q4", prompt, False, "answered", recorded)
    memory.record_episode(episode)


def test_the_focused_block_names_a_tool_to_try_first_and_last(memory: RewardTable) -> None:
    _record(memory, "5 plus 5 plus 10", ("calculator", -1.0))
    block = render_focused(memory, "paper", "5 plus 5 plus 10", False, tools=TOOLS)
    lines = block.splitlines()
    (to_try,) = advised_actions(block) or ()
    assert to_try in {"python_interpreter", "create_image"}
    assert lines[2] == lines[-2] == advice_line(Advice(None, (to_try,)))
    assert "- calculator: chosen 1x, mean reward -1" in lines
    old = render_focused(memory, "paper", "5 plus 5 plus 10", False)
    assert advised_actions(old) == {CLARIFY}


def _episode(blocks: list[str], actions: list[str]) -> Episode:
    messages = [HumanMessage("p")] + [
        AIMessage(content="", tool_calls=[{"name": a, "args": {}, "id": f"c{i}"}])
        for i, a in enumerate(actions)
    ]
    steps = tuple(Step(i, "p", a, {}, 0.0, False) for i, a in enumerate(actions))
    return Episode(
        "r", 0, 1, "paper", "q", "p", False, "max_steps", steps,
        messages=tuple(messages_to_dict(messages)), memory_blocks=tuple(blocks),
    )  # fmt: skip


def test_advice_following_counts_the_steps_that_took_an_advised_action() -> None:
    told = f"<reflexrl_memory>\n{advice_line(Advice('calculator'))}\n</reflexrl_memory>"
    silent = "<reflexrl_memory>\nNo reward recorded for this prompt yet.\n</reflexrl_memory>"
    followed = _episode([told, silent, told], ["calculator", CLARIFY, "create_image"])
    assert advice_taken(followed) == [True, False]
    metrics = summarize([followed, _episode([], ["calculator"])])
    assert (metrics.advised_steps, metrics.advice_following_rate) == (2, 0.5)


def test_the_middleware_tells_the_renderer_which_tools_the_agent_has(
    paper: Suite, memory: RewardTable
) -> None:
    prompt = paper.prompts_of("q4")[1]
    _record(memory, prompt, ("calculator", -1.0))
    blocks = {}
    for untried in (True, False):
        model = ScriptedChatModel(script=[AIMessage(content="done")])
        reflex = ReflexMiddleware(memory, suite="paper", untried=untried)
        agent = create_agent(model, paper.tools, middleware=[reflex])
        agent.invoke({"messages": [HumanMessage(prompt)]})
        system = model.requests[0][0].text
        blocks[untried] = advised_actions(system)
    untried_tools = set(paper.tool_names) - {"calculator"}
    assert len(blocks[True]) == 1 and blocks[True] < untried_tools
    assert blocks[False] == {CLARIFY}


def test_a_fake_training_run_reports_advice_following(paper: Suite, memory: RewardTable) -> None:
    model = load_model("fake:oracle", paper)
    agent = create_agent(model, paper.tools, middleware=[ReflexMiddleware(memory, epsilon=0.0)])
    train(agent, paper, memory, epochs=1, seed=0)
    result = evaluate(agent, paper, epochs=1, seed=0)
    assert result.metrics.advised_steps == 30
    assert result.metrics.advice_following_rate == 1.0


def test_the_advice_block_names_the_advised_tool_and_no_other(memory: RewardTable) -> None:
    prompt = "5 plus 5 plus 10"
    _record(memory, prompt, ("calculator", -1.0), ("python_interpreter", 1.0))
    _record(memory, prompt, (CLARIFY, 0.0), ("python_interpreter", 1.0))
    block = render_advice(memory, "paper", prompt, False, tools=TOOLS)
    assert block.splitlines() == [
        "<reflexrl_memory>",
        f'Current user prompt: "{prompt}"',
        "Best action so far: python_interpreter (mean reward +1)",
        "</reflexrl_memory>",
    ]
    assert advised_actions(block) == {"python_interpreter"}
    # the same record renders the same text: a settled row costs a local model nothing new
    _record(memory, prompt, ("python_interpreter", 1.0))
    assert render_advice(memory, "paper", prompt, False, tools=TOOLS) == block


def test_the_advice_block_names_an_untried_tool_and_says_when_it_knows_nothing(
    memory: RewardTable,
) -> None:
    _record(memory, "5 plus 5 plus 10", ("calculator", -1.0))
    block = render_advice(memory, "paper", "5 plus 5 plus 10", False, tools=TOOLS)
    advised = advised_actions(block)
    assert advised is not None and len(advised) == 1
    assert advised < {"python_interpreter", "create_image"}
    assert "calculator" not in block  # the tool that lost is not named: small models copy
    explored = render_advice(memory, "paper", "5 plus 5 plus 10", True, tools=TOOLS)
    assert is_silent(explored) and advised_actions(explored) is None
    assert is_silent(render_advice(memory, "paper", "never seen", False, tools=TOOLS))
    assert not is_silent(block)


def test_an_answer_reads_which_tools_serve_other_prompts_from_the_store(
    memory: RewardTable,
) -> None:
    _record(memory, "Draw me a cat", ("create_image", 1.0))
    answers = [f"It is 5 plus {i}" for i in range(12)]
    for answer in answers:
        _record(memory, answer, ("calculator", -1.0))

    def advised(answer: str, explore: Exploration) -> set[str] | None:
        block = render_advice(
            memory, "paper", answer, False, tools=TOOLS, answered=True, explore=explore
        )
        return advised_actions(block)

    assert all(advised(a, "ask") == {"python_interpreter"} for a in answers)
    # training's draws (exploring by trying) do not read it
    assert {"create_image"} in [advised(a, "try") for a in answers]


def test_the_advice_block_reads_a_knn_estimate(tmp_path: Path) -> None:
    memory = open_memory(tmp_path / "knn.db", lookup="knn")
    _record(memory, "Calculate the result of 5 plus 5 plus 10", ("calculator", 1.0))
    _record(memory, "Add 5 and 5, then add 10", ("calculator", 1.0), (CLARIFY, 0.0))
    block = render_advice(memory, "paper", "Work out what 5 plus 5 plus 10 is", False, tools=TOOLS)
    line = block.splitlines()[-2]
    assert line.startswith("Best action so far: calculator (mean reward +")
    assert advised_actions(block) == {"calculator"}
    far = render_advice(memory, "paper", "Book a hotel room in Lisbon", False, tools=TOOLS)
    assert is_silent(far) and advised_actions(far) is None
    memory.close()


def test_a_silent_advice_block_shows_the_model_what_it_sees_without_memory(
    paper: Suite, memory: RewardTable
) -> None:
    prompt = paper.prompts_of("q4")[1]
    systems = {}
    for use_memory, render in ((False, "advice"), (True, "advice"), (True, "focused")):
        model = ScriptedChatModel(script=[AIMessage(content="done")])
        reflex = ReflexMiddleware(memory, suite="paper", render=render)
        agent = create_agent(model, paper.tools, middleware=[reflex])
        ctx = EpisodeContext(
            suite="paper", query="q4", seed=0, index=0, total=1, max_steps=4,
            reward_model=paper.reward_model, user=RephrasingUser([prompt]), frozen=True,
            use_memory=use_memory,
        )  # fmt: skip
        agent.invoke({"messages": [HumanMessage(prompt)]}, ctx.config())
        systems[use_memory, render] = model.requests[0][0].text
    static, block = split_memory(systems[True, "advice"])
    assert block is not None and is_silent(block)
    assert static == systems[False, "advice"]  # no note: the same static text as memory off
    assert "<reflexrl_memory> block below" in systems[True, "focused"]
    local = LocalChatModel(model_name="smollm2").bind_tools(paper.tools)
    assert local.prompt(static, prompt, block) == local.prompt(static, prompt)
