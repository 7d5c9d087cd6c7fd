"""Files written whole or not at all: a temporary file beside the target, renamed over it.

Only a regular file (or nothing) is ever replaced: renaming over a device, a FIFO or a
socket would turn `/dev/null` into a report. A symlink is followed, so the file it points
to is what gets replaced. The new file gets the mode a user expects: the replaced file's,
or what the umask leaves of 0666 (0777 for a directory).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..errors import BadInputError

__all__ = ["check_folder", "check_output", "new_mode", "replacing", "write_text_atomically"]


def check_output(path: Path, *, protected: Sequence[Path] = ()) -> Path:
    """The file that writing to `path` would replace (symlinks resolved), if it may be.

    Creates nothing. `protected` are files (or folders, with everything inside) an output
    must never replace: the memory being read, its side files.

    Raises:
        BadInputError: a directory, a device, FIFO or socket, one of `protected`, a missing
            or unwritable folder.
    """
    target = Path(os.path.realpath(path))
    for kept in protected:
        if _same(target, kept):
            raise BadInputError(f"{path}: is the memory's own file {kept}: choose another path")
    _replaceable(path)
    check_folder(path)
    return target


def check_folder(path: Path) -> None:
    """Refuse a path whose folder is missing or not writable (symlinks resolved)."""
    folder = Path(os.path.realpath(path)).parent
    if not folder.is_dir():
        raise BadInputError(f"{path}: no directory {path.parent}")
    if not os.access(folder, os.W_OK):
        raise BadInputError(f"{path}: directory {path.parent} is not writable")


def _same(target: Path, kept: Path) -> bool:
    """Whether `target` is `kept`, a link to it, or inside it (`kept` a folder)."""
    real = Path(os.path.realpath(kept))
    if target == real or real in target.parents:
        return True
    try:
        return os.path.samefile(target, real)
    except OSError:  # one of them does not exist
        return False


def _replaceable(path: Path) -> Path:
    """The file `path` names (symlinks resolved), if it is a regular file or nothing yet."""
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise BadInputError(f"{path}: is a directory")
    _refuse_special(target, path)
    return target


def _refuse_special(target: Path, shown: Path) -> None:
    try:
        mode = target.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):  # nothing there (yet)
        return
    except OSError as exc:
        raise BadInputError(f"{shown}: cannot be used ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise BadInputError(f"{shown}: not a regular file (a device, FIFO or socket)")


def new_mode(target: Path, *, directory: bool = False) -> int:
    """The mode of a file written at `target`: the mode of the file it replaces, else what
    the umask leaves of 0666 (0777 for a directory)."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return (0o777 if directory else 0o666) & ~_umask()


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (briefly visible to other threads)
    os.umask(mask)
    return mask


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write; renamed over `path` when the block succeeds,
    removed when it fails. Readers see the old file or the new one, never half of one.

    Raises:
        BadInputError: `path` is (or links to) something other than a regular file.
    """
    target = _replaceable(path)
    mode = new_mode(target)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(temp)
        os.chmod(temp, mode)
        _refuse_special(target, path)  # made a device or FIFO while we wrote: keep it
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_text_atomically(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` through `replacing`."""
    with replacing(path) as temp:
        temp.write_text(text, encoding="utf-8")
