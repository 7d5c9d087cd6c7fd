"""Files written whole or not at all."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from reflexrl.errors import BadInputError
from reflexrl.files.atomic import check_output, replacing, write_text_atomically


@pytest.fixture
def umask_027() -> Iterator[None]:
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_text_atomically(target, "old")
    with pytest.raises(RuntimeError), replacing(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
    write_text_atomically(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_027")
def test_a_new_file_gets_the_umask_and_a_replaced_one_keeps_its_mode(tmp_path: Path) -> None:
    new = tmp_path / "new.txt"
    write_text_atomically(new, "x")
    assert _mode(new) == 0o640  # 0666 less the umask, not mkstemp's 0600
    shared = tmp_path / "shared.txt"
    shared.write_text("old")
    shared.chmod(0o664)
    write_text_atomically(shared, "new")
    assert (shared.read_text(), _mode(shared)) == ("new", 0o664)


def test_only_a_regular_file_is_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "null").symlink_to(os.devnull)
    for special in (fifo, tmp_path / "null", Path(os.devnull)):
        with pytest.raises(BadInputError, match="not a regular file"):
            write_text_atomically(special, "report")
    assert stat.S_ISFIFO(fifo.stat().st_mode) and stat.S_ISCHR(Path(os.devnull).stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "null"]  # no temporary left


def test_a_symlink_is_followed_to_the_file_it_names(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_text("old")
    (tmp_path / "link.txt").symlink_to(real)
    write_text_atomically(tmp_path / "link.txt", "new")
    assert (tmp_path / "link.txt").is_symlink() and real.read_text() == "new"


def test_an_output_never_replaces_a_protected_file(tmp_path: Path) -> None:
    memory, folder = tmp_path / "m.db", tmp_path / "m.db.knn"
    memory.write_text("memory")
    (tmp_path / "hard").hardlink_to(memory)
    (tmp_path / "soft").symlink_to(memory)
    for out in (memory, tmp_path / "hard", tmp_path / "soft", folder / "x", tmp_path / "./m.db"):
        with pytest.raises(BadInputError, match="is the memory's own file"):
            check_output(out, protected=(memory, folder))
    assert check_output(tmp_path / "report.txt", protected=(memory, folder)).name == "report.txt"
