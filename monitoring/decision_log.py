"""The current set rebuilt from decision-journal payloads (``creditdesk report --since``).

Every decision the service makes is journalled with the exact feature row the model saw
(catalogue order), the decision record (``pd_12m``, ``grade``, ``lgd``, outcome, pricing)
and the request (``application_date``). Monitoring from the journal therefore compares
the reference with what production actually scored, not with a re-computation of it.

Pure: payload dicts in, a frame out; reading the journal table is the report job's I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from creditdesk.errors import InputError

RECORD_SCALARS = (str, int, float, bool, type(None))


def frame_from_payloads(
    payloads: Iterable[Mapping[str, Any]],
    feature_names: Sequence[str],
    catalogue_version: str | None = None,
) -> pd.DataFrame:
    """One row per decision: the logged features by catalogue name, the record's scalar
    fields, and ``application_date`` from the request.

    A payload whose feature row has a different length, or (when given) a different
    ``catalogue_version``, was made with another catalogue: its columns would be
    misnamed, so it is refused with the decision named rather than silently misread.
    """
    names = list(feature_names)
    rows: list[dict[str, Any]] = []
    for i, payload in enumerate(payloads):
        features = payload.get("features")
        where = f"decision {payload.get('decision_id', i)}"
        if not isinstance(features, list) or len(features) != len(names):
            raise InputError(
                f"{where}: logged feature row has {len(features) if isinstance(features, list) else 'no'} "
                f"values, the feature catalogue has {len(names)}",
                field="since",
            )
        version = payload.get("catalogue_version")
        if catalogue_version is not None and version is not None and version != catalogue_version:
            raise InputError(
                f"{where}: made with feature catalogue {version}, this build has {catalogue_version}; "
                "report on that period with the matching build",
                field="since",
            )
        row: dict[str, Any] = {
            name: (np.nan if value is None else float(value))
            for name, value in zip(names, features, strict=True)
        }
        record = payload.get("record", {})
        for key, value in record.items():
            if isinstance(value, RECORD_SCALARS) and key not in row:
                row[key] = value
        request = payload.get("request", {})
        row["application_date"] = request.get("application_date") or str(payload.get("decided_at", ""))[:10]
        rows.append(row)
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["application_date"] = pd.to_datetime(frame["application_date"], errors="coerce")
        for name in names:
            frame[name] = frame[name].astype(float)
    return frame
