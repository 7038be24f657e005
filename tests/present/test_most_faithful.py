"""Issue 22, point 5: the "most faithful" sentence ranks by gain over random and never names a method worse than random."""

from __future__ import annotations

import copy

from core.attribution.comparison import most_faithful
from core.present.method_comparison import faithful_sentence
from tests.page_support import draw_stored
from tests.result_samples import COMPARE_RESULT


def _row(method: str, aopc_del: float, aopc_ins: float, gain_del: float, gain_ins: float) -> dict:
    return {"method": method, "aopc_deletion": aopc_del, "aopc_insertion": aopc_ins,
            "gain_deletion": gain_del, "gain_insertion": gain_ins}


# The case: input_x_gradient has the largest areas but is worse than random on deletion.
ROWS = [
    _row("input_x_gradient", 9.0, 9.0, -1.39, 0.5),
    _row("feature_ablation", 5.0, 4.0, 4.6, 1.0),
    _row("shapley", 5.0, 4.2, 4.6, 1.2),
]


def test_the_sentence_ranks_by_gain_and_warns_about_a_method_worse_than_random() -> None:
    words = most_faithful(ROWS)
    assert words.startswith("On this prompt shapley explains the model most faithfully: it beats random orders by "
                            "4.6 on deletion and 1.2 on insertion")
    assert "Next: feature_ablation." in words
    assert words.endswith("input_x_gradient does worse than random orders on deletion or insertion; "
                          "do not rely on it here.")


def test_when_no_method_beats_random_the_sentence_says_so() -> None:
    rows = [_row("saliency", 3.0, 3.0, -0.2, 0.4), _row("lime", 1.0, 1.0, 0.1, -0.3)]
    words = most_faithful(rows)
    assert words.startswith("No method beats random orders on this prompt: saliency and lime do no better")
    assert "most faithfully" not in words


def test_the_compare_view_recomputes_the_sentence_from_the_stored_numbers(tmp_path) -> None:
    result = copy.deepcopy(COMPARE_RESULT)
    result["rows"][0].update(gain_deletion=0.5, gain_insertion=0.4)
    result["rows"][1].update(gain_deletion=-0.2, gain_insertion=0.6)  # shapley: worse than random on deletion
    result["sentence"] = "On this prompt shapley explains the model most faithfully."  # as an old run stored it
    assert faithful_sentence(result).startswith("On this prompt feature_ablation explains the model most faithfully")
    at = draw_stored("ui.explain.compare_view", "show_compare_result", result, tmp_path)
    info = at.info[0].value.replace("\\", "")
    assert info.startswith("On this prompt feature_ablation explains")
    assert "shapley does worse than random" in info
    assert faithful_sentence(COMPARE_RESULT) == COMPARE_RESULT["sentence"]  # no gains stored: kept as saved
