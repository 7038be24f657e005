"""The dashboard draws faithfulness, error bars and a comparison of methods (stored documents, no model)."""

from __future__ import annotations

import copy

import numpy as np

from core.attribution.faithfulness import MaskTable, faithfulness
from core.attribution.perturbation import all_masks
from tests.page_support import draw_stored
from tests.result_samples import COMPARE_RESULT


def _checked_result() -> dict:
    """An attribution result of two close features with standard errors and a faithfulness check."""
    result = copy.deepcopy(COMPARE_RESULT["results"][0])
    result["features"] = ["<script>x</script>", "lawyer"]
    result["seq_attr"] = [1.5, 1.45]
    result["token_attr"] = [[1.5, 1.45]]
    result["seq_stderr"] = [0.1, 0.1]
    result["token_stderr"] = [[0.1, 0.1]]
    every = all_masks(2)

    def value(masks: np.ndarray) -> np.ndarray:
        v = masks.astype(float) @ np.array([1.5, 1.45]) - 5.0
        return np.stack([v, v], axis=1)

    result["faithfulness"] = faithfulness(MaskTable(value, (every, value(every))), np.array([1.5, 1.45]),
                                          np.array([[1.5, 1.45]]), seed=0)
    return result


def test_the_result_view_draws_curves_error_bars_and_the_noise_sentence(tmp_path) -> None:
    at = draw_stored("ui.explain.view", "show_result", _checked_result(), tmp_path)
    warnings = [w.value for w in at.warning]
    assert any("standard errors" in w and "\\<script\\>" in w for w in warnings)  # escaped, not HTML
    texts = " ".join(m.value for m in at.markdown)
    assert "How faithful is this picture?" in texts and "random" in texts
    assert len(at.get("vega_lite_chart")) >= 3  # bars, heatmap, faithfulness curves


def test_an_older_result_without_checks_still_draws(tmp_path) -> None:
    old = COMPARE_RESULT["results"][1]
    at = draw_stored("ui.explain.view", "show_result", old, tmp_path)
    assert "How faithful is this picture?" not in " ".join(m.value for m in at.markdown)


def test_the_compare_view_names_the_most_faithful_method(tmp_path) -> None:
    at = draw_stored("ui.explain.compare_view", "show_compare_result", COMPARE_RESULT, tmp_path)
    assert "most faithfully" in at.info[0].value
    table = at.dataframe[0].value
    assert list(table["Method"]) == ["feature_ablation", "shapley"]
    assert list(table["Forward passes (alone)"]) == [4, 4]
