"""The one atomic writer, and what a failed write means to the user.

Every file lambdaforge owns (state records, the stat cache, the manifest, cache entries'
metadata, the lock's pid file, rewritten RECORDs) is replaced the same way: written to a temp
file beside it (``.NAME.XXXXXXXX.tmp``, the pattern a build's leftover sweep removes),
optionally fsynced, renamed over the final path, and the directory fsynced. Readers see the
old content or the new one, never a mix, and a failure leaves the final path as it was.

A write that fails (a full disk above all) is the user's problem to solve, not a bug: it is
raised as ``DiskWriteError``, which names the final path and, for ``ENOSPC``/``EDQUOT``,
says the disk is full. ``writing(path)`` gives the same translation to code that writes a
file by other means (a copy into a cache entry, a scratch file).
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from lambdaforge.errors import DiskWriteError

#: errno values that mean "no room left" (EDQUOT does not exist on every platform)
NO_SPACE_ERRNOS = frozenset(
    code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if code is not None
)
#: what every temp file of the atomic writer ends with (see ``temp_prefix`` for the start)
TEMP_SUFFIX = ".tmp"


def temp_prefix(path: Path) -> str:
    """The start of the temp file names used for ``path``: ``.NAME.`` (hidden, and matched
    by the ``.*.tmp`` sweep of a build's leftovers)."""
    return f".{path.name}."


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` is an ``OSError`` saying the disk (or the user's quota) is full."""
    return isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS


def write_failure(exc: OSError, path: os.PathLike[str] | str | None = None, *,
                  hint: str = "") -> DiskWriteError:
    """A ``DiskWriteError`` for ``exc`` that names ``path`` (default: the path the OS error
    names, if any). ``hint`` is appended after ``"; "`` to say what the user can do."""
    if isinstance(exc, DiskWriteError):  # already translated: at most add the hint
        if not hint or exc.message.endswith(hint):
            return exc
        return DiskWriteError(f"{exc.message}; {hint}", exc.errno, exc.filename)
    where = path if path is not None else exc.filename
    target = f"cannot write `{os.fspath(where)}`" if where is not None else "cannot write a file"
    if exc.errno == errno.ENOSPC:
        why = "the disk is full (no space left on device)"
    elif exc.errno in NO_SPACE_ERRNOS:
        why = "the disk is full for this user (disk quota exceeded)"
    else:
        why = exc.strerror or str(exc)
    message = f"{target}: {why}" + (f"; {hint}" if hint else "")
    return DiskWriteError(message, exc.errno, None if where is None else os.fspath(where))


@contextmanager
def writing(path: os.PathLike[str] | str, *, hint: str = "") -> Iterator[None]:
    """Turn any ``OSError`` raised inside the block into a ``DiskWriteError`` naming
    ``path``: for writes that do not go through ``write_atomic`` (copies, scratch files)."""
    try:
        yield
    except DiskWriteError:
        raise
    except OSError as exc:
        raise write_failure(exc, path, hint=hint) from exc


def write_atomic(path: Path, data: bytes, *, durable: bool = True, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new content, never a
    mix: write a temp file beside it, then rename.

    ``durable`` fsyncs the file first (and the directory after) so a power cut cannot leave
    an empty file under the new name; leave it off for files that are cheap to lose.
    ``mode`` sets the permissions (the temp file starts as 0600). Any failure raises
    ``DiskWriteError`` naming ``path`` and leaves ``path`` untouched and no temp file behind.
    """
    with atomic_file(path, durable=durable, mode=mode) as f, writing(path):
        fd = f.fileno()
        view = memoryview(data)
        while view:  # os.write may write less than asked (signals, pipes, quotas)
            written = os.write(fd, view)
            view = view[written:]


@contextmanager
def atomic_file(path: Path, *, durable: bool = True, mode: int | None = None) -> Iterator[BinaryIO]:
    """A binary file to stream ``path``'s new content into; renamed over ``path`` when the
    block ends normally, removed (``path`` untouched) when it raises.

    For writers that produce their output piece by piece (a zip). Same guarantees and
    errors as ``write_atomic``; the file object is unbuffered, so ``f.fileno()`` writes and
    ``f.write`` calls may be mixed.
    """
    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=TEMP_SUFFIX)
    f = os.fdopen(fd, "wb", buffering=0)
    published = False
    try:
        try:
            yield f
        except DiskWriteError:
            raise
        except OSError as exc:
            # The caller's own errors (an unreadable input) stay what they are; only a full
            # disk is known to be about this file.
            if not is_disk_full(exc):
                raise
            raise write_failure(exc, path) from exc
        with writing(path):
            if durable:
                os.fsync(fd)
            f.close()  # NFS reports a full disk or quota as late as close()
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, path)
            published = True
    finally:
        if not published:
            try:
                f.close()
            except OSError:
                pass
            try:
                os.unlink(tmp)
            except OSError:
                pass
    if durable:
        fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename inside it survives a power cut (no-op where the OS
    cannot open directories, e.g. Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
