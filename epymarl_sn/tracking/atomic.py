"""Files written whole or not at all, and a failed write said in one line.

Every file the plugin writes (a run's JSON files and models, CSV exports, figures,
tables, compact run records, run.json rewrites) goes to a temporary file next to its
path, is synced, and replaces the path in one step: a reader, a full disk or a kill
in the middle leaves the previous complete file (or none), never half of one. A
write that fails removes its temporary file; `write_failure` says why in one line.
"""

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any, Callable, Union

PathLike = Union[str, "os.PathLike[str]"]
# the mode a plain open() gives a new file (mkstemp's is 0600); read once, as
# os.umask can only be read by setting it
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write(path: PathLike, write: Callable[[str], None]) -> None:
    """`write(tmp_path)` writes the content to a temporary file next to `path`, which
    then replaces `path` in one step. On any error the temporary file is removed and
    `path` is left as it was."""
    with _replacing(os.fspath(path)) as tmp:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())


@contextmanager
def atomic_open(path: PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """`with atomic_open(path) as f:` writes `path` whole when the block ends without
    an error, and leaves it as it was otherwise."""
    with _replacing(os.fspath(path)) as tmp, open(tmp, mode, **kwargs) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


@contextmanager
def _replacing(path: str) -> Iterator[str]:
    """A new temporary file next to `path`, with a plain open()'s mode, which replaces
    `path` when the block ends without an error and is removed otherwise; a failed
    write names the file asked for, not its temporary file."""
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(dir=directory or ".", prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        yield tmp
        os.replace(tmp, path)
    except BaseException as err:
        with suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.filename in (None, tmp):
            err.filename = path
        raise


def write_text(path: PathLike, text: str) -> None:
    """`path` holds `text`, whole."""
    with atomic_open(path) as f:
        f.write(text)


def is_disk_full(err: OSError) -> bool:
    return err.errno in (errno.ENOSPC, errno.EDQUOT)


def free_space(path: PathLike) -> str:
    """The space left on the file system of `path`, in words."""
    try:
        free = shutil.disk_usage(os.path.dirname(os.fspath(path)) or ".").free
    except OSError:
        return "free space unknown"
    return f"{free / 2**20:.1f} MiB free" if free >= 2**20 else f"{free} bytes free"


def disk_full_reason(path: PathLike) -> str:
    """What a full disk stopped: the path and the space left on its filesystem."""
    return f"no space left on the device writing {os.fspath(path)} ({free_space(path)} there)"


def write_failure(path: PathLike, err: OSError) -> str:
    """Why `path` could not be written, in one line (a full disk with the space left)."""
    if is_disk_full(err):
        return disk_full_reason(path)
    return f"cannot write {os.fspath(path)} ({err.strerror or err})"
