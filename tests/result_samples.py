"""Stored-result documents of the probes, made by hand for chart and view tests (no model needed)."""

from __future__ import annotations

import numpy as np


def _entry(text: str, rank: int, gap: float | None, ci: list, attr: list | None = None) -> dict:
    """One candidate entry shaped like core.probes.bias.run output; per-group stats derived from the gap."""
    return {
        "text": text,
        "index": rank - 1,
        "rank": rank,
        "groups": {
            "female": {
                "n": 2,
                "mean": -5.0,
                "ci": [-5.5, -4.5],
                "sd": 0.3,
                "prob": 0.4,
                "prob_ci": [0.3, 0.5],
            },
            "male": {
                "n": 2,
                "mean": -5.0 - (gap or 0.0),
                "ci": [-6.0, -5.0],
                "sd": 0.2,
                "prob": 0.2,
                "prob_ci": [0.1, 0.3],
            },
        },
        "gap": gap,
        "gap_ci": ci,
        "p_value": 0.01 * rank,
        "p_holm": 0.03 * rank,
        "effect_size": 1.5 / rank,
        "prob_ratio": 2.0 / rank,
        "prob_ratio_ci": [1.0 / rank, 3.0 / rank],
        "prob_ratio_p": 0.02,
        "log_probs": [-4.0 - rank, -4.5 - rank, -6.0, -6.5],
        "renorm_probs": [0.5, 0.4, 0.2, 0.1],
        "attribution": {"gap": attr} if attr is not None else None,
    }


BIAS_RESULT = {
    "kind": "bias",
    "spec": {
        "template": "{name} works. {pronoun} is a",
        "sweep": {"slots": ["name", "pronoun"]},
        "level": 0.9,
    },
    "groups": [{"name": "female", "n_values": 2}, {"name": "male", "n_values": 2}],
    "compare": ["female", "male"],
    "score": "log_prob",
    "prompts": [
        {
            "group": "female",
            "unit": 0,
            "values": {"name": "Mary", "pronoun": "She"},
            "text": "Mary works. She is a",
        },
        {
            "group": "female",
            "unit": 1,
            "values": {"name": "Ann", "pronoun": "She"},
            "text": "Ann works. She is a",
        },
        {
            "group": "male",
            "unit": 2,
            "values": {"name": "John", "pronoun": "He"},
            "text": "John works. He is a",
        },
        {
            "group": "male",
            "unit": 3,
            "values": {"name": "Tom", "pronoun": "He"},
            "text": "Tom works. He is a",
        },
    ],
    "candidates": [
        _entry(" nurse", 1, 2.0, [1.5, 2.5], [0.4, 1.6]),
        _entry(" mechanic", 2, -1.2, [-1.9, -0.4], [-0.2, -1.0]),
        _entry(" baker", 3, 0.1, [-0.3, 0.5], [0.05, 0.05]),
        _entry(" void", 4, None, [None, None], None),
    ],
    "attribution": {"method": "feature_ablation", "features": ["name", "pronoun"], "prompts": [0, 2]},
    "summary": ["Two female and two male names were scored."],
    "meta": {
        "model_name": "hand-made",
        "n_prompts": 4,
        "n_candidates": 4,
        "forward_passes": 16,
        "seconds": 1.0,
    },
}


def _few_shot_example(index: int, text: str, label: str, per_query: list[float]) -> dict:
    values = np.array(per_query)
    return {
        "index": index,
        "input": text,
        "label": label,
        "shapley": float(values.mean()),
        "std": float(values.std()),
        "per_query": per_query,
        "shapley_log_prob": float(values.mean()) * 3,
        "prob_without": 0.5 + index / 10,
        "accuracy_without": 0.5,
    }


FEW_SHOT_RESULT = {
    "kind": "few_shot",
    "spec": {
        "kind": "few_shot",
        "instruction": "Classify the review.",
        "examples": [
            {"input": "A warm and funny film.", "label": "positive"},
            {"input": "Dull, slow and far too long.", "label": "negative"},
            {"input": "I loved every <b>minute</b> of it.", "label": "negative"},
        ],
        "example_format": "Review: {input}\nSentiment: {label}\n\n",
        "query_format": "Review: {input}\nSentiment:",
        "queries": [
            {"input": "A wonderful surprise.", "label": "positive"},
            {"input": "The worst film of the year.", "label": "negative"},
        ],
        "labels": ["positive", "negative"],
        "n_samples": 25,
    },
    "labels": ["positive", "negative"],
    "examples": [
        _few_shot_example(0, "A warm and funny film.", "positive", [0.20, 0.10]),
        _few_shot_example(1, "Dull, slow and far too long.", "negative", [0.02, 0.06]),
        _few_shot_example(2, "I loved every <b>minute</b> of it.", "negative", [-0.30, 0.10]),
    ],
    "instruction": None,
    "queries": [
        {
            "index": 0,
            "input": "A wonderful surprise.",
            "label": "positive",
            "prob_zero_shot": 0.6,
            "predicted_zero_shot": "positive",
            "prob_all": 0.7,
            "predicted_all": "positive",
            "predicted_best_subset": "positive",
        },
        {
            "index": 1,
            "input": "The worst film of the year.",
            "label": "negative",
            "prob_zero_shot": 0.3,
            "predicted_zero_shot": "positive",
            "prob_all": 0.55,
            "predicted_all": "negative",
            "predicted_best_subset": "negative",
        },
    ],
    "accuracy": {"zero_shot": 0.5, "all": 1.0, "best_subset": 1.0, "leave_one_out": [0.5, 1.0, 1.0]},
    "mean_prob": {"zero_shot": 0.45, "all": 0.625, "best_subset": 0.8, "leave_one_out": [0.4, 0.6, 0.7]},
    "mean_log_prob": {},
    "best_subset": [0, 1],
    "order_sensitivity": {
        "orders": [[0, 1, 2], [2, 1, 0], [1, 0, 2]],
        "accuracy": [1.0, 0.5, 1.0],
        "mean_prob": [0.6, 0.4, 0.7],
        "mean": 2.5 / 3,
        "min": 0.5,
        "max": 1.0,
    },
    "summary": "With all 3 examples ...",
    "notes": [],
    "meta": {"method": "exact_shapley", "n_features": 3},
}


def _attribution(method: str, seq: list[float]) -> dict:
    """An attribution result document (one output token) for the compare sample."""
    return {
        "kind": "attribution",
        "spec": {"method": {"name": method}, "score": "log_prob"},
        "features": ["Dave", "lawyer"],
        "output_tokens": [" golf"],
        "seq_attr": seq,
        "token_attr": [seq],
        "score_all": -3.0,
        "score_none": -5.0,
        "token_score_all": [-3.0],
        "token_score_none": [-5.0],
        "prompt_tokens": ["Dave", " is", " a", " lawyer"],
        "feature_tokens": [[0], [3]],
        "target": {"text": " golf", "ids": [1], "contrast": None, "contrast_ids": None, "generated": False},
    }


COMPARE_RESULT = {
    "kind": "compare",
    "spec": {"kind": "compare", "methods": [{"name": "feature_ablation"}, {"name": "shapley"}]},
    "features": ["Dave", "lawyer"],
    "output_tokens": [" golf"],
    "target": {"text": " golf", "ids": [1], "contrast": None, "contrast_ids": None, "generated": False},
    "rows": [
        {"method": "feature_ablation", "name": "feature_ablation", "seconds": 0.2, "forward_passes": 4,
         "alone_passes": 4, "aopc_deletion": 1.2, "aopc_insertion": 0.9, "ratio_deletion": 1.5,
         "ratio_insertion": 1.4, "spearman": 1.0, "kendall": 1.0},
        {"method": "shapley", "name": "shapley", "seconds": 0.1, "forward_passes": 0, "alone_passes": 4,
         "aopc_deletion": 1.3, "aopc_insertion": 1.0, "ratio_deletion": 1.6, "ratio_insertion": 1.5,
         "spearman": 1.0, "kendall": 1.0},
    ],
    "results": [_attribution("feature_ablation", [1.5, 0.4]), _attribution("shapley", [1.4, 0.6])],
    "forward_passes_shared": 4,
    "forward_passes_alone": 8,
    "sentence": "On this prompt shapley explains the model most faithfully.",
    "meta": {"method": "compare", "n_features": 2},
}
"""A comparison of two methods on one prompt, made by hand (kinds newer than the old database use it)."""
