"""Print the kill rate of the last ``mutmut run`` (``make mutation``) and its surviving mutants.

Kill rate = killed / all mutants (a mutant no test reaches counts as alive, not as excused).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def main() -> int:
    bin_dir = Path(sys.executable).parent
    subprocess.run([bin_dir / "mutmut", "export-cicd-stats"], check=True, capture_output=True)
    stats = json.loads(Path("mutants/mutmut-cicd-stats.json").read_text())
    killed, total = stats["killed"] + stats["timeout"], stats["total"]
    survivors = subprocess.run(
        [bin_dir / "mutmut", "results"], check=True, capture_output=True, text=True
    ).stdout
    print(survivors.rstrip())
    print(
        f"mutation kill rate: {killed}/{total} = {killed / total:.1%} "
        f"(survived {stats['survived']}, no tests {stats['no_tests']}, timeout {stats['timeout']})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
