"""One check for a parquet file a user hands to the CLI, before any work starts.

A truncated or foreign file used to surface as a pyarrow traceback from deep inside the
generator or the scorer. Reading the footer (schema only, cheap) at the edge turns it into
the bad-input contract: ``InputError`` naming the option, hence exit 2 and one line.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def check_parquet(path: Path, field: str, columns: Iterable[str] = ()) -> None:
    """Raise ``InputError`` unless ``path`` is a readable parquet file holding ``columns``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from creditdesk.errors import InputError

    if not path.is_file():
        raise InputError(f"{path}: file not found", field=field)
    try:
        names = set(pq.read_schema(path).names)
    except (pa.ArrowException, OSError) as exc:
        reason = " ".join(str(exc).split())[:160]
        raise InputError(f"{path} is not a readable parquet file ({reason})", field=field) from None
    missing = sorted(set(columns) - names)
    if missing:
        raise InputError(f"{path} lacks the columns {', '.join(missing)}", field=field)
