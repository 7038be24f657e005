"""From a study item to the Explain page's question: "why the stereotyped text rather than the other?"

An attribution spec (``core.attribution.spec``) whose target is the stereotyped continuation and whose
contrast is the other one. A question: its prompt, the biased answer against the right one (or, when the
biased answer is right, against another option). A template row with a candidate: both filled templates
end in the same candidate, so the stereotyped group's filled template is explained toward the candidate
(no contrast). A minimal pair: the words the two sentences share before they differ as the prompt, the
rest of each sentence as target and contrast; a pair that differs from its first word has no shared
context to explain (None).
"""

from __future__ import annotations

from typing import Any

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
