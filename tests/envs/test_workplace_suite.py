"""The workplace-assistant suite (evals/suites/workplace.yaml) and its tools (tools/workplace.py)."""

from __future__ import annotations

import ast
import importlib.util
import itertools
import re
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from reflexrl import Suite
from reflexrl.envs.suite import bundled_suites
from reflexrl.errors import SuiteError

ROOT = Path(__file__).parents[2]
SUITE_FILE = ROOT / "evals" / "suites" / "workplace.yaml"
TOOLS_FILE = ROOT / "tools" / "workplace.py"
PROMPTS = 10  # per query
HELD_OUT = 2  # the last prompts of each query, held out as prompts never seen (--holdout 2)
TRAIN = PROMPTS - HELD_OUT

TOOLS = {
    "q1": "send_email",
    "q2": "send_chat_message",
    "q3": "create_calendar_event",
    "q4": "set_reminder",
    "q5": "add_task",
    "q6": "search_files",
    "q7": "share_document",
    "q8": "translate_text",
    "q9": "submit_expense",
    "q10": "set_out_of_office",
}
# (query, position, other query, position) of the near-identical, ambiguous prompts
AMBIGUOUS_TRAINING = {("q1", 2, "q2", 5), ("q3", 2, "q4", 2), ("q6", 3, "q7", 4)}
AMBIGUOUS_HELD_OUT = {("q4", 8, "q5", 8), ("q3", 8, "q10", 9), ("q1", 8, "q7", 9)}
# prompts of neighbouring queries that differ by a word or two and stay answerable
MINIMAL_PAIRS = [
    ("q1", 0, "q2", 0),  # Send Dana the Q3 notes by email / on chat
    ("q1", 6, "q2", 3),  # Send my manager a quick email / chat saying I'll be late today
    ("q3", 7, "q4", 3),  # Set a calendar event / a reminder for the dentist on Thursday at 4
    ("q3", 5, "q10", 1),  # Put my days off next week on my calendar / in my out-of-office reply
    ("q4", 7, "q5", 0),  # Create a reminder / a task to file the expense report on Friday
    ("q5", 1, "q9", 0),  # Add the taxi receipt from Monday to my to-do list / expense report
    ("q6", 0, "q7", 0),  # Find / Share the Q3 budget spreadsheet (with Sam)
    ("q1", 4, "q7", 3),  # Email the Q3 budget deck to Dana / Share ... with Dana
    ("q6", 5, "q8", 0),  # Find the welcome letter in French / Translate ... into French
    ("q8", 7, "q10", 7),  # Translate my out-of-office message into / Turn on ... in French
]
_FILLER_WORDS = "a an the to my me i on in of for and at by with is it that so you can"
_FILLER = frozenset(_FILLER_WORDS.split())


@pytest.fixture(scope="module")
def workplace() -> Suite:
    return Suite.load("workplace")


@pytest.fixture(scope="module")
def tools() -> ModuleType:
    """tools/workplace.py, imported by path (as a suite's `function:` does)."""
    spec = importlib.util.spec_from_file_location("workplace_tools_under_test", TOOLS_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _words(prompt: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", prompt.lower())


def _near(a: str, b: str) -> bool:
    """Near-identical prompts: equal up to case, punctuation and at most two added words
    (a word swapped for another, as in the minimal pairs, makes a different prompt)."""
    short, long = sorted((_words(p) for p in (a, b)), key=len)
    return len(long) - len(short) <= 2 and any(
        long[i : i + len(short)] == short for i in range(len(long) - len(short) + 1)
    )


def _ambiguous(suite: Suite) -> set[tuple[str, int, str, int]]:
    """(query, prompt index, other query, prompt index) for near-identical prompts."""
    indexed = [(q.id, i, p) for q in suite.spec.queries for i, p in enumerate(q.prompts)]
    return {
        (qa, ia, qb, ib)
        for (qa, ia, pa), (qb, ib, pb) in itertools.combinations(indexed, 2)
        if qa != qb and _near(pa, pb)
    }


def _edits(a: str, b: str) -> int:
    """Word-level edit distance (hyphenated words such as out-of-office count as one)."""
    x, y = (re.findall(r"[a-z0-9'-]+", p.lower()) for p in (a, b))
    row = list(range(len(y) + 1))
    for i, word in enumerate(x, 1):
        diagonal, row[0] = row[0], i
        for j, other in enumerate(y, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (word != other))
    return row[-1]


def _prompt(suite: Suite, query: str, index: int) -> str:
    return suite.prompts_of(query)[index]


# the suite file -----------------------------------------------------------------------------


def test_is_bundled_and_shaped_as_designed(workplace: Suite) -> None:
    assert bundled_suites()["workplace"] == SUITE_FILE
    assert workplace.name == "workplace"
    assert workplace.tool_names == list(TOOLS.values())
    assert [q.id for q in workplace.spec.queries] == list(TOOLS)
    for query in workplace.spec.queries:
        assert len(query.prompts) == PROMPTS, query.id
        assert query.valid_tools == [TOOLS[query.id]], query.id
    workplace.check_holdout(HELD_OUT)
    weights = workplace.spec.reward
    assert (weights.valid, weights.wrong, weights.clarify) == (1.0, -1.0, 0.0)
    assert workplace.reward_model.is_valid("q1", "send_email")
    assert not workplace.reward_model.is_valid("q1", "send_chat_message")
    assert not workplace.reward_model.is_valid("q5", "set_reminder")


def test_tool_descriptions_are_distinct(workplace: Suite, tools: ModuleType) -> None:
    descriptions = [t.description for t in workplace.spec.tools]
    assert len(set(descriptions)) == len(descriptions)
    for spec in workplace.spec.tools:
        assert spec.function == f"../../tools/workplace.py:{spec.name}"
        assert len(spec.description) >= 40, spec.name
        assert getattr(tools, spec.name).__doc__, spec.name


def test_the_loader_refuses_one_prompt_in_two_queries(tmp_path: Path) -> None:
    """Why the ambiguous twins are near-identical (an added "please"), not identical."""
    data = yaml.safe_load(SUITE_FILE.read_text(encoding="utf-8"))
    for tool in data["tools"]:
        tool["function"] = str(TOOLS_FILE) + ":" + tool["function"].rsplit(":", 1)[1]
    copy = tmp_path / "workplace.yaml"
    copy.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert Suite.load(copy).name == "workplace"
    data["queries"][1]["prompts"][5] = data["queries"][0]["prompts"][2]
    copy.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(SuiteError, match=r"queries\.1\.prompts\.5: duplicate prompt"):
        Suite.load(copy)


def test_the_ambiguous_prompts_are_where_the_design_says(workplace: Suite) -> None:
    assert _ambiguous(workplace) == AMBIGUOUS_TRAINING | AMBIGUOUS_HELD_OUT
    for qa, ia, qb, ib in AMBIGUOUS_TRAINING | AMBIGUOUS_HELD_OUT:
        a, b = _prompt(workplace, qa, ia), _prompt(workplace, qb, ib)
        assert a != b
        assert sorted([*_words(a), "please"]) == sorted(_words(b)), (a, b)
        assert TOOLS[qa] != TOOLS[qb]


def test_the_header_lists_each_ambiguous_prompt(workplace: Suite) -> None:
    listed = re.findall(
        r'^#\s+(q\d+)\[(\d+)\]/(q\d+)\[(\d+)\]\s+"([^"]+)"',
        SUITE_FILE.read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    assert len(listed) == 6
    assert {(qa, int(ia), qb, int(ib)) for qa, ia, qb, ib, _ in listed} == (
        AMBIGUOUS_TRAINING | AMBIGUOUS_HELD_OUT
    )
    for qa, ia, qb, ib, text in listed:
        assert _prompt(workplace, qa, int(ia)) == text
        assert _near(_prompt(workplace, qb, int(ib)), text)


def test_held_out_positions(workplace: Suite) -> None:
    held = list(workplace.prompts("heldout", HELD_OUT))
    train = list(workplace.prompts("train", HELD_OUT))
    assert len(held) == HELD_OUT * len(TOOLS) and len(train) == TRAIN * len(TOOLS)
    assert not {p for _, p in held} & {p for _, p in train}
    # three pairs held out on both sides: six queries hold out one ambiguous prompt each
    held_ambiguous = [
        (q, i) for qa, ia, qb, ib in AMBIGUOUS_HELD_OUT for q, i in ((qa, ia), (qb, ib))
    ]
    assert all(i >= TRAIN for _, i in held_ambiguous)
    assert sorted(q for q, _ in held_ambiguous) == sorted(["q1", "q3", "q4", "q5", "q7", "q10"])
    # three pairs in training on both sides, at most one per query
    train_ambiguous = [
        (q, i) for qa, ia, qb, ib in AMBIGUOUS_TRAINING for q, i in ((qa, ia), (qb, ib))
    ]
    assert all(i < TRAIN for _, i in train_ambiguous)
    assert len({q for q, _ in train_ambiguous}) == len(train_ambiguous)


def test_minimal_pairs_differ_by_a_word_or_two(workplace: Suite) -> None:
    ambiguous = _ambiguous(workplace)
    spread = set()
    for qa, ia, qb, ib in MINIMAL_PAIRS:
        a, b = _prompt(workplace, qa, ia), _prompt(workplace, qb, ib)
        assert 1 <= _edits(a, b) <= 3, (a, b)
        assert not _near(a, b) and (qa, ia, qb, ib) not in ambiguous
        assert ia < TRAIN and ib < TRAIN  # the pairs are training prompts
        assert TOOLS[qa] != TOOLS[qb]
        spread |= {qa, qb}
    assert spread == set(TOOLS)


def test_clear_held_out_prompts_share_words_with_a_neighbouring_intent(workplace: Suite) -> None:
    ambiguous = {(q, i) for qa, ia, qb, ib in AMBIGUOUS_HELD_OUT for q, i in ((qa, ia), (qb, ib))}
    clear = [(q, i) for q in TOOLS for i in range(TRAIN, PROMPTS) if (q, i) not in ambiguous]
    assert len(clear) == 14
    for query, index in clear:
        words = set(_words(_prompt(workplace, query, index))) - _FILLER
        shared = max(
            len(words & (set(_words(p)) - _FILLER))
            for other in TOOLS
            if other != query
            for p in workplace.prompts_of(other, "train", HELD_OUT)
        )
        assert shared >= 2, (query, index)


# the tools ----------------------------------------------------------------------------------


def test_the_tools_use_only_the_standard_library() -> None:
    tree = ast.parse(TOOLS_FILE.read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module)])
    }
    assert imported == {"hashlib", "re"}


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            ("send_email", "Dana", "The Q3 notes are ready.", "Q3 notes", "", "Q3 notes.docx"),
            r"^Email sent to Dana, attaching Q3 notes\.docx: subject 'Q3 notes' \(message E-\d{4}\)$",
        ),
        (
            ("send_chat_message", "#marketing", "The launch moved to Friday"),
            r"^Chat message posted \(channel #marketing\): 'The launch moved to Friday' \(message C-\d{4}\)$",
        ),
        (
            ("send_chat_message", "Sam", "Lunch?"),
            r"^Chat message posted \(direct message to Sam\): 'Lunch\?' ",
        ),
        (
            ("create_calendar_event", "Budget review", "Thursday 15:00", 60, "Dana, Priya"),
            r"^Calendar event 'Budget review' added: Thursday 15:00, 60 min, invitations sent to Dana, Priya \(event V-\d{4}\)$",
        ),
        (
            ("set_reminder", "call the bank", "17:00"),
            r"^Reminder set for 17:00: 'call the bank' \(reminder M-\d{4}\)$",
        ),
        (
            ("add_task", "update the onboarding guide", "Friday", "HIGH"),
            r"^Task added to your to-do list: 'update the onboarding guide' \(due Friday, high priority, task K-\d{4}\)$",
        ),
        (
            ("search_files", "Where is the Q3 budget spreadsheet?"),
            r"^\d file\(s\) match .*\n- [^\n]+/Q3 budget\.xlsx \(edited \d+ days? ago\)",
        ),
        (
            ("search_files", "roadmap", "slides"),
            r"^\d file\(s\) match 'roadmap':\n- [^\n]+/Roadmap\.pptx ",
        ),
        (
            ("share_document", "the launch checklist", "Sam", "editor"),
            r"^Shared 'the launch checklist' with Sam \(can edit; they get a link, share S-\d{4}\)$",
        ),
        (
            ("translate_text", "The meeting is postponed", "German"),
            r"^Translation from auto-detected language into German \(job L-\d{4}\): \[de\] The meeting is postponed$",
        ),
        (
            ("translate_text", "Bitte um Rückruf", "en", "german"),
            r"^Translation from German into English \(job L-\d{4}\): \[en\] Bitte um Rückruf$",
        ),
        (
            ("submit_expense", "Taxi to the client visit, 27 euros"),
            r"^Expense claim X-\d{4} submitted: Taxi to the client visit, 27 euros \(27\.00 EUR, travel\); awaiting approval$",
        ),
        (
            ("submit_expense", "conference registration", 450, "usd"),
            r"^Expense claim X-\d{4} submitted: conference registration \(450\.00 USD, conference\)",
        ),
        (
            ("submit_expense", "hotel bill from Berlin"),
            r"\(amount to be read from the receipt, lodging\)",
        ),
        (
            ("set_out_of_office", "1 to 15 August", "", "Sam"),
            r"^Out-of-office auto-reply on for 1 to 15 August: 'I'm out of the office and will reply when I'm back\. Meanwhile, please contact Sam\.' \(auto-reply O-\d{4}\)$",
        ),
    ],
)
def test_tool_results(tools: ModuleType, call: tuple, expected: str) -> None:
    name, *args = call
    result = getattr(tools, name)(*args)
    assert re.search(expected, result), result
    assert result == getattr(tools, name)(*args)


@pytest.mark.parametrize(
    "call",
    [
        ("send_email", "", "hello"),
        ("send_email", "Dana", "   "),
        ("send_chat_message", "#general", ""),
        ("create_calendar_event", "Sync", ""),
        ("create_calendar_event", "Sync", "Monday 9:00", 0),
        ("create_calendar_event", "Sync", "Monday 9:00", True),
        ("set_reminder", "call the bank", ""),
        ("add_task", "badges", "", "urgent"),
        ("search_files", ""),
        ("search_files", "budget", "video"),
        ("share_document", "the contract", ""),
        ("share_document", "the contract", "legal", "own"),
        ("translate_text", "hello", "Klingon"),
        ("translate_text", "hello", "English", "English"),
        ("submit_expense", "lunch", -5.0),
        ("submit_expense", "lunch", 20.0, "yen"),
        ("submit_expense", "lunch", 20.0, "EUR", "fun"),
        ("submit_expense", "a yacht", 2_000_000.0),
        ("set_out_of_office", " "),
    ],
)
def test_bad_arguments_yield_an_error_string(tools: ModuleType, call: tuple) -> None:
    name, *args = call
    assert getattr(tools, name)(*args).startswith("error: ")


def test_translation_targets_the_language_asked_for(tools: ModuleType) -> None:
    request = "Can you turn the email I'm writing to Marco from English into Italian?"
    assert "into Italian (job L-" in tools.translate_text(request, request)
    assert "into English (job L-" in tools.translate_text("Bitte um Rückruf", "in English")


def test_search_finds_nothing_without_keywords(tools: ModuleType) -> None:
    assert tools.search_files("where is my file?").startswith("No files match")


def test_references_depend_on_the_arguments(tools: ModuleType) -> None:
    def ref(text: str) -> str:
        found = re.search(r"[A-Z]-\d{4}", text)
        assert found is not None, text
        return found[0]

    assert ref(tools.set_reminder("call the bank", "17:00")) != ref(
        tools.set_reminder("call the bank", "18:00")
    )
    assert ref(tools.send_email("Dana", "hi")) == ref(tools.send_email(" dana ", "HI"))
