"""Where a raw inbound message's bytes live.

On PostgreSQL they are a column like everything else. On SQLite (the embedded, one-machine
setup) a large message is written to a file under ``<data dir>/inbound/`` (fsynced before the
row that points to it is committed): SQLite has a single writer, and holding its lock while
20 MB go into the database would make every other message wait.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mailflow.config import Settings
from mailflow.models import InboundMessage
from mailflow.private_files import open_private, private_dir

SPILL_OVER_BYTES = 256 * 1024


def spills(settings: Settings, size: int) -> bool:
    return settings.sqlalchemy_url.startswith("sqlite") and size > SPILL_OVER_BYTES


def write(settings: Settings, raw: bytes) -> str:
    """Store ``raw`` durably; returns its path relative to the data directory."""
    digest = hashlib.sha256(raw).hexdigest()
    relative = Path("inbound") / digest[:2] / f"{digest}.eml"
    path = settings.data_path / relative
    if not path.exists():
        private_dir(path.parent)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with open_private(tmp) as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    return str(relative)


def read(settings: Settings, row: InboundMessage) -> bytes | None:
    if row.raw is not None:
        return row.raw
    if row.raw_path:
        try:
            return (settings.data_path / row.raw_path).read_bytes()
        except OSError:
            return None
    return None
