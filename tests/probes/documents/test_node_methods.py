"""The node methods' table: each method scores what its cost says, ``auto`` picks by what the allowance pays
for, and a method added as one row of the table runs."""

from __future__ import annotations

import numpy as np
import pytest

from core.probes.documents import node_methods
from core.probes.documents.node_methods import (
    METHODS,
    NODE_METHODS,
    NodeMethod,
    NodeValues,
    cost,
    node_values,
)
from core.probes.documents.settings import METHOD


def counting_game(c: int, seed: int = 0):
    """A game with a random value per coalition that records every coalition it is asked for."""
    table = np.random.default_rng(seed).normal(size=2**c)
    asked: list[bytes] = []

    def game(masks: np.ndarray) -> np.ndarray:
        asked.extend(m.tobytes() for m in masks)
        return table[masks.astype(np.int64) @ (1 << np.arange(c))]

    return game, asked


@pytest.mark.parametrize("name", list(METHODS))
@pytest.mark.parametrize("c, allowance", [(3, 8), (5, 20), (6, 40)])
def test_each_method_scores_what_its_cost_says(name: str, c: int, allowance: int) -> None:
    game, asked = counting_game(c)
    found = node_values(game, c, name, allowance, np.random.default_rng(1))
    assert len(found.values) == c
    assert len(asked) == len(set(asked)) <= cost(name, c, allowance)


@pytest.mark.parametrize(
    "c, allowance, expected",
    [(3, 8, "shapley"), (5, 20, "kernel_shap"), (5, 12, "kernel_shap"), (5, 11, "leave_one_out"), (5, 8, "leave_one_out"), (5, 4, "context_cite"),
     (13, 10**6, "kernel_shap")],
)
def test_auto_takes_the_first_method_the_allowance_pays_for(c: int, allowance: int, expected: str) -> None:
    assert node_methods.resolved("auto", c, allowance).name == expected


def test_the_form_lists_the_table() -> None:
    assert NODE_METHODS == ("auto", *METHODS)
    assert METHOD.choices == NODE_METHODS and METHOD.choice_labels[1:] == tuple(m.label for m in METHODS.values())


def test_a_method_is_one_row(monkeypatch: pytest.MonkeyPatch) -> None:
    def halves(game, c: int, _allowance: int, _rng: np.random.Generator) -> NodeValues:  # noqa: ANN001
        full = game(np.ones((1, c), bool))[0]
        return NodeValues(np.full(c, full / c), None, "halves")

    toy = NodeMethod("halves", "Equal shares", halves, cost=lambda _c, _a: 1, fits=lambda _c, _a: True, auto_rank=-1)
    monkeypatch.setitem(METHODS, "halves", toy)
    game, asked = counting_game(4)
    assert node_values(game, 4, "halves", 10, np.random.default_rng(0)).method == "halves"
    assert node_values(game, 4, "auto", 10, np.random.default_rng(0)).method == "halves"  # its rank comes first
    assert cost("halves", 4, 10) == 1 and len(asked) == 2
