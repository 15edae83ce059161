"""Files: reading within limits, and writing atomically so a reader never sees half a file.

- Only regular files are read, and at most a stated number of bytes: a named pipe nobody
  writes would hang the read, ``/dev/zero`` would never end.

- The data goes to a temporary file beside the target (``.NAME.PID.XXXX.archscope-tmp``),
  is synced, then renamed into place. A run killed in between (SIGKILL) leaves that
  temporary file; the next write into the same directory removes the leftovers of
  processes that no longer run (a concurrent run's file is left alone).
- A symlink is written through: the file it points to is replaced, the link stays a link.
- Only regular files are written: a named pipe, a device or a socket is refused, not replaced.
- A file the command also reads (its model's spec or source file) is never an output.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from archscope.errors import UsageError

TMP_SUFFIX = ".archscope-tmp"
MAX_NAME = 255  # bytes in one path component, on every common file system


def read_limited(path: str | Path, limit: int) -> bytes:
    """The bytes of the regular file ``path`` (or of the file a link points to), if it holds at
    most ``limit``. Otherwise an :class:`OSError` whose ``strerror`` says why, as for a missing
    or unreadable file; the caller names the file and its role."""
    mode = os.stat(path).st_mode  # never blocks, unlike opening a pipe
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, "it is not a regular file (a named pipe, a device or a socket)")
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"it has more than {limit:,} bytes, the most archscope reads")
    return data


def check_writable(path: str | Path, reads: Iterable[str | Path] = ()) -> Path:
    """Fail early, before any work, if ``path`` cannot be written (or is one of ``reads``)."""
    p = Path(path)
    if not str(path).strip():
        raise UsageError("the output path is empty")
    if len(os.fsencode(p.name)) > MAX_NAME:
        raise UsageError(f"cannot write {str(p)[:80]!r}…: the file name is longer than {MAX_NAME} bytes")
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise UsageError(f"cannot write {str(p)!r}: it is a directory")
    if p.exists() and not p.is_file():
        raise UsageError(f"cannot write {str(p)!r}: it is not a regular file (a named pipe, a device or a socket), "
                         "which archscope would replace; leave -o out to print to standard output")
    if not parent.is_dir():
        raise UsageError(f"cannot write {str(p)!r}: the directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UsageError(f"cannot write {str(p)!r}: permission denied")
    for source in reads:
        if _same_file(p, Path(source)):
            raise UsageError(f"cannot write {str(p)!r}: it is the model's own file, which this command reads; "
                             "name another output")
    return p


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def write_atomic(path: str | Path, data: str | bytes, reads: Iterable[str | Path] = ()) -> None:
    """Write to a temporary file beside ``path`` (through a symlink: beside its target), then
    rename it into place; ``path`` may not be one of the files the command ``reads``."""
    p = check_writable(path, reads)
    if p.is_symlink():
        p = Path(os.path.realpath(p))
    payload = data.encode("utf-8") if isinstance(data, str) else data
    remove_leftovers(p.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name[:200]}.{os.getpid()}.", suffix=TMP_SUFFIX, dir=p.parent)
    except OSError as exc:
        raise UsageError(f"cannot write {str(p)!r}: {exc.strerror or exc}") from None
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the rename makes it visible
        os.replace(tmp, p)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"cannot write {str(p)!r}: {exc.strerror or exc}") from None
    except BaseException:  # Ctrl-C included: no temporary file is left behind
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_leftovers(directory: Path) -> None:
    """Temporary files that killed runs left in ``directory`` (their process is gone)."""
    try:
        for leftover in directory.glob(f".*{TMP_SUFFIX}"):
            pid = leftover.name.removesuffix(TMP_SUFFIX).split(".")[-2]
            if pid.isascii() and pid.isdigit() and not _alive(int(pid)):
                leftover.unlink(missing_ok=True)
    except OSError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, another user's
        return True
    return pid != 0
