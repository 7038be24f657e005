"""A few-shot result read in plain words: accuracy, helping and hurting examples, the best subset honestly.

Every function takes the result as a plain dict (``FewShotResult.to_dict()`` or a
stored one) and computes its sentences from the numbers, so an old saved run
reads with today's words; the probe stores :func:`summary` as its ``summary``.

The best subset is chosen on the run's queries; when the result has its
leave-one-query-out check (``core.probes.few_shot.subset``) the sentence gives the
accuracy of that choice on queries it was not chosen on, and says when the
subset holds examples that hurt on average (they interact with the others).
"""

from __future__ import annotations

import copy
from typing import Any

from core.present.charts import finite_or_none

POINT = 0.0005
"""An effect below half a tenth of a point (in probability) is no effect."""


def n_queries(result: dict[str, Any]) -> int:
    """How many queries the run scored."""
    return len(result.get("queries") or [])


def right(accuracy: Any, n: int) -> str:
    """An accuracy as a count of queries: "7 of 10" ("–" when missing)."""
    value = finite_or_none(accuracy)
    return "\u2013" if value is None else f"{round(value * n)} of {n}"


def with_all(n: int) -> str:
    """The prompt with every example, in words: "With its one example", "With both examples", "With all 5 examples"."""
    if n == 1:
        return "With its one example"
    if n == 2:
        return "With both examples"
    return f"With all {n} examples"


def all_examples(n: int) -> str:
    """A table row's name for the prompt with every example: "The one example", "Both examples", "All 5 examples"."""
    return {0: "No examples", 1: "The one example", 2: "Both examples"}.get(n, f"All {n} examples")


def numbers(indices: list[int]) -> str:
    """Example numbers in words: "examples 1, 2 and 4", "example 3" or "no examples"."""
    shown = [str(int(i) + 1) for i in indices]
    if not shown:
        return "no examples"
    if len(shown) == 1:
        return f"example {shown[0]}"
    return f"examples {', '.join(shown[:-1])} and {shown[-1]}"


def _snippet(text: Any, width: int = 30) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def _points(value: float) -> str:
    return f"{abs(value) * 100:.1f}"


def hurting(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The examples that lower the right label's probability on average (most harmful first)."""
    out = [e for e in result.get("examples") or [] if (finite_or_none(e.get("shapley")) or 0.0) <= -POINT]
    return sorted(out, key=lambda e: float(e["shapley"]))


def order_sentence(result: dict[str, Any]) -> str | None:
    """How the accuracy moves when the examples are shuffled, or None without order trials."""
    order = result.get("order_sensitivity") or {}
    trials = len(order.get("orders") or [])
    if not trials:
        return None
    n = n_queries(result)
    low, high = right(order.get("min"), n), right(order.get("max"), n)
    orders = "order" if trials == 1 else f"{trials} random orders"
    if low == high:
        return f"Over {orders} of the examples it gets {low} right every time."
    return f"Over {orders} of the examples it gets between {low} and {high} right."


def subset_sentence(result: dict[str, Any]) -> str:
    """The best subset, how it was chosen, and how the choice does on queries it did not see."""
    n = n_queries(result)
    acc = result.get("accuracy") or {}
    prob = finite_or_none((result.get("mean_prob") or {}).get("best_subset"))
    chosen = list(result.get("best_subset") or [])
    head = f"The best subset of examples ({numbers(chosen)}) gets {right(acc.get('best_subset'), n)} right"
    head += f" ({prob * 100:.1f}%)" if prob is not None else ""
    check = result.get("subset_check")
    if isinstance(check, dict) and finite_or_none(check.get("accuracy")) is not None:
        q = int(check.get("queries") or n)
        same = int(check.get("same") or 0)
        return (
            f"{head} on the {n} queries it was chosen on, which flatters it. Chosen without one query and "
            f"tried on that query, for each query in turn (cross-validated), the choice gets "
            f"{right(check['accuracy'], q)} right ({float(check['mean_prob']) * 100:.1f}%); "
            f"{same} of the {q} choices were this same subset."
        )
    return (
        f"{head}, on the same {n} queries it was chosen on: with few queries a subset can fit them by chance, "
        "so try it on other queries before relying on it."
    )


def interaction_sentence(result: dict[str, Any]) -> str | None:
    """Why the best subset holds examples that hurt on average (they interact), or None when it holds none."""
    chosen = {int(i) for i in result.get("best_subset") or []}
    inside = [e for e in hurting(result) if int(e.get("index", -1)) in chosen]
    if not inside:
        return None
    within = (result.get("subset_check") or {}).get("within") or {}
    parts = []
    for e in inside:
        effect = finite_or_none(within.get(str(int(e["index"]))))
        if effect is not None:
            verb = "raises" if effect >= 0 else "lowers"
            parts.append(f"inside this subset example {int(e['index']) + 1} {verb} it by {_points(effect)} points")
    detail = (" (" + "; ".join(parts) + ")") if parts else ""
    return (
        f"The best subset holds {numbers([int(e['index']) for e in inside])}, which lower the right label's "
        f"probability on average: an example's value averages its effect over every subset of the others, and "
        f"examples interact, so one that hurts in most company can help in this one{detail}."
        if len(inside) > 1
        else f"The best subset holds example {int(inside[0]['index']) + 1}, which lowers the right label's "
        "probability on average: an example's value averages its effect over every subset of the others, and "
        f"examples interact, so one that hurts in most company can help in this one{detail}."
    )


def summary(result: dict[str, Any]) -> str:
    """The findings in plain words, one paragraph (what the probe stores as its ``summary``)."""
    n = n_queries(result)
    acc = result.get("accuracy") or {}
    prob = result.get("mean_prob") or {}
    examples = result.get("examples") or []

    def pct(key: str) -> str:
        value = finite_or_none(prob.get(key))
        return "\u2013" if value is None else f"{value * 100:.1f}%"

    sentences = [
        f"{with_all(len(examples))} the model picks the right label for {right(acc.get('all'), n)} queries "
        f"(mean probability of the right label {pct('all')}); zero-shot it gets {right(acc.get('zero_shot'), n)} "
        f"({pct('zero_shot')})."
    ]
    hurt = hurting(result)
    for e in hurt:
        sentences.append(
            f"Example {int(e['index']) + 1} ('{_snippet(e.get('input', ''))}', labelled {e.get('label', '')}) "
            f"lowers the chance of the right label by {_points(float(e['shapley']))} points on average."
        )
    if not hurt:
        sentences.append("No example lowers the chance of the right label on average.")
    helpful = sorted(
        (e for e in examples if (finite_or_none(e.get("shapley")) or 0.0) >= POINT), key=lambda e: -float(e["shapley"])
    )
    if helpful:
        e = helpful[0]
        sentences.append(
            f"Example {int(e['index']) + 1} ('{_snippet(e.get('input', ''))}') helps most: "
            f"+{_points(float(e['shapley']))} points."
        )
    instruction = result.get("instruction")
    if isinstance(instruction, dict) and finite_or_none(instruction.get("shapley")) is not None:
        verb = "raises" if instruction["shapley"] >= 0 else "lowers"
        sentences.append(f"The instruction {verb} it by {_points(float(instruction['shapley']))} points.")
    sentences.append(subset_sentence(result))
    interaction = interaction_sentence(result)
    if interaction:
        sentences.append(interaction)
    order = order_sentence(result)
    if order:
        sentences.append(order)
    return " ".join(sentences)


def subset_spec(result: dict[str, Any]) -> dict[str, Any] | None:
    """The run's spec with only the best subset's examples (for "Use this subset"); None without a spec."""
    spec = result.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("examples"), list):
        return None
    doc = copy.deepcopy(spec)
    chosen = [int(i) for i in result.get("best_subset") or []]
    doc["examples"] = [doc["examples"][i] for i in chosen if 0 <= i < len(doc["examples"])]
    title = str(spec.get("title") or "few-shot run").strip()
    doc["title"] = f"{title}: best subset ({numbers(chosen)})"
    return doc
