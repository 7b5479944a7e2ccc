"""Files that hold personal data (the SQLite database, raw messages, documents, import uploads)
are readable by the service's own user only: directories 0700, files 0600.

Modes are given when a file or directory is created (not through the process umask, which is
global and would also apply to files the operator asks for, such as exports). A directory that
already exists and is ours is tightened too, so an existing ``./var`` created with a 0755 umask
is closed the next time the service starts.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600


def _tighten(path: Path, mode: int) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & ~mode == 0:
        return  # not ours to change, or already private
    os.chmod(path, stat.S_IMODE(info.st_mode) & mode)
    log.warning("%s was readable by other users: now %o", path, stat.S_IMODE(info.st_mode) & mode)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as 0700; tighten it if it exists."""
    path = Path(path)
    missing = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            pass
        # mkdir's mode is filtered by the umask, which may only remove bits: set it exactly.
        os.chmod(directory, DIR_MODE)
    _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists as a 0600 file (created empty if missing), e.g. the SQLite
    database before SQLite creates it with the umask's mode (its journal and WAL files take
    the database file's mode). The directory must exist: a database on a volume that is not
    mounted must fail to open, not start empty."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    os.close(fd)
    _tighten(path, FILE_MODE)
    return path


def open_private(path: Path, *, exclusive: bool = False):
    """Open ``path`` for binary writing, created 0600 (truncated if it exists)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # an existing file keeps its mode through os.open
    return os.fdopen(fd, "wb")
