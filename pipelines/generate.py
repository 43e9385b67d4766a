"""Publish a synthetic population: parquet tables + manifest, all or nothing.

``features.synthetic`` makes the tables (pure, chunk by chunk); this job writes them into
a private temp dir beside ``out_dir`` and moves them in only when complete, so an
interrupted or failed run never leaves half a population behind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from creditdesk.atomic import atomic_dir
from creditdesk.errors import InputError
from features.prices import PricePanel, load_price_panel
from features.synthetic import (
    CHUNK_SIZE,
    OUTPUT_TABLES,
    PopulationConfig,
    arrow_schema,
    chunk_count,
    instruments_table,
    population_chunks,
    prices_table,
    to_arrow,
    used_prices,
    validate_request,
)


def generate_population(
    n_customers: int,
    seed: int,
    out_dir: Path,
    *,
    config: PopulationConfig | None = None,
    prices_path: Path | None = None,
    panel: PricePanel | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, object]:
    """Write the population's parquet tables into ``out_dir`` and return its manifest."""
    validate_request(n_customers, seed)
    config = config or PopulationConfig()
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    with atomic_dir(out_dir, merge=True) as tmp:
        if panel is None:
            panel = load_price_panel(prices_path, start="2001-01-01")
        counts = _write_customer_tables(tmp, n_customers, seed, panel, config, on_progress)
        pq.write_table(to_arrow(instruments_table(panel, config), "instruments"), tmp / "instruments.parquet")
        used = used_prices(panel, config)
        pq.write_table(to_arrow(prices_table(used), "prices"), tmp / "prices.parquet")
        counts["instruments"] = len(panel.tickers)
        counts["prices"] = used.close.size
        manifest = _manifest(tmp, n_customers, seed, panel, config, counts)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _write_customer_tables(
    tmp: Path,
    n_customers: int,
    seed: int,
    panel: PricePanel,
    config: PopulationConfig,
    on_progress: Callable[[int, int], None] | None,
) -> dict[str, int]:
    """Append each chunk's tables to one parquet file per table; return the row counts."""
    writers = {t: pq.ParquetWriter(tmp / f"{t}.parquet", arrow_schema(t)) for t in OUTPUT_TABLES}
    counts = dict.fromkeys(OUTPUT_TABLES, 0)
    n_chunks = chunk_count(n_customers)
    try:
        for done, frames in enumerate(population_chunks(n_customers, seed, panel, config), start=1):
            for name, frame in frames.items():
                writers[name].write_table(to_arrow(frame, name))
                counts[name] += len(frame)
            if on_progress is not None:
                on_progress(done, n_chunks)
    finally:
        for writer in writers.values():
            writer.close()
    return counts


def _manifest(
    tmp: Path,
    n_customers: int,
    seed: int,
    panel: PricePanel,
    config: PopulationConfig,
    counts: dict[str, int],
) -> dict[str, object]:
    files = sorted(p.name for p in tmp.glob("*.parquet"))
    return {
        "generator": "creditdesk.features.synthetic",
        "customers": n_customers,
        "seed": seed,
        "chunk_size": CHUNK_SIZE,
        "price_source": panel.source,
        "config": asdict(config),
        "rows": counts,
        "sha256": {name: _sha256(tmp / name) for name in files},
    }


def _check_out_dir(out_dir: Path) -> None:
    """Refuse an ``--out`` under a file or naming a file, before any work."""
    blocker = next((p for p in (out_dir.parent, *out_dir.parent.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise InputError(f"--out {out_dir}: {blocker} is a file, not a directory")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir}: exists and is not a directory")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_population(directory: Path) -> dict[str, pd.DataFrame]:
    """Read every table a population directory holds (a convenience for tests and jobs)."""
    directory = Path(directory)
    tables = {}
    for name in (*OUTPUT_TABLES, "instruments", "prices"):
        path = directory / f"{name}.parquet"
        if path.exists():
            tables[name] = pd.read_parquet(path)
    if not tables:
        raise InputError(f"{directory}: no population tables found")
    return tables
