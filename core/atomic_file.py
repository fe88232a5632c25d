"""Replace a file so that a reader (or a crash) sees the old file or the new one, never half.

    with atomic_write(path, "wb") as f:     # a temporary file beside `path`
        np.save(f, x)                       # on success it replaces `path`; on error it is removed
    write_json_atomic(path, obj)

Every file c3t rewrites in place (manifests, model configs and metrics, labels, caches, the
export record) goes through here.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator


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
