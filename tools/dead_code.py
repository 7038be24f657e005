"""The dead-code check of ``make test``: code in the product that nothing uses.

Vulture reads the product (core, ui, pages, app.py) together with the tests, the benchmarks,
the tools and a short whitelist of framework hooks (tools/vulture_whitelist.py), so a name
used only by a test is used. It reports only findings in the product: a test's pytest
fixtures look unused to vulture and are not dead. Exit status 1 when there is any.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("core/", "ui/", "pages/", "app.py")
READ = ["core", "ui", "pages", "app.py", "tests", "bench", "tools"]
MIN_CONFIDENCE = "60"


def findings() -> list[str]:
    """Vulture's findings in the product's files, one line each."""
    out = subprocess.run(
        [sys.executable, "-m", "vulture", *READ, "--min-confidence", MIN_CONFIDENCE,
         "--exclude", "*/.venv*,*/node_modules/*"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    ).stdout
    return [line for line in out.splitlines() if line.startswith(PRODUCT)]


def main() -> int:
    """Print the product's dead code; 1 when there is any."""
    dead = findings()
    for line in dead:
        print(line)
    if dead:
        print(f"{len(dead)} unused names in the product: remove them, or add a framework hook to "
              "tools/vulture_whitelist.py with who calls it.")
    return 1 if dead else 0


if __name__ == "__main__":
    sys.exit(main())
