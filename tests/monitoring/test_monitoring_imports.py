"""Import hygiene: the serving process never loads monitoring or Evidently, and the CLI
loads neither until ``report`` runs (Evidently alone takes seconds to import)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
import {module}
print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))
"""


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("serving.app", {"monitoring", "evidently"}),
        ("pipelines.cli", {"monitoring", "evidently"}),
    ],
)
def test_module_does_not_import_monitoring_stack(module: str, forbidden: set[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert loaded & forbidden == set()
