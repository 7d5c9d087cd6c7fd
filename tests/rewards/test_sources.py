"""Reward sources outside training: what each rewards, and their precedence."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from reflexrl import AnswerKey, Feedback, Outcomes, Suite
from reflexrl.agent.learning import decisions_of
from reflexrl.records import CLARIFY, Decision, PendingEpisode
from reflexrl.rewards.online import episode_of
from reflexrl.rewards.sources import combine

REQUEST = "Calculate the result of the mathematical expression: 5 plus 5 plus 10"


def _episode(*decisions: tuple[str, bool]) -> PendingEpisode:
    made = tuple(
        Decision(i, REQUEST, a, {}, None, failed) for i, (a, failed) in enumerate(decisions)
    )
    return PendingEpisode("r", "paper", REQUEST, made)


def test_the_answer_key_rewards_the_decisions_on_prompts_it_knows(paper: Suite) -> None:
    key = AnswerKey(paper.reward_model, {p: q for q, p in paper.prompts()})
    episode = _episode(("python_interpreter", False), (CLARIFY, False), ("calculator", False))
    assert key.rewards(episode) == {0: -1.0, 1: 0.0, 2: 1.0}
    taxi = (Decision(0, "Book me a taxi", "calculator", {}),)
    assert key.rewards(PendingEpisode("r", "paper", "Book me a taxi", taxi)) == {}


def test_feedback_takes_precedence_over_outcomes_for_the_decision_it_scores() -> None:
    episode = _episode(("broken_tool", True), ("calculator", True))
    outcomes = Outcomes(rules=[lambda e: {1: 0.5}])
    assert outcomes.rewards(episode) == {0: -1.0, 1: -1.0}  # the failure first, then rules
    thumbs = Feedback(run_id="r", score=True)
    rewards = combine([thumbs, outcomes], episode)
    assert rewards == {1: (1.0, "feedback:user_score"), 0: (-1.0, "outcomes")}
    credited = episode_of(episode, rewards)
    assert [(s.action, s.reward, s.valid) for s in credited.steps] == [
        ("broken_tool", -1.0, False),
        ("calculator", 1.0, True),
    ]
    assert credited.outcome == "valid"


def test_an_unrewarded_tool_call_is_left_out_and_a_question_earns_zero() -> None:
    episode = _episode(("create_image", False), (CLARIFY, False), ("calculator", False))
    credited = episode_of(episode, combine([Feedback(run_id="r", score=-1)], episode))
    assert [(s.index, s.action, s.reward) for s in credited.steps] == [
        (1, CLARIFY, 0.0),
        (2, "calculator", -1.0),
    ]
    assert credited.outcome == "answered"


def test_decisions_are_read_from_the_invocation_that_ended() -> None:
    ask = AIMessage("", tool_calls=[{"name": CLARIFY, "args": {"question": "which?"}, "id": "a"}])
    call = AIMessage("", tool_calls=[{"name": "calculator", "args": {"e": "1"}, "id": "b"}])
    messages = [
        HumanMessage("an earlier request"),
        AIMessage("an earlier answer"),
        HumanMessage(REQUEST),
        ask,
        ToolMessage("the calculator, please", tool_call_id="a", name=CLARIFY),
        call,
        ToolMessage("boom", tool_call_id="b", name="calculator", status="error"),
    ]
    request, decisions = decisions_of(messages)
    assert request == REQUEST
    assert [(d.prompt, d.action, d.failed) for d in decisions] == [
        (REQUEST, CLARIFY, False),
        ("the calculator, please", "calculator", True),
    ]


def test_feedback_on_an_invocation_that_only_asked_scores_its_last_question() -> None:
    episode = _episode((CLARIFY, False), (CLARIFY, False))
    thumbs_down = Feedback(run_id="r", score=-1)
    assert thumbs_down.rewards(episode) == {1: -1.0}
    credited = episode_of(episode, combine([thumbs_down], episode))
    assert [(s.index, s.reward) for s in credited.steps] == [(0, 0.0), (1, -1.0)]
