"""Atomic output for every room: a file or a whole directory appears complete or not at all.

A reader (or a crashed run) never sees half a file or half a report: the temp file or
directory lives beside the target (same filesystem, so the final rename is atomic) and is
removed on any failure, whatever the exception.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creditdesk.errors import InputError
from creditdesk.jsonsafe import json_safe

if TYPE_CHECKING:
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


def write_json_atomic(data: Mapping[str, Any], path: Path) -> Path:
    """``data`` as indented JSON (made JSON-safe first: NaN -> null), atomically."""
    text = json.dumps(json_safe(dict(data)), indent=2, sort_keys=True, allow_nan=False)
    return write_atomic(path, lambda tmp: tmp.write_text(text + "\n"))


@contextmanager
def atomic_dir(out_dir: Path, *, merge: bool = False, field: str = "out") -> Iterator[Path]:
    """Yield a private temp dir beside ``out_dir``; publish it only if the block succeeds.

    ``merge=False`` swaps the whole directory in (the old one is removed only after the
    swap); ``merge=True`` moves the new files into an existing ``out_dir`` one by one and
    leaves the files it did not write (for a user's ``--out`` that may hold other things).
    A directory that cannot be created there is bad input (``field`` names the option).
    """
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    except OSError as exc:
        raise InputError(f"--{field} {out_dir}: cannot write there ({exc.strerror})", field=field) from None
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; outputs are read by other jobs and users
        yield tmp
        if merge and out_dir.exists():
            for path in sorted(tmp.iterdir()):
                os.replace(path, out_dir / path.name)
            tmp.rmdir()
        else:
            _swap_in(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_in(tmp: Path, out_dir: Path) -> None:
    """Rename ``tmp`` onto ``out_dir``; an old ``out_dir`` is set aside first, removed after."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        out_dir.rename(old)
    try:
        tmp.rename(out_dir)
    except OSError:
        if old is not None:
            old.rename(out_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
