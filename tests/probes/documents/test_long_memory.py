"""A long document's ablations stay within the memory budget, and are not refused when they fit it.

The scorer plans each batch from an estimate of one row's memory. With SDPA attention (the bundled
model's) no score matrix is made, so a 1,550-token row needs about 145 MB, not the 284 MB that counting
every head's scores gave (which refused a 3,500-token document on the default 1,024 MB budget). The
ablations are scored in a child process whose peak memory is measured (``tests.memory_support``).

The peak is resident memory, which holds the allocator's slack too: alone it measured 240 MB, inside a
whole-suite run on a clean clone 273 MB, so the bound allows 10% over the budget (``SLACK``).
"""

from __future__ import annotations

from tests.memory_support import measure

BUDGET_MB = 260
SLACK = 1.10
SETUP = """
import torch
torch.set_num_threads(2)
from core.attribution.scorer import BatchedScorer
from core.models.loading import load_model
from core.models.sharing import work_limit
lm = load_model("default")
tok = lm.tokenizer
paragraphs = [" ".join(f"Row {p}.{i}: the mill by the river was rebuilt in year {1800 + 7 * p + i}." for i in range(6))
              for p in range(12)]
def ids(kept):
    text = "\\n\\n".join(paragraphs[p] for p in kept) + "\\n\\nWho rebuilt the mill?"
    return tok.encode(text, add_special_tokens=False)
answer = tok.encode(" The town.", add_special_tokens=False)
rows = [(ids(range(12)), answer)] + [(ids([p for p in range(12) if p != gone]), answer) for gone in (6,)]
scorer = BatchedScorer(lm, memory_budget_mb=BUDGET)
scorer.log_probs([([1, 2, 3], [4])])
"""


def test_a_1500_token_documents_ablations_fit_a_260_mb_budget() -> None:
    measured = measure(
        SETUP.replace("BUDGET", str(BUDGET_MB)),
        "with work_limit(10_000, 'fewer passes'):\n"
        "    found = scorer.log_probs(rows)\n"
        "assert len(rows[0][0]) > 1500, len(rows[0][0])\n"
        "assert all(len(f) == len(answer) for f in found)",
        ceiling_mb=2 * BUDGET_MB,
    )
    assert not measured.killed
    assert measured.message is None, measured.message  # not refused: one row fits the budget
    assert measured.above_resting <= SLACK * BUDGET_MB * 2**20, measured.above_resting / 2**20
