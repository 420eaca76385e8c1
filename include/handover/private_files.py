"""Files that hold plaintext customer data or keys: created new, owner-only, never through a link, and
removed when writing them fails.

Every such file — a work-area chunk, a quarantine export for repair, a restored original, a recovered key,
a table dump — is opened with ``O_CREAT | O_EXCL | O_NOFOLLOW`` and mode 0600: never a file someone else
created (in a shared folder, another user could have made it readable to them first), never a planted
symlink's target. It is written under a temporary name beside it and renamed into place at the end, so a
reader never sees half of it and a failure leaves nothing behind (the partial file is removed).
``replace`` says whether an existing file at the final name may be replaced (the run's own work area) or
must make the call fail (a user's output folder).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from handover.errors import HandoverError

FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class PrivateFileError(HandoverError):
    """A private file could not be created where it was asked for (it exists, a link, no space …)."""


def _why(exc: OSError) -> str:
    import errno

    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno == errno.EDQUOT:
        return "the disk quota is used up"
    if exc.errno in (errno.ELOOP, errno.EMLINK):
        return "it is a symbolic link"
    return exc.strerror or type(exc).__name__


def create(path: Path) -> int:
    """A new file's descriptor, 0600; refuses an existing file or a link (`PrivateFileError`)."""
    try:
        return os.open(path, FLAGS, 0o600)
    except FileExistsError:
        raise PrivateFileError(f"{path} exists already: a file holding customer data or keys is never written "
                               "into a file that was there before (choose a new name or folder)") from None
    except OSError as exc:
        raise PrivateFileError(f"{path}: cannot create it ({_why(exc)})") from None


@contextmanager
def written(path: str | Path, mode: str = "wb", *, replace: bool = False, **open_args) -> Iterator:
    """``with written(path) as fh: fh.write(...)`` — the file appears at ``path`` only when the block ends
    without an error; then it is complete, 0600, and new. ``replace``: an existing file at ``path`` may be
    replaced (renamed over: a link there is replaced, never followed)."""
    path = Path(path)
    if not replace and (path.exists() or path.is_symlink()):
        raise PrivateFileError(f"{path} exists already: a file holding customer data or keys is never written "
                               "over (choose a new name or folder)")
    tmp = path.with_name(path.name + ".part")
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()  # a killed writer's leftover (unlink never follows a link)
    except OSError as exc:
        raise PrivateFileError(f"{tmp}: cannot remove a leftover partial file ({_why(exc)})") from None
    fd = create(tmp)
    try:
        with os.fdopen(fd, mode, **open_args) as fh:
            yield fh
        if replace:
            os.replace(tmp, path)
        else:  # a hard link fails if anything — a file, a link — took the name meanwhile: never replaced
            try:
                os.link(tmp, path, follow_symlinks=False)
                tmp.unlink()
            except FileExistsError:
                raise PrivateFileError(f"{path} appeared while it was being written: not replaced") from None
            except OSError:  # a file system without hard links: checked, then renamed
                if path.exists() or path.is_symlink():
                    raise PrivateFileError(f"{path} appeared while it was being written: not replaced") from None
                os.replace(tmp, path)
    except OSError as exc:
        _discard(tmp)
        raise PrivateFileError(f"{path}: cannot write it ({_why(exc)})") from None
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: Path) -> None:
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass


def write(path: str | Path, data: bytes, *, replace: bool = False) -> None:
    with written(path, "wb", replace=replace) as fh:
        fh.write(data)
