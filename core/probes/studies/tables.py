"""A study's tables as people read them: per category side by side, the model comparisons and the regressions."""

from __future__ import annotations

from typing import Any

import pandas as pd

from core.probes.studies.reading import verdict


def _pct(x: Any) -> str:
    return "" if x is None else f"{x:.0%}"


def _num(x: Any) -> str:
    return "" if x is None else f"{x:+.3f}" if x < 0 or x > 0 else "0.000"


def _ci(ci: Any, pct: bool = True) -> str:
    if not ci or ci[0] is None:
        return ""
    return f"{ci[0]:.0%} to {ci[1]:.0%}" if pct else f"{ci[0]:.2f} to {ci[1]:.2f}"


def _with_ci(value: str, ci: Any, pct: bool = True) -> str:
    """A value with its interval in one cell ("57% (42% to 72%)"): one column fewer, so that a table of two
    models keeps its verdict in view at 1000 px."""
    interval = _ci(ci, pct)
    return f"{value} ({interval})" if value and interval else value


def _breakable(label: str) -> str:
    """A category as a table cell: a line may break after each underscore (BBQ's "Physical_appearance" and
    "Race_x_gender" would otherwise hold their column wide enough to push the verdict out of view at 1000 px)."""
    return str(label).replace("_", "_\u200b")


def _p(p: Any) -> str:
    return "" if p is None else "< 0.001" if p < 0.001 else f"{p:.3f}"


def short_names(result: dict[str, Any]) -> list[str]:
    """The models' names for column heads: "A: name", "B: name", ..."""
    return [f"{chr(65 + k)}: {m['name']}" for k, m in enumerate(result["models"])]


def models_line(result: dict[str, Any]) -> str:
    """The models' letters in words, for a table's caption ("Models: A: name; B: name"); "" with one model."""
    names = short_names(result)
    return "Models: " + "; ".join(names) + "." if len(names) > 1 else ""


def category_table(result: dict[str, Any]) -> pd.DataFrame:
    """Per category (then all items) and model: the metric with its interval, the test and the verdict.

    The model is named by its letter (``models_line`` says which is which); with one model there is no model
    column: a long model name repeated on every row squeezed the verdict out of view at 1000 px. For the same
    reason a metric carries its interval in its cell, the p-value its Holm-corrected one, and a question's
    two accuracies share a cell.
    """
    level = result["spec"].get("level", 0.95)
    rows = []
    questions = result["item_type"] == "questions"
    several = len(result["models"]) > 1
    for k in range(len(result["models"])):
        for row in result["tables"][k]:
            entry: dict[str, Any] = {"category": _breakable(row["category"])}
            if several:
                entry["model"] = chr(65 + k)
            entry["items"] = row["n"]
            if questions:
                entry["accuracy amb / disamb"] = f"{_pct(row['accuracy_amb'])} / {_pct(row['accuracy_disamb'])}"
                entry["bias score amb"] = _with_ci(_num(row["amb_bias_score"]), row["amb_bias_ci"], False)
                entry["bias score disamb"] = _with_ci(
                    _num(row["disamb_bias_score"]), row["disamb_bias_ci"], False
                )
            else:
                entry["stereotyped preferred (interval)"] = _with_ci(_pct(row["pct_stereotype"]), row["pct_ci"])
                entry["likelihood diff"] = (
                    "" if row["likelihood_diff"] is None else f"{row['likelihood_diff']:.3f}"
                )
            entry["p vs 50% (Holm)"] = f"{_p(row['p_value'])} ({_p(row['p_holm'])})" if row["p_value"] is not None else ""
            entry["verdict"] = verdict(row, level)
            rows.append(entry)
    frame = pd.DataFrame(rows)
    order = {c: i for i, c in enumerate(dict.fromkeys(frame["category"]))} if len(frame) else {}
    if len(frame):
        frame = frame.sort_values("category", key=lambda s: s.map(order), kind="stable").reset_index(
            drop=True
        )
    return frame


def comparison_table(result: dict[str, Any]) -> pd.DataFrame:
    """Each model against the first, per category: flips each way, McNemar, the paired change with its interval.

    The models are named by their letters ("B vs A"; ``models_line`` says which is which), and only when there
    are several comparisons: the full names on every row made each row a dozen lines tall at 1000 px.
    """
    several = len(result["comparisons"]) > 1
    rows = []
    for comparison in result["comparisons"]:
        for row in comparison["categories"]:
            entry: dict[str, Any] = {"category": _breakable(row["category"])}
            if several:
                entry["models"] = f"{chr(65 + comparison['model'])} vs A"
            entry.update(
                {
                    "became stereotyped": row["became_biased"],
                    "became unstereotyped": row["became_unbiased"],
                    "McNemar p": _p(row["mcnemar_p"]),
                    "mean margin change (interval)": _with_ci(
                        _num(row["margin_change"]), row["margin_change_ci"], False
                    ),
                }
            )
            if "pct_change" in row:
                entry["change in stereotyped share (interval)"] = _with_ci(
                    _num(row["pct_change"]), row["pct_change_ci"], False
                )
            else:
                entry["change in accuracy"] = _num(row["accuracy_change"])
            rows.append(entry)
    return pd.DataFrame(rows)


def item_words(item: dict[str, Any]) -> tuple[str, str]:
    """(the stereotyped text, the other) of an item, as a reader compares them."""
    if item["kind"] == "pair":
        more, less = (f"{c} {o}".strip() if c else o for c, o in zip(item["contexts"], item["options"]))
        return more, less
    biased = [item["options"][b] for b in item["biased"]]
    right = [item["options"][t] for t in item["targets"]]
    return (biased[0] if biased else ""), (right[0] if right else "")


def regressions_table(result: dict[str, Any], comparison: dict[str, Any], top: int = 50) -> pd.DataFrame:
    """One comparison's regressions, largest first: the row, category, texts and how much the margin grew."""
    rows = []
    for entry in comparison["regressions"][:top]:
        item = result["items"][entry["item"]]
        more, less = item_words(item)
        rows.append(
            {
                "row": entry["row"],
                "category": _breakable(entry["category"]),
                "stereotyped / biased": more,
                "other / right": less,
                "margin grew by": f"{entry['increase']:.3f}",
                "flipped": "yes" if entry["flip"] else "",
            }
        )
    return pd.DataFrame(rows)


def items_table(result: dict[str, Any]) -> pd.DataFrame:
    """Every item with each model's outcome: the export's main table (one row per item)."""
    names = short_names(result)
    rows = []
    for i, item in enumerate(result["items"]):
        more, less = item_words(item)
        entry: dict[str, Any] = {
            "row": item["row"],
            "category": item["category"],
            "stereotyped": more,
            "other": less,
        }
        for k, name in enumerate(names):
            sums = result["scores"][k]["sums"][i]
            entry[f"{name} log-likelihoods"] = " ".join(f"{s:.4f}" for s in sums)
        rows.append(entry)
    return pd.DataFrame(rows)
