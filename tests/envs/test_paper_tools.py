"""Tests of the paper suite's tools (tools/paper.py) and of its suite file (evals/suites)."""

import ast
import dataclasses
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).parents[2]
SUITE_FILE = ROOT / "evals" / "suites" / "paper.yaml"
TOOL_NAMES = [
    "create_image",
    "analyze_image",
    "calculator",
    "python_interpreter",
    "retrieve_rlhf_paper",
    "retrieve_rlaif_paper",
]


@pytest.fixture
def paper(paper_tools: ModuleType) -> ModuleType:
    return paper_tools


# calculator ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("5 plus 5 plus 10", "20"),
        ("5 + 5 + 10", "20"),
        ("Calculate the result of the mathematical expression: 5 plus 5 plus 10", "20"),
        ("Calculate the result of the expression 5 plus 5 plus 10.", "20"),
        ("2*(3+4)", "14"),
        ("What is 7 multiplied by 6?", "42"),
        ("9 divided by 2", "4.5"),
        ("8 / 2", "4"),
        ("-2 ** 2", "-4"),
        ("2 ** 100", str(2**100)),
    ],
)
def test_calculator_computes(paper: ModuleType, expression: str, expected: str) -> None:
    assert paper.calculator(expression) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "2**1000000",
        "__import__('os')",
        "__import__('os').system('echo hacked')",
        "x + 1",
        "sqrt (4)",
        "[1, 2] * 3",
        "'a' * 3",
        "(lambda: 1)()",
        "",
        "hello",
    ],
)
def test_calculator_refuses_non_arithmetic(paper: ModuleType, expression: str) -> None:
    assert paper.calculator(expression).startswith("error:")


@pytest.mark.parametrize("expression", ["1/0", "5 // 0", "5 % 0", "10 divided by 0"])
def test_calculator_division_by_zero(paper: ModuleType, expression: str) -> None:
    assert paper.calculator(expression) == "error: division by zero"


# python_interpreter -------------------------------------------------------------------------

LOOP = "i = 0\nfor _ in range(4):\n    i = i + 5\nprint(i)\n"


def test_interpreter_runs_the_loop(paper: ModuleType) -> None:
    assert paper.python_interpreter(LOOP).strip() == "20"


def test_interpreter_prints_a_lone_expression_and_strips_fences(paper: ModuleType) -> None:
    assert paper.python_interpreter("5 + 5 + 10").strip() == "20"
    assert paper.python_interpreter(f"```python\n{LOOP}```").strip() == "20"
    assert paper.python_interpreter("x = 1") == "(no output)"


def test_interpreter_reports_errors(paper: ModuleType) -> None:
    result = paper.python_interpreter("print('before')\nraise ValueError('boom')")
    assert result.startswith("before")
    assert "error: exit code 1" in result
    assert "ValueError: boom" in result


def test_interpreter_times_out(paper: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paper, "LIMITS", dataclasses.replace(paper.LIMITS, timeout_s=0.5))
    assert paper.python_interpreter("while True: pass") == "error: timed out after 0.5 s"


def test_interpreter_reports_output_then_timeout(
    paper: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paper, "LIMITS", dataclasses.replace(paper.LIMITS, timeout_s=2.0))
    code = "import sys, time\nprint('partial')\nsys.stdout.flush()\ntime.sleep(30)"
    assert paper.python_interpreter(code) == "partial\nerror: timed out after 2 s"


@pytest.mark.parametrize(
    ("code", "failure"),
    [
        (
            "import socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
            "s.connect(('192.0.2.1', 80))\n",  # TEST-NET-1: a route only a real network has
            "OSError: [Errno 101] Network is unreachable",
        ),
        (
            "import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=2)\n",
            "OSError: [Errno 101] Network is unreachable",
        ),
        ("import socket\nsocket.getaddrinfo('example.com', 80)\n", "socket.gaierror: "),
    ],
)
def test_interpreter_has_no_network(paper: ModuleType, code: str, failure: str) -> None:
    result = paper.python_interpreter(code + "print('CONNECTED')")
    assert failure in result
    assert "error: exit code 1" in result
    assert "CONNECTED" not in result


def test_interpreter_output_limit(paper: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paper, "LIMITS", dataclasses.replace(paper.LIMITS, output_bytes=100))
    result = paper.python_interpreter("print('a' * 150)\nprint('never reached')")
    assert (
        result == "a" * 100 + "\n... (output truncated)\nerror: output limit of 100 bytes exceeded"
    )


def test_interpreter_memory_bomb_fails_cleanly(paper: ModuleType) -> None:
    result = paper.python_interpreter("x = bytearray(4 * 1024**3)\nprint('allocated')")
    assert "MemoryError" in result
    assert "allocated" not in result


def test_interpreter_runs_in_a_fresh_directory_with_minimal_env(
    paper: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFLEXRL_TEST_SECRET", "host-only")
    code = (
        "import os\n"
        "print(os.getcwd(), os.listdir('.'), os.environ['HOME'], os.environ['PATH'])\n"
        "print('REFLEXRL_TEST_SECRET' in os.environ)"
    )
    assert paper.python_interpreter(code).split() == [
        "/work",
        "[]",
        "/work",
        "/usr/bin:/bin",
        "False",
    ]


def test_interpreter_limits_file_size(paper: ModuleType) -> None:
    code = "open('big.bin', 'wb').write(b'x' * (4 * 1024 * 1024))"
    assert "File too large" in paper.python_interpreter(code)


# create_image / analyze_image ---------------------------------------------------------------


def test_create_then_analyze_image(
    paper: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFLEXRL_OUTPUT_DIR", str(tmp_path))
    description = "several dogs running on a beach"
    result = paper.create_image(description)
    images = list((tmp_path / "reflexrl-images").glob("*.png"))
    assert len(images) == 1
    assert result == f"created image {images[0]} (256x256 PNG) for: {description}"
    assert images[0].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    assert paper.create_image(description) == result  # same description, same file
    assert len(list((tmp_path / "reflexrl-images").glob("*.png"))) == 1

    facts = paper.analyze_image(str(images[0]), "how many dogs are there?")
    assert "256x256 pixels" in facts
    assert "mode RGB" in facts
    assert "mean RGB (" in facts
    assert "object counting is not available" in facts


def test_create_image_rejects_empty_description(paper: ModuleType) -> None:
    assert paper.create_image("   ").startswith("error:")


def test_analyze_image_missing_or_not_an_image(paper: ModuleType, tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    expected = f"error: no readable image at '{missing}'; pass the path of an image file"
    assert paper.analyze_image(str(missing)) == expected
    text_file = tmp_path / "notes.png"
    text_file.write_text("not an image")
    assert paper.analyze_image(str(text_file)).startswith("error: no readable image at")


# retrieval ----------------------------------------------------------------------------------


def test_retrieval_tools_return_distinct_summaries(paper: ModuleType) -> None:
    rlhf = paper.retrieve_rlhf_paper("how did Anthropic tune harmful outputs?")
    rlaif = paper.retrieve_rlaif_paper("how did Anthropic scale that up?")
    assert rlhf and rlaif and rlhf != rlaif
    assert rlhf.startswith("Training a Helpful and Harmless Assistant with Reinforcement Learning")
    assert "Bai et al., 2022" in rlhf and "2204.05862" in rlhf
    assert rlaif.startswith("Constitutional AI: Harmlessness from AI Feedback")
    assert "Bai et al., 2022" in rlaif and "2212.08073" in rlaif


# the suite file -----------------------------------------------------------------------------


def _functions_defined_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_suite_file_shape() -> None:
    suite = yaml.safe_load(SUITE_FILE.read_text(encoding="utf-8"))
    assert set(suite) == {"name", "description", "reward", "tools", "queries"}
    assert suite["name"] == "paper"
    assert suite["reward"] == {"valid": 1.0, "wrong": -1.0, "clarify": 0.0}
    assert [tool["name"] for tool in suite["tools"]] == TOOL_NAMES

    queries = suite["queries"]
    assert [q["id"] for q in queries] == ["q1", "q2", "q3", "q4", "q5", "q6"]
    assert [q["valid_tools"] for q in queries] == [[name] for name in TOOL_NAMES]
    prompts = [p for q in queries for p in q["prompts"]]
    for query in queries:
        assert len(query["prompts"]) == 5
        assert len(set(query["prompts"])) == 5
    assert len(prompts) == 30
    assert len(set(prompts)) == 30
    assert all(isinstance(p, str) and p.strip() and "\n" not in p for p in prompts)


def test_suite_keeps_the_papers_ambiguity() -> None:
    queries = yaml.safe_load(SUITE_FILE.read_text(encoding="utf-8"))["queries"]
    q3, q4 = queries[2]["prompts"], queries[3]["prompts"]
    assert q3[0] == "Calculate the result of the mathematical expression: 5 plus 5 plus 10"
    assert q4[0] == "Calculate the result of the expression 5 plus 5 plus 10."
    assert not any("python" in p.lower() for p in q4)
    assert queries[4]["prompts"][4] == "How did Anthropic fine tuned the toxicity of their LLM?"
    last = "How did Anthropic scaled the fine tuning of the toxicity of their LLM?"
    assert queries[5]["prompts"][4] == last


def test_suite_tool_functions_exist() -> None:
    suite = yaml.safe_load(SUITE_FILE.read_text(encoding="utf-8"))
    for tool in suite["tools"]:
        file_part, function = tool["function"].rsplit(":", 1)
        path = (SUITE_FILE.parent / file_part).resolve()
        assert path.is_file(), tool["function"]
        assert function == tool["name"]
        assert function in _functions_defined_in(path)
        assert tool["description"].strip()
