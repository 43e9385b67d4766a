"""Atomic file output for every job: write beside the target, then rename.

A reader (or a crashed run) never sees half a file: the temp file lives in the target's
directory (same filesystem, so ``os.replace`` is atomic) and is removed on any failure.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd


def write_atomic(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temp file beside ``path``, then move it onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        tmp.chmod(0o644)  # mkstemp makes it private; outputs are read by other jobs and users
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> Path:
    """``frame.to_parquet(path)`` (no index), atomically."""
    return write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))
