"""The customer-assistant suite (evals/suites/assistant.yaml) and its tools (tools/assistant.py)."""

from __future__ import annotations

import itertools
import re
from types import ModuleType

import pytest

from reflexrl import Suite

HELD_OUT = 2  # the last prompts of each query, held out as new phrasings in experiments


@pytest.fixture(scope="module")
def assistant() -> Suite:
    return Suite.load("assistant")


def _near(a: str, b: str) -> bool:
    """Near-identical prompts: equal up to case, punctuation and at most two added words
    (a word swapped for another, as in the minimal pairs, makes a different prompt)."""
    short, long = sorted((re.findall(r"[a-z0-9']+", p.lower()) for p in (a, b)), key=len)
    return len(long) - len(short) <= 2 and any(
        long[i : i + len(short)] == short for i in range(len(long) - len(short) + 1)
    )


def _ambiguous(suite: Suite) -> list[tuple[str, int, str, int]]:
    """(query, prompt index, other query, prompt index) for near-identical prompts."""
    indexed = [(q.id, i, p) for q in suite.spec.queries for i, p in enumerate(q.prompts)]
    return [
        (qa, ia, qb, ib)
        for (qa, ia, pa), (qb, ib, pb) in itertools.combinations(indexed, 2)
        if qa != qb and _near(pa, pb)
    ]


def test_shape(assistant: Suite) -> None:
    assert 6 <= len(assistant.tool_names) <= 8
    assert len(assistant.spec.queries) >= 6
    for query in assistant.spec.queries:
        assert len(query.prompts) == 8, query.id
        assert len(query.valid_tools) == 1, query.id
    used = {t for q in assistant.spec.queries for t in q.valid_tools}
    assert used == set(assistant.tool_names)
    assert assistant.reward_model.is_valid("q3", "order_pizza")
    assert not assistant.reward_model.is_valid("q3", "order_dessert")


def test_designed_ambiguity_is_in_the_training_prompts(assistant: Suite) -> None:
    pairs = _ambiguous(assistant)
    assert {(qa, qb) for qa, _, qb, _ in pairs} == {
        ("q1", "q5"),
        ("q2", "q3"),
        ("q2", "q6"),
        ("q3", "q4"),
        ("q4", "q7"),
    }
    for qa, ia, qb, ib in pairs:
        assert ia < 8 - HELD_OUT and ib < 8 - HELD_OUT, (qa, ia, qb, ib)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            ("book_table", "The Olive Tree", 4, "19:30", "Friday"),
            r"^Table booked at The Olive Tree for 4, Friday at 19:30 \(confirmation R-\d{4}\)$",
        ),
        (
            ("get_directions", "Central Station", "walking"),
            r"^Directions to Central Station by walking: [\d.]+ km, about \d+ min \(route N-\d{4}\)$",
        ),
        (
            ("order_pizza", "a pepperoni pizza", "large", "pickup"),
            r"^Pizza order placed \(large, pickup, as soon as possible\): .*\(order P-\d{4}, about \d+ min\)$",
        ),
        (
            ("order_dessert", "two tiramisu", "pick up", "19:00"),
            r"^Dessert order placed \(pickup, 19:00\): two tiramisu \(order D-\d{4}, about \d+ min\)$",
        ),
        (
            ("book_ride", "the airport", "home", 2, "06:00"),
            r"^Ride booked to the airport from home for 2 passenger\(s\): the driver arrives at 06:00 \(booking T-\d{4}\)$",
        ),
        (
            ("book_hotel", "Lisbon", "Friday", 3, 2),
            r"^Hotel room booked \(Lisbon\) for 2 guest\(s\), 3 night\(s\) from Friday \(confirmation H-\d{4}\)$",
        ),
        (("track_order", "Has order P-4821 arrived?"), r"^Order P-4821: "),
    ],
)
def test_tool_results(assistant_tools: ModuleType, call: tuple, expected: str) -> None:
    name, *args = call
    assert re.match(expected, getattr(assistant_tools, name)(*args))


@pytest.mark.parametrize(
    "call",
    [
        ("get_directions", ""),
        ("get_directions", "home", "teleport"),
        ("book_table", "Luigi's", 0),
        ("book_table", "Luigi's", True),
        ("order_pizza", "margherita", "huge"),
        ("order_dessert", "cake", "by drone"),
        ("book_ride", "the airport", "home", 40),
        ("book_hotel", "  "),
        ("book_hotel", "Rome", "Friday", 1, 99),
        ("track_order", ""),
    ],
)
def test_bad_arguments_yield_an_error_string(assistant_tools: ModuleType, call: tuple) -> None:
    name, *args = call
    assert getattr(assistant_tools, name)(*args).startswith("error: ")


def test_order_status_finds_the_number_an_order_gave(assistant_tools: ModuleType) -> None:
    placed = assistant_tools.order_pizza("a margherita")
    number = re.search(r"P-\d{4}", placed)
    assert number is not None
    status = assistant_tools.track_order(f"where is {number[0]}?")
    assert status.startswith(f"Order {number[0]}: ")
    assert status == assistant_tools.track_order(number[0])
