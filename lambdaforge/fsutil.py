"""The one atomic writer, and what a failed write means to the user.

Every file lambdaforge owns (state records, the stat cache, the manifest, cache entries'
metadata, the lock's pid file, rewritten RECORDs) is replaced the same way: written to a temp
file beside it (``.NAME.XXXXXXXX.tmp``, the pattern a build's leftover sweep removes),
optionally fsynced, renamed over the final path, and the directory fsynced. Readers see the
old content or the new one, never a mix, and a failure leaves the final path as it was.
``write_atomic`` takes the bytes, ``atomic_file`` streams them (a zip), ``place_file`` puts a
hard link or copy of another file there (an artifact restored from the cache).

A write that fails (a full disk above all) is the user's problem to solve, not a bug: it is
raised as ``DiskWriteError``, which names the final path and, for ``ENOSPC``/``EDQUOT``,
says the disk is full. ``writing(path)`` gives the same translation to code that writes a
file by other means (a copy into a cache entry, a scratch file).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
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
_COPY_CHUNK = 1 << 20


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
        fd = f.fileno()  # nothing is ever buffered in f: the bytes go straight to the fd
        view = memoryview(data)
        while view:  # os.write may write less than asked (signals, pipes, quotas)
            written = os.write(fd, view)
            view = view[written:]


@contextmanager
def atomic_file(
    path: Path, *, durable: bool = True, mode: int | None = None,
    publish: Callable[[], bool] | None = None,
) -> Iterator[BinaryIO]:
    """A buffered binary file to stream ``path``'s new content into; renamed over ``path``
    when the block ends normally, removed (``path`` untouched) when it raises.

    For writers that produce their output piece by piece (a zip). Same guarantees and
    errors as ``write_atomic``; an ``OSError`` of the caller's own (an unreadable input)
    passes unchanged, unless it says the disk is full. ``publish``, called once the content
    is complete, may return False to keep ``path`` as it is (it already holds these bytes,
    say, and its mtime should not move): the temp file is then removed.
    """
    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=TEMP_SUFFIX)
    f = os.fdopen(fd, "wb")
    done = False
    try:
        try:
            yield f
        except DiskWriteError:
            raise
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            raise write_failure(exc, path) from exc
        with writing(path):
            f.flush()
            if durable:
                os.fsync(fd)
            f.close()  # NFS reports a full disk or quota as late as close()
            if publish is not None and not publish():
                return  # the finally removes the temp file
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, path)
            done = True
    finally:
        if not done:
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


def place_file(src: Path, dest: Path, *, mode: int = 0o644) -> None:
    """Put ``src``'s content at ``dest`` atomically, as a hard link when both are on one file
    system (no copy of a 100 MiB zip; ``src`` keeps its mode, and no chmod moves its
    ctime), else as a copy with ``mode``. Not durable: for outputs restorable from ``src``
    (an artifact from the cache). Failures raise ``DiskWriteError`` naming ``dest``."""
    dest = Path(dest)
    with writing(dest):
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=temp_prefix(dest), suffix=TEMP_SUFFIX)
        os.close(fd)
        os.unlink(tmp)  # a free name beside dest, for the link
        try:
            os.link(src, tmp)
        except OSError as exc:
            if is_disk_full(exc):
                raise
        else:
            try:
                os.replace(tmp, dest)
            except BaseException:
                os.unlink(tmp)
                raise
            return
    # another file system, or links not allowed
    with atomic_file(dest, durable=False, mode=mode) as out, open(src, "rb") as source:
        shutil.copyfileobj(source, out, _COPY_CHUNK)


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
