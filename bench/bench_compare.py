"""The compare-methods table for the tutorial prompt (bench/compare_tutorial.json), as text.

Run:  OMP_NUM_THREADS=1 .venv/bin/python bench/bench_compare.py [spec.json]

Prints the table the dashboard shows (method, seconds, forward passes shared and
alone, deletion/insertion AOPC with their ratio to random orders, rank agreement
with exact Shapley), the forward passes of the shared run beside the methods run
one by one, and the sentence naming the most faithful method.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.engine import run  # noqa: E402
from core.present.method_comparison import methods_table, passes_sentence  # noqa: E402


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "compare_tutorial.json"
    result = run(json.loads(path.read_text())).to_dict()
    table = methods_table(result)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print()
    print(passes_sentence(result))
    print(result["sentence"])


if __name__ == "__main__":
    main()
