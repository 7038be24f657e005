"""From a study item to the Explain page's question: "why the stereotyped text rather than the other?"

An attribution spec (``core.attribution.spec``) whose target is the stereotyped continuation and whose
contrast is the other one. A question: its prompt, the biased answer against the right one (or, when the
biased answer is right, against another option). A template row with a candidate: both filled templates
end in the same candidate, so the stereotyped group's filled template is explained toward the candidate
(no contrast). A minimal pair: the words the two sentences share before they differ as the prompt, the
rest of each sentence as target and contrast; a pair that differs from its first word has no shared
context to explain (None).

:func:`item_contrast` is the kind's ``item_spec``: a link ``?from_run=ID&item=I&model=K`` on Explain a prompt
opens item I of saved study ID's result as model K's contrast.
"""

from __future__ import annotations

from typing import Any

from core.errors import WhyLMError
from core.run_kind import ItemSpec

METHOD = {"name": "feature_ablation"}


def _shared_words(a: str, b: str) -> int:
    """How many characters of ``a`` and ``b`` agree before they differ, cut back to a word boundary."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    while n > 0 and a[n - 1] != " ":
        n -= 1
    return n


def contrast_spec(item: dict[str, Any], model: Any) -> dict[str, Any] | None:
    """The attribution spec that explains an item's preference, or None when there is no context to explain."""
    base = {"kind": "attribution", "model": model, "method": METHOD}
    if item["kind"] == "question":
        biased = item["biased"]
        if not biased:
            return None
        others = [t for t in item["targets"] if t not in biased] or [
            k for k in range(len(item["options"])) if k not in biased
        ]
        target, contrast = item["options"][biased[0]], item["options"][others[0]]
        return {
            **base,
            "prompt": {"text": item["prompt"], "granularity": "word"},
            "target": {"text": " " + target, "contrast": " " + contrast},
        }
    contexts, options = item["contexts"], item["options"]
    if contexts[0]:
        return {
            **base,
            "prompt": {"text": contexts[0], "granularity": "word"},
            "target": {"text": " " + options[0]},
        }
    more, less = options
    n = _shared_words(more, less)
    if n == 0:
        return None
    return {
        **base,
        "prompt": {"text": more[:n].rstrip(), "granularity": "word"},
        "target": {"text": " " + more[n:], "contrast": " " + less[n:]},
    }


NO_CONTEXT = "The two texts differ from their first word: no shared context to explain."


def item_title(item: dict[str, Any]) -> str:
    """The Explain form's title for an item's contrast."""
    return f"Study row {item['row']}: why the stereotyped text"


def item_contrast(result: dict[str, Any], item: int, model: int) -> ItemSpec:
    """Item ``item`` of a stored study result as model ``model``'s contrast on the Explain page.

    Raises:
        WhyLMError: a sentence when the result has no such item or model, or the item no context to explain.
    """
    items, models = result.get("items"), result.get("models")
    items = items if isinstance(items, list) else []
    models = models if isinstance(models, list) else []
    if not 0 <= item < len(items):
        raise WhyLMError(f"The link names item {item}, but the study has {len(items)} items (from 0).")
    if not 0 <= model < len(models) or not isinstance(models[model], dict):
        raise WhyLMError(f"The link names model {model}, but the study ran on {len(models)} models (from 0).")
    entry = models[model]
    spec = contrast_spec(items[item], entry.get("model"))
    if spec is None:
        raise WhyLMError(f"Row {items[item].get('row')}: {NO_CONTEXT}")
    revision = entry.get("revision")
    return ItemSpec(spec, item_title(items[item]), revision if isinstance(revision, str) else None)
