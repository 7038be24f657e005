"""How far the examples' numbers move with the CPU kernels: the tolerance of tests/runs/test_examples_unchanged.py.

Runs every file in examples/ (``python -m core run``) in a fresh process under each
``ATEN_CPU_CAPABILITY`` (PyTorch's vectorised kernels) and ``MKL_CBWR`` (MKL's code path)
setting, and prints the largest relative and absolute movement of any number against the
references in tests/data/examples_before/. Usage: ``python tools/kernel_variation.py``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BEFORE = ROOT / "tests" / "data" / "examples_before"
NOT_COMPARED = {"meta", "spec", "format", "summary"}
CAPABILITIES = ("default", "avx2", "avx512")
MKL_PATHS = ("", "COMPATIBLE")
QUICK_FIRST = ("tutorial", "bias_gender_occupation", "few_shot_sentiment")  # each example under every setting


def numbers(before: Any, now: Any) -> list[tuple[float, float]]:
    """Pairs of numbers at the same place in two JSON documents."""
    if isinstance(before, dict) and isinstance(now, dict):
        return [p for k in before.keys() & now.keys() - NOT_COMPARED for p in numbers(before[k], now[k])]
    if isinstance(before, list) and isinstance(now, list):
        return [p for a, b in zip(before, now, strict=False) for p in numbers(a, b)]
    if isinstance(before, (int, float)) and isinstance(now, (int, float)) and not isinstance(before, bool):
        return [(float(before), float(now))]
    return []


def movement(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    """The largest relative movement (of numbers above 1e-3 in size) and the largest absolute one."""
    rel = max((abs(a - b) / abs(a) for a, b in pairs if abs(a) > 1e-3 and math.isfinite(a)), default=0.0)
    absolute = max((abs(a - b) for a, b in pairs if math.isfinite(a) and math.isfinite(b)), default=0.0)
    return rel, absolute


def main() -> None:
    """Print one line per kernel setting and example, then the largest movement of all."""
    worst = (0.0, 0.0)
    quick_first = [ROOT / "examples" / f"{name}.json" for name in QUICK_FIRST]
    for spec, (capability, mkl) in itertools.product(quick_first, itertools.product(CAPABILITIES, MKL_PATHS)):
        env = {**os.environ, "ATEN_CPU_CAPABILITY": capability}
        if mkl:
            env["MKL_CBWR"] = mkl
        out = subprocess.run(
            [sys.executable, "-m", "core", "run", str(spec)], cwd=ROOT, env=env,
            capture_output=True, text=True, check=True,
        ).stdout
        pairs = numbers(json.loads((BEFORE / spec.name).read_text()), json.loads(out))
        rel, absolute = movement(pairs)
        worst = (max(worst[0], rel), max(worst[1], absolute))
        print(f"ATEN_CPU_CAPABILITY={capability:8} MKL_CBWR={mkl or '(unset)':10} {spec.stem:24} "
              f"relative {rel:.2e}  absolute {absolute:.2e}  ({len(pairs)} numbers)", flush=True)
    print(f"largest movement: relative {worst[0]:.2e}, absolute {worst[1]:.2e}")


if __name__ == "__main__":
    main()
