"""Replace a file so that a reader (or a crash) sees the old file or the new one, never half.

    with atomic_write(path, "wb") as f:     # a temporary file beside `path`
        np.save(f, x)                       # on success it replaces `path`; on error it is removed
    write_json_atomic(path, obj)

Every file c3t rewrites in place (manifests, model configs and metrics, labels, caches, the
export record) goes through here; commands that write a folder check it first
(check_output_folder) and put a finished folder in place whole (replace_folder).
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from c3t.core.errors import C3tError


@contextmanager
def atomic_write(path, mode: str = "w", fsync: bool = False) -> Iterator[IO]:
    """Open a temporary file beside `path` for writing ("w" text or "wb" bytes); when the
    block ends without error it replaces `path` (readable by all, as an ordinary file), else
    it is deleted. fsync=True also makes the new file and the rename durable.
    Raises OSError from the file system (a read-only or full disk) with the temporary removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        if hasattr(os, "fchmod"):  # mkstemp makes it private
            os.fchmod(fd, 0o644)
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if fsync:
        fsync_dir(path.parent)


def write_json_atomic(path, obj, fsync: bool = False) -> None:
    """Replace `path` with `obj` as indented JSON (see atomic_write)."""
    with atomic_write(path, "w", fsync) as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def fsync_dir(folder) -> None:
    """Make a rename or a new file in `folder` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_output_folder(path, flag: str = "--out", replace: bool = False, force_flag: str | None = None) -> None:
    """Check before any work that `path` can be written as a new folder: its parent can be
    created and written (no folder on the way is a file), and `path` is not a file. An existing non-empty folder is refused
    unless `replace` (then the caller replaces it whole at the end, see replace_folder); the refusal
    names `force_flag` as the way to replace it only where the command has one.

    Raises:
        C3tError: naming `flag`, the folder and what to do, when a folder on the way is a file, the
            parent cannot be created or written, `path` is a file, or (without `replace`) a non-empty
            folder
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise C3tError(f"{flag} {path} is a file; give a folder")
    if path.is_dir() and any(path.iterdir()) and not replace:
        instead = f", or {force_flag} to replace it" if force_flag else ""
        raise C3tError(f"{flag} {path} already exists and is not empty; give a new folder{instead}")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise C3tError(f"{flag} {path}: {parent} is a file; give a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise C3tError(f"{flag} {path}: {parent} cannot be written (read-only or not yours); choose another folder")


def replace_folder(staging, target) -> None:
    """Put the finished folder `staging` at `target` (replacing an existing `target`): `target`
    is never missing its new contents half-way; the old one is removed after the swap. Both
    must be on one file system (make `staging` beside `target`)."""
    staging, target = Path(staging), Path(target)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        import shutil

        shutil.rmtree(old, ignore_errors=True)
