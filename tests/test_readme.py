"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_the_wrap_knn_and_learning_examples() -> None:
    blocks = python_blocks()
    assert len(blocks) == 4
    assert all(len(b.strip().splitlines()) <= 10 for b in blocks)


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_readme_example_runs(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(python_blocks()[index], f"README.md block {index}", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed and all(printed)
    if index == 0:
        assert printed[0] == "1.0" and "reward=2.0" in printed[1] and "'create_image'" in printed[1]
    elif index == 1:
        assert "reward=1.0" in printed[0] and (tmp_path / "memory" / "wrapped.db").is_file()
    elif index == 2:  # a held-out prompt finds its trained paraphrases
        similarities = eval(printed[0])
        assert 1 <= len(similarities) <= 5 and all(0.5 <= s < 1 for s in similarities)
    else:  # learning in production: the invocation is credited once, by the feedback
        assert printed[0].startswith("Credited(") and "credited=True" in printed[0]
        assert "rewards={0: 1.0}" in printed[0]
